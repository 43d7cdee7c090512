"""What the classifiers share: reading a batch, the max-pooled forward, ``reset_parameters``,
``__repr__``, and running a model in a mode that is restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from reldrop3d.models.pool import global_max_pool


@contextmanager
def in_mode(model: torch.nn.Module, training: bool) -> Iterator[torch.nn.Module]:
    """``model.train(training)`` inside the block; every submodule's own mode restored on
    exit, exceptions included."""
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def cloud_inputs(data, model: torch.nn.Module) -> tuple[Tensor | None, Tensor, Tensor, int]:
    """Split a PyG ``Data``/``Batch`` into ``(features, pos, batch, num_graphs)`` for ``model``.

    ``features`` is ``data.x`` ``[N, in_channels]`` when the model takes extra
    per-point channels (normals) and ``None`` otherwise (a present ``x`` is
    then ignored). ``batch`` is ``data.batch`` or zeros for a single cloud;
    ``num_graphs`` comes from the batch object, so no host sync is needed.
    ``pos`` (and ``x``) must have the dtype of the model's weights.
    """
    in_channels = model.in_channels
    dtype = next(model.parameters()).dtype
    pos = getattr(data, "pos", None)
    if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.size(-1) != 3:
        got = tuple(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
        raise ValueError(f"data.pos must be a [N, 3] tensor, got {got}")
    if pos.dtype != dtype:
        raise TypeError(
            f"data.pos must have the model's dtype {dtype}, got {pos.dtype}; convert the "
            f"data (data.pos = data.pos.to({dtype})) or the model (model.to({dtype}))"
        )
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
        num_graphs = 1
    else:
        num_graphs = int(getattr(data, "num_graphs", 0) or int(batch.max()) + 1)
    x = None
    if in_channels > 0:
        x = getattr(data, "x", None)
        if not isinstance(x, Tensor) or x.dim() != 2 or x.size(-1) != in_channels:
            got = tuple(x.shape) if isinstance(x, Tensor) else None
            raise ValueError(
                f"the model was built with in_channels={in_channels}, so data.x must be "
                f"[N, {in_channels}] (e.g. normals), got {got}"
            )
        if x.dtype != dtype:
            raise TypeError(f"data.x must have the model's dtype {dtype}, got {x.dtype}")
    return x, pos, batch, num_graphs


class Classifier(torch.nn.Module):
    """A point-cloud classifier: ``forward_features`` (per-point features before the global
    pool), then ``head`` on their max over each cloud.

    Shapes:
        forward: ``Batch(pos [N, 3], x [N, in_channels]?, batch [N])`` ->
        ``logits [num_graphs, num_classes]``.
    """

    _shown: tuple[str, ...] = ()  # constructor arguments that __repr__ shows after these two

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 0:
            raise ValueError(f"in_channels must be an int >= 0, got {in_channels!r}")
        self.num_classes, self.in_channels = num_classes, in_channels

    def forward(self, data) -> Tensor:
        h, _, batch, num_graphs = self.forward_features(data)
        return self.head(global_max_pool(h, batch, num_graphs))

    def reset_parameters(self) -> None:
        for child in self.children():
            for module in child if isinstance(child, torch.nn.ModuleList) else (child,):
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()

    def __repr__(self) -> str:
        names = ("num_classes", "in_channels", *self._shown)
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"
