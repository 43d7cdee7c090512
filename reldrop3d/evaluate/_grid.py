r"""The padded clouds on which the corruptions work, and their conversions.

``B`` clouds are held as the padded grid of :mod:`reldrop3d.data.batching`
plus the origin of every point (a :class:`Grid`):

- ``pos [B, W, 3]``: coordinates, each cloud's ``n_b`` points packed at the
  front of its row, zeros after them;
- ``valid [B, W]`` bool: ``valid[b, j] = j < n_b``;
- ``source [B, W]`` long: the column of the input row a point comes from
  (``-1`` for a point a corruption created), so that per-point attributes
  (``part``, normals) follow their points in :func:`to_output`.

Every operation is batched over the clouds (per-cloud reductions are
reductions over rows); only reading the output sizes of a PyG batch syncs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.data.batching import describe, from_dense, to_dense


class Grid(NamedTuple):
    """Packed clouds ``pos [B, W, 3]``, ``valid [B, W]``, ``source [B, W]`` (module docstring)."""

    pos: Tensor
    valid: Tensor
    source: Tensor

    @property
    def counts(self) -> Tensor:
        """Points per cloud ``[B]`` (long)."""
        return self.valid.sum(1)

    @classmethod
    def created(cls, pos: Tensor, count: Tensor) -> Grid:
        """New points (``source = -1``): the first ``count[b]`` of each row of ``pos [B, K, 3]``."""
        valid = torch.arange(pos.size(1), device=pos.device) < count.unsqueeze(1)
        return cls(pos * valid.unsqueeze(-1), valid, torch.full_like(valid, -1, dtype=torch.long))

    def moved(self, pos: Tensor) -> Grid:
        """The same points at ``pos [B, W, 3]`` (padding set back to 0)."""
        return self._replace(pos=pos * self.valid.unsqueeze(-1))

    def keep(self, kept: Tensor) -> Grid:
        """The points where ``kept [B, W]`` is true, packed."""
        kept = kept & self.valid
        return _compact(self.pos * kept.unsqueeze(-1), kept, self.source.masked_fill(~kept, -1))

    def concat(self, other: Grid) -> Grid:
        """``other``'s points appended after this grid's, cloud by cloud, packed."""
        return _compact(*(torch.cat(pair, dim=1) for pair in zip(self, other)))


def _compact(pos: Tensor, valid: Tensor, source: Tensor) -> Grid:
    """Pack each row's valid entries, in order, to the front of the row; same width."""
    width = valid.size(1)
    target = valid.long().cumsum(1).sub_(1).masked_fill_(~valid, width)  # spare column W
    out_pos = pos.new_zeros(pos.size(0), width + 1, pos.size(2))
    out_pos.scatter_(1, target.unsqueeze(-1).expand_as(pos), pos)
    out_src = source.new_full((source.size(0), width + 1), -1)
    out_src.scatter_(1, target, source)
    packed = torch.arange(width, device=valid.device) < valid.sum(1, keepdim=True)
    return Grid(out_pos[:, :width], packed, out_src[:, :width])


def rank_in_row(keys: Tensor) -> Tensor:
    """Rank of every entry of ``keys [B, W]`` within its row (0 = smallest, ties by column)."""
    order = keys.argsort(dim=1, stable=True)
    cols = torch.arange(keys.size(1), device=keys.device).expand_as(order)
    return torch.empty_like(order).scatter_(1, order, cols)


def nearest(pos: Tensor, center: Tensor, alive: Tensor, count: Tensor) -> Tensor:
    """The ``count[b]`` alive points of row ``b`` nearest to ``center [B, 3]``: ``[B, W]`` bool.

    Squared Euclidean distance, the centre itself included; ties go to the lower column.
    """
    dist = (pos - center.unsqueeze(1)).square().sum(-1).masked_fill(~alive, float("inf"))
    return (rank_in_row(dist) < count.unsqueeze(1)) & alive


# ----------------------------------------------------------------------------- conversions


@dataclass
class Source:
    """What :func:`to_output` needs of the input besides its grid."""

    kind: str  # "pyg" | "dense" | "single"
    data: Data | None = None  # the PyG input
    features: Tensor | None = None  # dense channels after the first three [B, N, C - 3]


def from_input(points: Data | Tensor, mask: Tensor | None = None) -> tuple[Grid, Source]:
    """The grid of a PyG ``Batch``/``Data`` or of dense ``[B, N, C]`` / ``[N, C]`` points.

    Dense points use their first three channels as coordinates; the others
    (e.g. normals) travel with their points. ``mask [B, N]`` (``[N]``) marks the
    valid points of a dense input; they need not be packed.
    """
    if isinstance(points, Data):
        if mask is not None:
            raise TypeError(
                f"mask applies to dense points only, got a mask with a {describe(points)}"
            )
        pos = getattr(points, "pos", None)
        if (
            not isinstance(pos, Tensor)
            or pos.dim() != 2
            or pos.size(-1) != 3
            or (not pos.is_floating_point())
        ):
            raise TypeError(f"points.pos must be a floating tensor [P, 3], got {describe(pos)}")
        dense, valid = to_dense(points)
        return _with_source(dense, valid), Source("pyg", data=points)
    if (
        not isinstance(points, Tensor)
        or points.dim() not in (2, 3)
        or (not points.is_floating_point() or points.size(-1) < 3)
    ):
        raise TypeError(
            f"points must be a PyG Batch/Data or a floating tensor [B, N, C] or "
            f"[N, C] with C >= 3, got {describe(points)}"
        )
    single = points.dim() == 2
    dense = points.unsqueeze(0) if single else points
    valid = torch.ones(dense.shape[:2], dtype=torch.bool, device=dense.device)
    if mask is not None:
        m = mask.unsqueeze(0) if single and isinstance(mask, Tensor) else mask
        if not isinstance(m, Tensor) or m.dtype != torch.bool or m.shape != valid.shape:
            want = "[N]" if single else "[B, N]"
            raise TypeError(
                f"mask must be a bool tensor {want} matching points, got {describe(mask)}"
            )
        if m.device != dense.device:
            raise ValueError(f"mask must be on the points' device {dense.device}, got {m.device}")
        valid = m
    grid = _with_source(dense[..., :3] * valid.unsqueeze(-1), valid)
    features = dense[..., 3:] if dense.size(-1) > 3 else None
    return grid.keep(valid), Source("single" if single else "dense", features=features)


def _with_source(pos: Tensor, valid: Tensor) -> Grid:
    cols = torch.arange(valid.size(1), device=valid.device).expand(valid.shape)
    return Grid(pos, valid, torch.where(valid, cols, -1))


def to_output(grid: Grid, src: Source) -> Data | tuple[Tensor, Tensor]:
    """The grid in the input's form: a PyG object, or ``(points [B, M, C], valid [B, M])``."""
    if src.kind == "pyg":
        return from_dense(grid.pos, grid.valid, like=src.data, source=grid.source)
    points = grid.pos
    if src.features is not None:
        index = grid.source.clamp(min=0).unsqueeze(-1).expand(-1, -1, src.features.size(-1))
        features = src.features.gather(1, index) * (grid.source >= 0).unsqueeze(-1)
        points = torch.cat([points, features], dim=-1)
    return (points[0], grid.valid[0]) if src.kind == "single" else (points, grid.valid)
