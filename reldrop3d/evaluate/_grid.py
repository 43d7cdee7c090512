r"""The padded grid on which the corruptions work, and its conversions.

A batch of ``B`` clouds is held as a :class:`Grid`:

- ``pos [B, W, 3]``: coordinates, each cloud's points packed at the front of
  its row (``valid[b, j] = j < n_b`` after :func:`compact`), zeros after them;
- ``valid [B, W]`` bool: which entries are points;
- ``source [B, W]`` long: for each point, the column of the input row it
  comes from (``-1`` for a point the corruption created), so that per-point
  attributes (``part``, normals) can follow their points.

:func:`from_input` builds a grid from a PyG ``Batch``/``Data`` or from a dense
``[B, N, C]`` (or ``[N, C]``) tensor, :func:`to_output` turns a corrupted grid
back into the input's form. PyG inputs are padded and unpadded by
:mod:`reldrop3d.data.batching` (``to_dense``, ``from_dense``). Everything is
batched over the clouds; the only host syncs are the ones that reading output
sizes needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.data.batching import describe, from_dense, to_dense

__all__ = ["Grid", "Source", "compact", "concat", "from_input", "to_output"]


class Grid(NamedTuple):
    """Padded clouds: ``pos [B, W, 3]``, ``valid [B, W]``, ``source [B, W]`` (see module doc)."""

    pos: Tensor
    valid: Tensor
    source: Tensor

    @property
    def counts(self) -> Tensor:
        """Points per cloud ``[B]`` (long)."""
        return self.valid.sum(1)


@dataclass
class Source:
    """What :func:`to_output` needs to know about the input besides its grid."""

    kind: str  # "pyg" | "dense" | "single"
    data: Data | None = None  # the PyG input
    features: Tensor | None = None  # dense channels after the first three [B, N, C - 3]


# ----------------------------------------------------------------------------- input


def from_input(points: Data | Tensor, mask: Tensor | None = None) -> tuple[Grid, Source]:
    """Grid of a PyG ``Batch``/``Data`` or of dense ``[B, N, C]`` / ``[N, C]`` points.

    Dense points use their first three channels as coordinates; the others
    (e.g. normals) travel with their points. ``mask [B, N]`` (``[N]``) marks the
    valid points of a dense input; its valid points need not be packed.
    """
    if isinstance(points, Data):
        if mask is not None:
            raise TypeError(
                f"mask applies to dense points only, got a mask with a {type(points).__name__}"
            )
        return _from_pyg(points)
    if (
        not isinstance(points, Tensor)
        or points.dim() not in (2, 3)
        or (not points.is_floating_point())
        or points.size(-1) < 3
    ):
        raise TypeError(
            f"points must be a PyG Batch/Data or a floating tensor [B, N, C] or "
            f"[N, C] with C >= 3, got {describe(points)}"
        )
    single = points.dim() == 2
    dense = points.unsqueeze(0) if single else points
    shape = tuple(dense.shape[:2])
    if mask is None:
        valid = torch.ones(shape, dtype=torch.bool, device=dense.device)
    else:
        m = mask.unsqueeze(0) if single and isinstance(mask, Tensor) else mask
        if not isinstance(m, Tensor) or m.dtype != torch.bool or tuple(m.shape) != shape:
            want = "[N]" if single else "[B, N]"
            raise TypeError(
                f"mask must be a bool tensor {want} matching points, got {describe(mask)}"
            )
        if m.device != dense.device:
            raise ValueError(f"mask is on {m.device} but points are on {dense.device}")
        valid = m
    cols = torch.arange(shape[1], device=dense.device).expand(shape)
    grid = Grid(dense[..., :3] * valid.unsqueeze(-1), valid, torch.where(valid, cols, -1))
    features = dense[..., 3:] if dense.size(-1) > 3 else None
    return compact(grid), Source("single" if single else "dense", features=features)


def _from_pyg(data: Data) -> tuple[Grid, Source]:
    pos = getattr(data, "pos", None)
    if (
        not isinstance(pos, Tensor)
        or pos.dim() != 2
        or pos.size(-1) != 3
        or (not pos.is_floating_point())
    ):
        raise TypeError(f"points.pos must be a floating tensor [P, 3], got {describe(pos)}")
    dense, valid = to_dense(data)
    cols = torch.arange(dense.size(1), device=pos.device).expand(valid.shape)
    return Grid(dense, valid, torch.where(valid, cols, -1)), Source("pyg", data=data)


# ----------------------------------------------------------------------------- grid ops


def compact(grid: Grid) -> Grid:
    """Pack each cloud's valid points, in order, to the front of its row; same width."""
    pos, valid, source = grid
    width = valid.size(1)
    target = valid.long().cumsum(1).sub_(1).masked_fill_(~valid, width)  # spare column W
    out_pos = pos.new_zeros(pos.size(0), width + 1, pos.size(2))
    out_pos.scatter_(1, target.unsqueeze(-1).expand_as(pos), pos)
    out_src = source.new_full((source.size(0), width + 1), -1)
    out_src.scatter_(1, target, source)
    cols = torch.arange(width, device=valid.device)
    out_valid = cols.unsqueeze(0) < valid.sum(1, keepdim=True)
    return Grid(out_pos[:, :width], out_valid, out_src[:, :width])


def concat(first: Grid, second: Grid) -> Grid:
    """Append ``second``'s points after ``first``'s, cloud by cloud (packed)."""
    return compact(Grid(*(torch.cat([a, b], dim=1) for a, b in zip(first, second))))


def keep(grid: Grid, kept: Tensor) -> Grid:
    """The points of ``grid`` where ``kept [B, W]`` is true, packed."""
    kept = kept & grid.valid
    return compact(Grid(grid.pos * kept.unsqueeze(-1), kept, grid.source.masked_fill(~kept, -1)))


# ----------------------------------------------------------------------------- output


def to_output(grid: Grid, src: Source) -> Data | Tensor | tuple[Tensor, Tensor]:
    """The corrupted grid in the input's form (see :mod:`reldrop3d.evaluate.corruptions`)."""
    if src.kind in ("dense", "single"):
        points = grid.pos
        if src.features is not None:
            feats = src.features.gather(
                1, grid.source.clamp(min=0).unsqueeze(-1).expand(-1, -1, src.features.size(-1))
            )
            feats = feats * (grid.source >= 0).unsqueeze(-1)
            points = torch.cat([points, feats], dim=-1)
        if src.kind == "single":
            return points[0], grid.valid[0]
        return points, grid.valid
    return from_dense(grid.pos, grid.valid, like=src.data, source=grid.source)
