"""What happens to the dropped points: removed, zeroed, or replaced by the first kept point.

Functional fills for the two input forms:

- :func:`apply_fill` on a PyG ``Batch`` (flat ``[P, ...]`` per-point
  attributes, ``batch``/``ptr``) returns a new ``Batch`` and never writes to
  the input's tensors.
- :func:`apply_fill_dense` on ``[B, N, C]`` (or ``[B, C, N]``) tensors with an
  optional ``[B, N]`` validity mask.

The three fills (``P`` points, drop mask ``D``):

- ``"remove"``: the dropped points are gone. Every per-point attribute is
  indexed by the kept points, ``batch``/``ptr`` and the batch's ``_slice_dict``
  / ``_inc_dict`` are recomputed (``get_example``/``to_data_list`` keep
  working), an ``edge_index`` keeps the edges between kept points (relabelled,
  with their edge attributes), per-cloud attributes (``y``, ...) are untouched.
  Reading the new sizes is a device sync on a GPU (it is the output's shape).
- ``"zero"``: sizes unchanged; every floating-point per-point attribute
  (``pos``, ``x``, normals) of a dropped point is multiplied by 0 (exact 0;
  ``-0.0`` for negative values), integer ones (``part``) are kept.
- ``"first"``: sizes unchanged; every per-point attribute of a dropped point
  becomes that of the first kept point of its cloud (the PointNet++
  convention, which the published code applies with the cloud's first point
  whether kept or not).

Which attributes are per point: with ``_slice_dict`` (batches built by
``Batch.from_data_list``), those whose slices equal the points' ``ptr``; else
PyG's ``is_node_attr``. Keys containing ``"edge"`` are edge-level.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from reldrop3d.drop._checks import FILLS, check_choice, describe
from reldrop3d.drop._layout import Layout, flat_nonzero, host_ptr_of, ptr_from_batch

__all__ = ["apply_fill", "apply_fill_dense"]


def apply_fill(data: Data, drop: Tensor, fill: str = "remove") -> Data:
    """Apply a drop mask to a PyG ``Batch`` (or a single-cloud ``Data``).

    Args:
        data: the batch; ``pos [P, 3]`` (or ``num_nodes``) gives ``P``.
        drop: ``BoolTensor [P]``, ``True`` = drop.
        fill: ``"remove"``, ``"zero"`` or ``"first"`` (see the module docstring).

    Returns:
        A new object of the same class (a shallow copy with new tensors where they
        changed); ``data`` is not modified.
    """
    fill = check_choice("fill", fill, FILLS)
    num_points = num_points_of(data)
    if not isinstance(drop, Tensor) or drop.dtype != torch.bool or drop.shape != (num_points,):
        raise TypeError(
            f"drop must be a bool tensor of shape [num_points] = ({num_points},), "
            f"got {describe(drop)}"
        )
    layout, ptr_host = batch_layout(data, num_points)
    grid = layout.pad(drop, False)
    if fill == "first":
        _check_some_kept(grid, layout.counts)
    return fill_batch(data, drop, grid, layout, ptr_host, fill)


def apply_fill_dense(
    points: Tensor,
    drop: Tensor,
    fill: str = "zero",
    mask: Tensor | None = None,
    channels_first: bool = False,
) -> tuple[Tensor, Tensor]:
    """Apply a drop mask ``[B, N]`` to dense points.

    Args:
        points: ``[B, N, C]``, or ``[B, C, N]`` with ``channels_first=True`` (the
            layout of the published PointNet++ code).
        drop: ``BoolTensor [B, N]``, ``True`` = drop (never ``True`` on padding).
        fill: ``"remove"``, ``"zero"`` or ``"first"``.
        mask: ``BoolTensor [B, N]`` of valid points, ``None`` = all valid. Padding is
            left as it is by ``"zero"``/``"first"``.
        channels_first: points are ``[B, C, N]``; the output is too.

    Returns:
        ``"zero"``/``"first"``: ``(points_out, drop)``, same shape as ``points``.
        ``"remove"``: ``(packed, valid)``: each cloud's kept points moved, in
        order, to the front of its row, zeros after them, and ``valid [B, N]``
        marking the packed points (``valid[b, j] = j < kept_b``), ready for a
        masked dense model. The width stays ``N`` (trimming it would need a
        device sync).
    """
    fill = check_choice("fill", fill, FILLS)
    dim = 2 if channels_first else 1  # the points' dimension
    if not isinstance(points, Tensor) or points.dim() != 3:
        raise TypeError(
            f"points must be a 3-D tensor [B, N, C] ([B, C, N] with "
            f"channels_first=True), got {describe(points)}"
        )
    shape = (points.shape[0], points.shape[dim])
    if not isinstance(drop, Tensor) or drop.dtype != torch.bool or tuple(drop.shape) != shape:
        raise TypeError(
            f"drop must be a bool tensor of shape [B, N] = {shape}, got {describe(drop)}"
        )
    if mask is not None and (
        not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != shape
    ):
        raise TypeError(
            f"mask must be a bool tensor of shape [B, N] = {shape}, got {describe(mask)}"
        )
    if fill == "first":
        counts = (
            mask.sum(1)
            if mask is not None
            else torch.full_like(drop[:, 0], shape[1], dtype=torch.long)
        )
        _check_some_kept(drop if mask is None else drop & mask, counts)
    return fill_dense(points, drop, mask, fill, dim)


def _check_some_kept(drop_grid: Tensor, counts: Tensor) -> None:
    """fill='first' needs a kept point in every cloud that drops any (one host sync)."""
    bad = (drop_grid.sum(1) >= counts) & (counts > 0)
    if bool(bad.any()):
        cloud = int(bad.nonzero()[0])
        raise ValueError(
            f"fill='first' needs at least one kept point per cloud, got every "
            f"point of cloud {cloud} dropped"
        )


# ---------------------------------------------------------------------------
# cores (the droppers call these with the grid they already have)


def batch_layout(data: Data, num_points: int) -> tuple[Layout, np.ndarray]:
    """The grid layout of a PyG batch and its ``ptr`` on the host (NumPy).

    The sizes come from ``_slice_dict`` (CPU, no sync) when it fits the batch, else
    from ``ptr``/``batch`` (one device sync on a GPU). A ``Data`` without ``batch``
    is one cloud.
    """
    batch = getattr(data, "batch", None)
    device = _device(data)
    if batch is None:
        batch = torch.zeros(num_points, dtype=torch.long, device=device)
        ptr_host = np.array([0, num_points], dtype=np.int64)
        return Layout.from_ptr(ptr_host, torch.from_numpy(ptr_host).to(device), batch), ptr_host
    ptr = getattr(data, "ptr", None)
    ptr_host = host_ptr_of(data, num_points)
    if ptr is None:
        ptr_cpu, ptr = ptr_from_batch(batch)
        ptr_host = ptr_host if ptr_host is not None else ptr_cpu
    elif ptr_host is None or ptr_host.size != ptr.numel():
        ptr_host = ptr.cpu().numpy()
    return Layout.from_ptr(ptr_host, ptr, batch), ptr_host


def fill_batch(
    data: Data,
    drop: Tensor,
    drop_grid: Tensor,
    layout: Layout,
    ptr_host: np.ndarray,
    fill: str,
) -> Data:
    """Fill of a flat batch, given the drop mask both flat ``[P]`` and on the grid."""
    num_points = drop.numel()
    node_keys, edge_keys = _split_keys(data, num_points, ptr_host)
    out = copy.copy(data)
    if fill == "zero":
        keep = (~drop).view(torch.uint8)  # uint8 -> float is 5x faster here than bool -> float
        factors: dict[torch.dtype, Tensor] = {}
        for key in node_keys:
            value = data[key]
            if value.is_floating_point():
                if value.dtype not in factors:
                    factors[value.dtype] = keep.to(value.dtype)
                factor = factors[value.dtype].view(-1, *([1] * (value.dim() - 1)))
                out[key] = value * factor
        return out
    if fill == "first":
        keep_grid = ~drop_grid if layout.valid is None else layout.valid & ~drop_grid
        cols = torch.arange(layout.width, device=drop.device)
        first = torch.where(keep_grid, cols, layout.width).amin(1)  # [B], column of the first kept
        start = _starts(layout, drop.device)  # flat index of each row's column 0
        source = torch.where(drop_grid, (start + first).unsqueeze(1), start.unsqueeze(1) + cols)
        source = layout.unpad(source)
        for key in node_keys:
            if key != "batch":
                out[key] = data[key].index_select(0, source)
        return out
    return _remove(data, out, drop, drop_grid, layout, ptr_host, node_keys, edge_keys)


def fill_dense(
    points: Tensor, drop: Tensor, mask: Tensor | None, fill: str, dim: int
) -> tuple[Tensor, Tensor]:
    """Fill of dense points; ``dim`` is the points' dimension (1, or 2 for channels first)."""
    channel = 3 - dim
    if fill == "zero":
        keep = (~drop).view(torch.uint8).to(points.dtype)
        return points * keep.unsqueeze(channel), drop
    width = drop.shape[1]
    keep = ~drop if mask is None else mask & ~drop
    cols = torch.arange(width, device=drop.device)
    if fill == "first":
        first = torch.where(keep, cols, width).amin(1)
        first = first.clamp_(max=max(width - 1, 0))  # rows without a kept point: nothing to fill
        size = list(points.shape)
        size[dim] = 1
        first_points = points.gather(dim, first.view(-1, 1, 1).expand(size))  # one per cloud
        return torch.where(drop.unsqueeze(channel), first_points, points), drop
    # remove: kept points to the front of their row, order kept; the rest to a spare column
    target = keep.cumsum(1).sub_(1).masked_fill_(~keep, width)
    size = list(points.shape)
    size[dim] = width + 1
    packed = points.new_zeros(size)
    index = target.unsqueeze(channel).expand_as(points)
    packed.scatter_(dim, index, points)
    packed = packed.narrow(dim, 0, width)
    valid = cols.unsqueeze(0) < keep.sum(1, keepdim=True)
    return packed, valid


# ---------------------------------------------------------------------------
# helpers


def _remove(
    data: Data,
    out: Data,
    drop: Tensor,
    drop_grid: Tensor,
    layout: Layout,
    ptr_host: np.ndarray,
    node_keys: list[str],
    edge_keys: list[str],
) -> Data:
    keep = ~drop
    index = flat_nonzero(keep)  # the new size: a device sync on a GPU
    kept = layout.counts - drop_grid.sum(1)
    has_batch = getattr(data, "batch", None) is not None
    for key in node_keys:
        out[key] = data[key].index_select(0, index)
    new_ptr = torch.zeros(layout.num_clouds + 1, dtype=torch.long, device=drop.device)
    torch.cumsum(kept, 0, out=new_ptr[1:])
    new_host = new_ptr.to("cpu", copy=True)  # host sizes of the output (a sync on a GPU)
    if has_batch and getattr(data, "ptr", None) is not None:
        out.ptr = new_ptr
    if "edge_index" in edge_keys:
        edge_index, _, edge_mask = subgraph(
            keep,
            data.edge_index,
            relabel_nodes=True,
            num_nodes=drop.numel(),
            return_edge_mask=True,
        )
        out.edge_index = edge_index
        for key in edge_keys:
            if key != "edge_index":
                out[key] = data[key][edge_mask]
    elif edge_keys:
        raise ValueError(
            f"fill='remove' needs an edge_index to remove edges, got edge "
            f"attributes {edge_keys} without one"
        )
    slices = getattr(data, "_slice_dict", None)
    if isinstance(slices, dict):
        slices, incs = dict(slices), dict(getattr(data, "_inc_dict", None) or {})
        for key in node_keys:
            if key in slices:
                slices[key] = new_host
        if edge_keys and has_batch:
            graph_of_edge = out.batch.index_select(0, out.edge_index[0])
            per_graph = torch.bincount(graph_of_edge, minlength=layout.num_clouds)
            edge_ptr = torch.zeros(layout.num_clouds + 1, dtype=torch.long)
            torch.cumsum(per_graph.cpu(), 0, out=edge_ptr[1:])
            for key in edge_keys:
                if key in slices:
                    slices[key] = edge_ptr
            if "edge_index" in incs:
                incs["edge_index"] = new_host[:-1].clone()
        out._slice_dict = slices
        out._inc_dict = incs
    store = out._store
    if "_num_nodes" in store.__dict__:
        store.__dict__["_num_nodes"] = (new_host[1:] - new_host[:-1]).tolist()
    if "num_nodes" in store:
        store["num_nodes"] = int(new_host[-1])
    return out


def _starts(layout: Layout, device: torch.device) -> Tensor:
    """Flat index of column 0 of every row ``[B]`` (row ``i`` starts at ``ptr[i]``)."""
    if layout.valid is None:
        return torch.arange(layout.num_clouds, device=device) * layout.width
    return torch.cumsum(layout.counts, 0) - layout.counts


def _split_keys(data: Data, num_points: int, ptr_host: np.ndarray) -> tuple[list[str], list[str]]:
    """``(per-point keys, edge-level keys)`` of a batch; ``batch`` is a per-point key."""
    slices = getattr(data, "_slice_dict", None)
    slices = slices if isinstance(slices, dict) else {}
    node_keys, edge_keys = [], []
    for key, value in data._store.items():
        if key == "ptr" or not isinstance(value, Tensor) or value.dim() == 0:
            continue
        if key == "batch":
            node_keys.append(key)
        elif "edge" in key:
            edge_keys.append(key)
        elif key in slices:
            s = slices[key]
            if (
                isinstance(s, Tensor)
                and s.device.type == "cpu"
                and np.array_equal(s.numpy(), ptr_host)
                and data.__cat_dim__(key, value) == 0
                and value.size(0) == num_points
            ):
                node_keys.append(key)
        elif value.size(0) == num_points and data.is_node_attr(key):
            node_keys.append(key)
    return node_keys, edge_keys


def num_points_of(data: Data) -> int:
    """``P`` of a PyG batch: ``pos.size(0)``, else ``num_nodes``."""
    if not isinstance(data, Data):
        raise TypeError(f"batch must be a torch_geometric Batch or Data, got {describe(data)}")
    pos = getattr(data, "pos", None)
    if isinstance(pos, Tensor):
        return pos.size(0)
    num = data.num_nodes
    if num is None:
        raise ValueError("batch must have pos [P, 3] or num_nodes, got neither")
    return int(num)


def _device(data: Data) -> torch.device:
    for value in data._store.values():
        if isinstance(value, Tensor):
            return value.device
    return torch.device("cpu")
