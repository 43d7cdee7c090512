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
back into the input's form. Everything is batched over the clouds; the only
host syncs are the ones that reading output sizes needs (``to_dense_batch``
and the flat ``Batch`` output).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_batch

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

    kind: str  # "batch" | "data" | "dense" | "single"
    data: Data | None = None  # the PyG input
    features: Tensor | None = None  # dense channels after the first three [B, N, C - 3]
    ptr: Tensor | None = None  # [B + 1] flat start of each input cloud (PyG inputs)


def describe(value: object) -> str:
    """Short description of a value for error messages."""
    if isinstance(value, Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)} on {value.device}"
    return f"{type(value).__name__} {value!r}"[:120]


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
    batch = getattr(data, "batch", None)
    if batch is None:
        grid = Grid(
            pos.unsqueeze(0),
            torch.ones(1, pos.size(0), dtype=torch.bool, device=pos.device),
            torch.arange(pos.size(0), device=pos.device).unsqueeze(0),
        )
        ptr = torch.zeros(2, dtype=torch.long, device=pos.device)
        ptr[1] = pos.size(0)
        return grid, Source("data", data=data, ptr=ptr)
    num_graphs = int(data.num_graphs)
    dense, valid = to_dense_batch(pos, batch, batch_size=num_graphs)
    counts = valid.sum(1)
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=pos.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    cols = torch.arange(dense.size(1), device=pos.device).expand(valid.shape)
    return Grid(dense, valid, torch.where(valid, cols, -1)), Source("batch", data=data, ptr=ptr)


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
    return _to_pyg(grid, src)


def _to_pyg(grid: Grid, src: Source) -> Data:
    data, in_ptr = src.data, src.ptr
    num_in = data.pos.size(0)
    flat = grid.valid.reshape(-1).nonzero().view(-1)  # the output size: a device sync
    num_graphs = grid.valid.size(0)
    rows = torch.arange(num_graphs, device=flat.device).repeat_interleave(grid.valid.size(1))
    rows = rows[flat]
    col = grid.source.reshape(-1)[flat]
    created = col < 0
    index = (in_ptr[rows] + col).masked_fill_(created, 0)
    counts = grid.valid.sum(1)
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=flat.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    ptr_host = ptr.cpu()

    node_keys, edge_keys = _split_keys(data, num_in, in_ptr)
    out = copy.copy(data)
    for key in edge_keys:
        del out[key]
    out.pos = grid.pos.reshape(-1, 3)[flat]
    for key in node_keys:
        value = data[key].index_select(0, index)
        fill = 0 if value.is_floating_point() or value.dtype == torch.bool else -1
        shape = (-1,) + (1,) * (value.dim() - 1)
        out[key] = value.masked_fill(created.view(shape), fill)
    if src.kind == "data":
        if "num_nodes" in out._store:
            out._store["num_nodes"] = int(ptr_host[-1])
        return out
    out.batch = rows
    out.ptr = ptr
    slices = getattr(data, "_slice_dict", None)
    if isinstance(slices, dict):
        slices = {k: v for k, v in slices.items() if k not in edge_keys}
        incs = {
            k: v for k, v in (getattr(data, "_inc_dict", None) or {}).items() if k not in edge_keys
        }
        for key in [*node_keys, "pos"]:
            slices[key] = ptr_host
            incs.setdefault(key, torch.zeros(num_graphs, dtype=torch.long))
        out._slice_dict, out._inc_dict = slices, incs
    store = out._store
    if "_num_nodes" in store.__dict__:
        store.__dict__["_num_nodes"] = (ptr_host[1:] - ptr_host[:-1]).tolist()
    if "num_nodes" in store:
        store["num_nodes"] = int(ptr_host[-1])
    return out


def _split_keys(data: Data, num_points: int, ptr: Tensor) -> tuple[list[str], list[str]]:
    """``(per-point keys other than pos/batch, edge-level keys)`` of a PyG input."""
    slices = getattr(data, "_slice_dict", None)
    slices = slices if isinstance(slices, dict) else {}
    ptr_host = ptr.cpu()
    node_keys, edge_keys = [], []
    for key, value in data._store.items():
        if key in ("pos", "batch", "ptr") or not isinstance(value, Tensor) or value.dim() == 0:
            continue
        if "edge" in key:
            edge_keys.append(key)
        elif key in slices:
            s = slices[key]
            if (
                isinstance(s, Tensor)
                and s.shape == ptr_host.shape
                and torch.equal(s, ptr_host)
                and value.size(0) == num_points
            ):
                node_keys.append(key)
        elif value.size(0) == num_points and data.is_node_attr(key):
            node_keys.append(key)
    return node_keys, edge_keys
