r"""Classification accuracy, clean and under corruptions, and ModelNet-C's mCE / RmCE.

For predictions :math:`\hat y` and labels :math:`y` of ``M`` clouds and ``C`` classes:

- overall accuracy :math:`OA = \frac{1}{M}\sum_m [\hat y_m = y_m]`;
- class accuracy :math:`A_c = \frac{|\{m: y_m = c, \hat y_m = c\}|}{|\{m: y_m = c\}|}`
  (undefined for a class with no cloud);
- mean class accuracy :math:`mAcc` = mean of the defined :math:`A_c`;
- loss :math:`\frac{1}{M}\sum_m -\log \operatorname{softmax}(z_m)_{y_m}`, the mean
  cross-entropy of the logits :math:`z_m` (what training minimises).

Robustness (ModelNet-C, Ren et al. 2022, ``modelnetc_utils/eval.py``): with
:math:`OA_i` the accuracy under corruption ``i`` averaged over its five levels
and ``ref`` a reference model (DGCNN in the paper, :data:`MODELNET_C_DGCNN`),

.. math::
    CE_i = \frac{1 - OA_i}{1 - OA_i^{ref}}, \qquad
    RCE_i = \frac{OA_{clean} - OA_i}{OA^{ref}_{clean} - OA_i^{ref}}, \qquad
    mCE = \overline{CE_i}, \quad RmCE = \overline{RCE_i}, \quad mOA = \overline{OA_i}.

A ratio with a zero reference denominator is 1 if its numerator is 0 too and
otherwise undefined: ``None``, left out of the mean (``None`` when nothing is
left). Nothing is rounded (ModelNet-C rounds to three decimals).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from reldrop3d.data.batching import describe
from reldrop3d.evaluate._corruptions import LEVELS, resolve
from reldrop3d.evaluate._running import (
    base_seed,
    class_names,
    labels_of,
    mean_defined,
    num_classes_of,
    resolve_device,
    seeded,
)
from reldrop3d.models._base import in_mode

#: DGCNN's accuracy on ModelNet-C (clean, and each corruption averaged over its levels),
#: the reference of the paper's mCE / RmCE (``DGCNN_OA`` in ``modelnetc_utils/eval.py``).
MODELNET_C_DGCNN: dict[str, float] = {
    "clean": 0.926,
    "scale": 0.906,
    "jitter": 0.684,
    "rotate": 0.785,
    "drop_global": 0.752,
    "drop_local": 0.793,
    "add_global": 0.705,
    "add_local": 0.725,
}


def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None = None,
    *,
    num_classes: int | None = None,
    names: Sequence[str] | None = None,
    transform: Callable | None = None,
) -> dict:
    r"""Clean accuracy and loss of ``model`` on ``loader``: a JSON-able dict.

    The model runs in eval mode (modes restored afterwards) without gradients;
    ``transform`` (e.g. a corruption) maps each batch, on ``device``, first.
    ``num_classes`` defaults to the model's or the dataset's, class names to
    ``loader.dataset.classes``. Returns ``{"loss", "oa", "macc", "num_samples",
    "per_class": {name: {"accuracy", "correct", "count"}}}`` (module docstring;
    ``accuracy`` ``None`` for a class with no cloud).
    """
    pred, target, loss = _predict(model, loader, device, transform)
    num_classes = num_classes_of(model, loader, num_classes)
    if num_classes is None:
        num_classes = _seen(pred, target)
    names = list(names) if names is not None else class_names(loader, num_classes)
    if len(names) != num_classes:
        raise ValueError(f"names must hold num_classes = {num_classes} names, got {len(names)}")
    oa, macc, correct, count = _accuracy(pred, target, num_classes)
    per_class = {
        name: {"accuracy": int(k) / int(n) if n else None, "correct": int(k), "count": int(n)}
        for name, k, n in zip(names, correct, count)
    }
    return {
        "loss": loss / target.numel(),
        "oa": oa,
        "macc": macc,
        "num_samples": int(target.numel()),
        "per_class": per_class,
    }


@torch.no_grad()
def _predict(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None,
    transform: Callable | None = None,
) -> tuple[Tensor, Tensor, float]:
    """``(pred [M], target [M], summed cross-entropy)`` over every cloud, on the CPU."""
    device = resolve_device(model, device)
    preds, targets, loss = [], [], 0.0
    with in_mode(model, training=False):
        for batch in loader:
            batch = batch.to(device)
            if transform is not None:
                batch = transform(batch)
            logits, y = model(batch), labels_of(batch)
            if y.numel() and not 0 <= int(y.min()) <= int(y.max()) < logits.size(-1):
                raise ValueError(
                    f"labels must lie in [0, {logits.size(-1)}) (the model's classes), "
                    f"got {int(y.min())} to {int(y.max())}"
                )
            loss += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            preds.append(logits.argmax(dim=-1).cpu())
            targets.append(y.cpu())
    if not preds:
        raise ValueError("loader must yield at least one batch, got none")
    return torch.cat(preds), torch.cat(targets), loss


def _seen(pred: Tensor, target: Tensor) -> int:
    """The number of classes that ``pred`` and ``target`` show."""
    return int(max(pred.max(), target.max())) + 1


def _accuracy(
    pred: Tensor, target: Tensor, num_classes: int
) -> tuple[float, float, Tensor, Tensor]:
    """``(OA, mAcc, correct [C], count [C])``; ``OA`` / ``mAcc`` are ``nan`` when undefined."""
    count = torch.bincount(target, minlength=num_classes)
    correct = torch.bincount(target[pred == target], minlength=num_classes)
    oa = float((pred == target).double().mean()) if pred.numel() else float("nan")
    defined = count > 0
    ratio = correct[defined].double() / count[defined].double()
    return oa, float(ratio.mean()) if defined.any() else float("nan"), correct, count


def _scores(model, loader, device, num_classes, transform=None) -> tuple[float, float]:
    """``(OA, mAcc)`` of ``model`` on ``loader``."""
    pred, target, _ = _predict(model, loader, device, transform)
    return _accuracy(pred, target, num_classes or _seen(pred, target))[:2]


def corruption_accuracy(
    model: nn.Module,
    loader: Iterable,
    corruptions: str | Sequence[str] | Mapping[str, Callable] = "modelnet-c",
    levels: Iterable[int] = LEVELS,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    num_classes: int | None = None,
    clean: bool = True,
) -> dict:
    """Accuracy under each corruption and level (ModelNet-C protocol): a JSON-able dict.

    ``corruptions``: a suite name (:data:`SUITES`), comma-separated names, a list of
    names, or ``{name: f(batch, level, generator)}`` of one's own. Batches are
    corrupted on the fly, on ``device``, each ``(name, level)`` from its own
    generator seeded from ``(seed, name, level)``: results do not depend on which
    other corruptions run. A ``generator`` replaces ``seed`` by one seed drawn from it.

    Returns::

        {"seed": int, "levels": [0, ..., 4],
         "clean": {"oa", "macc"},                       # with clean=True
         "corruptions": {name: {"oa": [per level], "macc": [per level],
                                "mean_oa": float}},     # mean over the levels
         "mean_oa": float}                              # mOA: mean over corruptions
    """
    device = resolve_device(model, device)
    levels = [int(level) for level in levels]
    if not levels:
        raise ValueError("levels must name at least one level, got none")
    corruptions = resolve(corruptions)
    seed = base_seed(seed, generator)
    num_classes = num_classes_of(model, loader, num_classes)
    out: dict = {"seed": seed, "levels": levels}
    if clean:
        oa, macc = _scores(model, loader, device, num_classes)
        out["clean"] = {"oa": oa, "macc": macc}

    def score(name: str, level: int) -> tuple[float, float]:
        gen = seeded(seed, device, name, level)
        corrupt = corruptions[name]
        return _scores(model, loader, device, num_classes, lambda b: corrupt(b, level, gen))

    out.update(_by_level(corruptions, levels, score))
    return out


def modelnet_c_accuracy(
    model: nn.Module,
    root: str,
    *,
    classes: Sequence[str] | None = None,
    indices: Sequence[int] | None = None,
    levels: Iterable[int] = LEVELS,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> dict:
    """Accuracy on the official ModelNet-C files in ``root`` (:class:`~reldrop3d.data.ModelNetC`),
    comparable with the published tables; :func:`corruption_accuracy`'s dict with
    ``"files": root`` for the seed. ``indices``: the test clouds used in every file.
    """
    from torch.utils.data import Subset
    from torch_geometric.loader import DataLoader

    from reldrop3d.data.modelnet import MODELNET_C_FILES, ModelNetC

    levels = [int(level) for level in levels]
    num_classes = len(classes) if classes is not None else 40

    def score(name: str, level: int) -> tuple[float, float]:
        data = ModelNetC(root, name, level, classes=classes)
        if indices is not None:
            data = Subset(data, list(indices))
        return _scores(model, DataLoader(data, batch_size=batch_size), device, num_classes)

    oa, macc = score("clean", 0)
    out: dict = {"files": str(root), "levels": levels, "clean": {"oa": oa, "macc": macc}}
    out.update(_by_level(MODELNET_C_FILES, levels, score))
    return out


def _by_level(names: Iterable[str], levels: list[int], score: Callable) -> dict:
    """``{"corruptions": {name: {"oa": [...], "macc": [...], "mean_oa"}}, "mean_oa"}``
    from ``score(name, level) -> (oa, macc)``."""
    table = {}
    for name in names:
        oas, maccs = zip(*(score(name, level) for level in levels))
        table[name] = {"oa": list(oas), "macc": list(maccs), "mean_oa": sum(oas) / len(oas)}
    means = [c["mean_oa"] for c in table.values()]
    return {"corruptions": table, "mean_oa": sum(means) / len(means)}


# ----------------------------------------------------------------------------- mCE / RmCE


def robustness_summary(results: Mapping, reference: Mapping = MODELNET_C_DGCNN) -> dict:
    r"""mCE, RmCE and mOA (module docstring) of ``results`` against ``reference`` over the
    corruptions both have; each a :func:`corruption_accuracy` result or a flat
    ``{name: mean OA, "clean": OA}`` such as :data:`MODELNET_C_DGCNN`.

    Returns ``{"mce", "rmce", "moa", "ce": {name: CE}, "rce": {name: RCE},
    "undefined": [names with an undefined CE or RCE], "unmatched": [names missing
    from the reference]}``; ``rmce`` and the RCEs are ``None`` when a side lacks
    the clean OA. Raises ``TypeError`` for a non-mapping, ``ValueError`` when the
    two share no corruption.
    """
    ours, ref = _accuracies(results, "results"), _accuracies(reference, "reference")
    names = [n for n in ours if n != "clean" and n in ref]
    if not names:
        raise ValueError(
            f"results and reference share no corruption: results has "
            f"{sorted(n for n in ours if n != 'clean')}, reference has "
            f"{sorted(n for n in ref if n != 'clean')}"
        )
    has_clean = "clean" in ours and "clean" in ref
    ce = {n: _ratio(1.0 - ours[n], 1.0 - ref[n]) for n in names}
    rce = {
        n: _ratio(ours["clean"] - ours[n], ref["clean"] - ref[n]) if has_clean else None
        for n in names
    }
    return {
        "mce": mean_defined(ce.values()),
        "rmce": mean_defined(rce.values()) if has_clean else None,
        "moa": sum(ours[n] for n in names) / len(names),
        "ce": ce,
        "rce": rce,
        "undefined": [n for n in names if ce[n] is None or (has_clean and rce[n] is None)],
        "unmatched": [n for n in ours if n != "clean" and n not in ref],
    }


def _accuracies(results: Mapping, what: str) -> dict[str, float]:
    """``{"clean": OA, name: mean OA}`` of a :func:`corruption_accuracy` result or a flat table."""
    if not isinstance(results, Mapping):
        raise TypeError(
            f"{what} must be a corruption_accuracy result or a mapping name -> OA, "
            f"got {describe(results)}"
        )
    if "corruptions" in results:
        flat = {name: float(c["mean_oa"]) for name, c in results["corruptions"].items()}
        if "clean" in results:
            flat["clean"] = float(results["clean"]["oa"])
        return flat
    return {str(k): float(v) for k, v in results.items()}


def _ratio(num: float, den: float, tol: float = 1e-12) -> float | None:
    if abs(den) <= tol:
        return 1.0 if abs(num) <= tol else None
    return num / den
