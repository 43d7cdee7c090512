"""Running a model over a data loader: eval mode, devices, seeds, labels, classes, relevance."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from reldrop3d.data.batching import describe

#: A relevance method name of :func:`reldrop3d.relevance.point_relevance`, or a
#: callable ``(model, batch) -> relevance [P]``.
Relevance = str | Callable[[nn.Module, object], Tensor]


def resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """``device``, else the device of the model's first parameter or buffer, else the CPU."""
    if device is not None:
        return torch.device(device)
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def labels_of(batch) -> Tensor:
    """Class label per cloud ``[num_graphs]`` (``batch.y`` flattened)."""
    y = getattr(batch, "y", None)
    if not isinstance(y, Tensor):
        raise ValueError("every batch must carry class labels y [num_graphs], got none")
    return y.view(-1).long()


def base_seed(seed: int | None, generator: torch.Generator | None) -> int:
    """``seed`` (``None``: 0); with a ``generator`` instead, one seed drawn from it."""
    if generator is None:
        return 0 if seed is None else seed
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))


def seeded(seed: int, device: torch.device, *keys: object) -> torch.Generator:
    """A generator on ``device`` seeded from ``(seed, *keys)``, the same in every process and
    run: 63 bits of the CRC-32s of the keys' text and of its reverse."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    text = "/".join(str(k) for k in (seed, *keys)).encode()
    value = (zlib.crc32(text) << 31 | zlib.crc32(text[::-1])) & ((1 << 63) - 1)
    return torch.Generator(device=device).manual_seed(value)


def explained_batches(
    model: nn.Module, loader: Iterable, target: str | None, seed: int, device: torch.device, key
) -> Iterator[tuple[object, Tensor, Tensor, torch.Generator]]:
    """``(batch, label [B], goal [B], generator)`` for each batch of ``loader``, on ``device``.

    ``goal`` is the class to explain: the label (``target=None``) or the predicted
    class (``"pred"``); ``generator`` is :func:`seeded` from ``(seed, key, index)``.
    """
    if target not in (None, "pred"):
        raise ValueError(f"target must be None (the label) or 'pred', got {target!r}")
    for index, batch in enumerate(loader):
        batch = batch.to(device)
        label = goal = labels_of(batch)
        if target == "pred":
            with torch.no_grad():
                goal = model(batch).argmax(dim=-1)
        yield batch, label, goal, seeded(seed, device, key, index)


def class_names(loader: Iterable, num_classes: int) -> list[str]:
    """``loader.dataset.classes`` when it has ``num_classes`` names, else ``"0", "1", ...``."""
    names = getattr(getattr(loader, "dataset", None), "classes", None)
    if names is not None and len(names) == num_classes:
        return [str(n) for n in names]
    return [str(i) for i in range(num_classes)]


def num_classes_of(model: nn.Module, loader: Iterable, num_classes: int | None) -> int | None:
    """``num_classes``, else the model's or the dataset's ``num_classes`` (``None`` if neither)."""
    if num_classes is not None:
        return int(num_classes)
    for owner in (model, getattr(loader, "dataset", None)):
        value = getattr(owner, "num_classes", None)
        if isinstance(value, int):
            return value
    return None


def relevance_function(method: Relevance, relevance_kwargs: dict | None) -> Callable:
    """``(model, batch, target, generator) -> relevance [P]`` for a method name or a callable."""
    if callable(method):
        return lambda model, batch, target, generator: method(model, batch)
    from reldrop3d.relevance import METHODS, point_relevance

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS} or a callable, got {method!r}")
    kwargs = dict(relevance_kwargs or {})
    return lambda model, batch, target, generator: point_relevance(
        model, batch, target=target, method=method, generator=generator, **kwargs
    )


def method_name(method: Relevance) -> str:
    """The name of a relevance method (a callable's ``__name__``, else ``"custom"``)."""
    return method if isinstance(method, str) else getattr(method, "__name__", "custom")


def mean_defined(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not ``None``; ``None`` when there is none."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None
