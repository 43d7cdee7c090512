r"""Batch surgery: checking, removing, selecting, padding and unpadding the points of a PyG batch.

A batch of ``B`` clouds with ``n_b`` points each (``P = sum_b n_b``) is flat:
per-point tensors ``[P, ...]`` in cloud order, ``batch [P]`` (the cloud of
every point, sorted) and ``ptr [B + 1]`` (cloud ``b`` holds the points
``ptr[b]:ptr[b + 1]``); per-cloud tensors (``y``, ``idx``) have a fixed number
of rows per cloud, edge tensors (``edge_index``, ``edge_attr``) one entry per edge.
Which attributes are per point or per edge is PyG's decision
(``Data.is_node_attr`` / ``Data.is_edge_attr``, by size); ``batch`` is per point.

Every function returns a new object and never writes to its inputs. Outputs
of a batch built by ``Batch.from_data_list`` keep ``get_example`` and
``to_data_list`` working: PyG keeps the per-cloud offsets those need in
private attributes (``_slice_dict``, ``_inc_dict``, ``_num_graphs``, a store's
``_num_nodes``) with no public setter, and :func:`_rebuild` is the one place in
the package that writes them. An edge survives :func:`keep_points` and
:func:`select_clouds` when both its points do; :func:`from_dense` drops edges.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import subgraph, to_dense_batch

__all__ = [
    "batch_vector",
    "check_batch_vector",
    "describe",
    "from_dense",
    "keep_points",
    "num_points",
    "point_keys",
    "select_clouds",
    "to_dense",
]


def describe(value: object) -> str:
    """``'float32 tensor of shape (4, 3)'`` or the type name, for error messages."""
    if isinstance(value, Tensor):
        return f"{str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


def check_batch_vector(
    batch: Tensor | None,
    ptr: Tensor | None = None,
    num_points: int | None = None,
    *,
    device: torch.device | None = None,
    check_values: bool = True,
) -> tuple[Tensor, Tensor]:
    r"""Check a batch vector; return it with its CSR pointer, ``(batch [P], ptr [B + 1])``.

    Valid: ``batch`` a sorted 1-D long tensor of ``num_points`` entries in ``[0, B)``;
    ``ptr`` (if given) 1-D long, non-decreasing from 0 to ``P``, with ``batch[p] = b`` for
    ``ptr[b] <= p < ptr[b + 1]``. Without ``ptr``, ``ptr[b] = #{p : batch_p < b}`` for
    ``B = batch[-1] + 1``; ``batch=None`` is one cloud of ``num_points`` (on ``device``).
    Host reads: one for the check (``check_values=False`` skips it), one for ``B``
    without ``ptr``. A TypeError for a wrong type, dtype or rank, a ValueError for a
    wrong size or device or a broken rule (naming the first bad entry).
    """
    if batch is None:
        if num_points is None:
            raise ValueError("num_points must be given when batch is None, got None")
        ptr = torch.tensor([0, num_points], device=device)
        return torch.zeros(num_points, dtype=torch.long, device=device), ptr
    if not isinstance(batch, Tensor) or batch.dtype != torch.long or batch.dim() != 1:
        raise TypeError(f"batch must be a 1-D long tensor [num_points], got {describe(batch)}")
    size = batch.numel()
    if num_points is not None and size != num_points:
        raise ValueError(f"batch must hold one entry per point ({num_points}), got {size}")
    if device is not None and batch.device != torch.device(device):
        raise ValueError(f"batch must be on the points' device ({device}), got {batch.device}")
    if ptr is None:
        if check_values and size and not bool((batch[0] >= 0) & _sorted(batch)):
            _raise_bad_batch(batch, None)
        count = int(batch[-1]) + 1 if size else 0
        ids = torch.arange(count + 1, device=batch.device)
        return batch, torch.searchsorted(batch, ids)
    if not isinstance(ptr, Tensor) or ptr.dtype != torch.long or ptr.dim() != 1 or not ptr.numel():
        raise TypeError(f"ptr must be a 1-D long tensor [num_clouds + 1], got {describe(ptr)}")
    if ptr.device != batch.device:
        raise ValueError(f"ptr must be on the batch's device ({batch.device}), got {ptr.device}")
    if check_values and not bool(_agrees(batch, ptr)):
        _raise_bad_batch(batch, ptr)
    return batch, ptr


def _sorted(batch: Tensor) -> Tensor:
    return (batch[1:] >= batch[:-1]).all()


def _agrees(batch: Tensor, ptr: Tensor) -> Tensor:
    """0-d bool: ``batch`` and ``ptr`` describe the same sorted clouds (see above)."""
    size, sizes = batch.numel(), ptr.diff()
    ok = (ptr[0] == 0) & (ptr[-1] == size) & (sizes >= 0).all()
    if size == 0:
        return ok
    ids = torch.arange(sizes.numel(), device=batch.device)
    first = batch[ptr[:-1].clamp(0, size - 1)]
    last = batch[(ptr[1:] - 1).clamp(0, size - 1)]
    return ok & _sorted(batch) & ((sizes == 0) | ((first == ids) & (last == ids))).all()


def _raise_bad_batch(batch: Tensor, ptr: Tensor | None) -> None:
    """The ``ValueError`` naming the first entry that breaks the rules (error path: host reads)."""
    values = batch.tolist()
    if ptr is not None:
        bounds = ptr.tolist()
        if bounds[0] != 0 or bounds[-1] != len(values):
            raise ValueError(
                f"ptr must run from 0 to num_points ({len(values)}), "
                f"got {bounds[0]} to {bounds[-1]}"
            )
        for i in range(1, len(bounds)):
            if bounds[i] < bounds[i - 1]:
                raise ValueError(
                    f"ptr must be non-decreasing, got ptr[{i}] = {bounds[i]} after {bounds[i - 1]}"
                )
    if values and values[0] < 0:
        raise ValueError(f"batch must hold cloud ids >= 0, got batch[0] = {values[0]}")
    for i in range(1, len(values)):
        if values[i] < values[i - 1]:
            raise ValueError(
                f"batch must be sorted (non-decreasing), got batch[{i}] = {values[i]} "
                f"after {values[i - 1]}"
            )
    expected = torch.repeat_interleave(torch.arange(len(bounds) - 1), ptr.diff().cpu()).tolist()
    at = next(i for i, (a, b) in enumerate(zip(values, expected, strict=True)) if a != b)
    raise ValueError(
        f"batch must agree with ptr (cloud b holds points ptr[b]:ptr[b + 1]), got "
        f"batch[{at}] = {values[at]} for a point of cloud {expected[at]}"
    )


def num_points(data: Data) -> int:
    """``P`` of a PyG ``Batch``/``Data``: ``pos.size(0)``, else ``num_nodes``."""
    if not isinstance(data, Data):
        raise TypeError(f"batch must be a torch_geometric Batch or Data, got {describe(data)}")
    pos = getattr(data, "pos", None)
    if isinstance(pos, Tensor):
        return pos.size(0)
    if data.num_nodes is None:
        raise ValueError("batch must have pos [P, 3] or num_nodes, got neither")
    return int(data.num_nodes)


def batch_vector(data: Data, check_values: bool = True) -> tuple[Tensor, Tensor]:
    """The :func:`check_batch_vector` ``(batch [P], ptr [B + 1])`` of a PyG batch or ``Data``."""
    size = num_points(data)
    device = next((v.device for _, v in data.items() if isinstance(v, Tensor)), None)
    return check_batch_vector(
        getattr(data, "batch", None),
        getattr(data, "ptr", None),
        size,
        device=device,
        check_values=check_values,
    )


def point_keys(data: Data) -> list[str]:
    """The per-point tensor attributes of ``data`` (``batch`` included, ``ptr`` not)."""
    num_points(data)
    return [
        key
        for key, value in data.items()
        if isinstance(value, Tensor) and key != "ptr" and (key == "batch" or data.is_node_attr(key))
    ]


def _edge_keys(data: Data) -> list[str]:
    return [
        key
        for key, value in data.items()
        if isinstance(value, Tensor) and (key == "edge_index" or data.is_edge_attr(key))
    ]


# ---------------------------------------------------------------------------- operations


def keep_points(data: Data, keep: Tensor) -> Data:
    """The points of ``data`` where ``keep [P]`` (bool) is true, as a new object of its class.

    Per-point attributes are indexed by the kept points (in order), ``batch``
    and ``ptr`` recomputed (a cloud may become empty), per-cloud attributes
    kept, edges between kept points kept and relabelled. One host sync (the new size).
    """
    batch, ptr = batch_vector(data)
    _check_mask("keep", keep, batch.numel(), batch.device)
    return _keep_points(data, keep, batch, ptr)


def _keep_points(data: Data, keep: Tensor, batch: Tensor, ptr: Tensor) -> Data:
    """:func:`keep_points` on a batch vector already checked (``batch``, ``ptr``)."""
    index = keep.nonzero().view(-1)
    counts = torch.searchsorted(index, ptr).diff()  # kept points before each cloud's start
    return _rebuild(data, index, batch.index_select(0, index), counts, edges=keep)


def select_clouds(data: Data, keep: Tensor) -> Data:
    """The clouds of ``data`` where ``keep [B]`` (bool) is true, as a new ``Batch``.

    Per-point and per-cloud attributes of the kept clouds, ``batch`` renumbered
    ``0..B'-1``, ``ptr`` rebuilt, edges of the kept clouds kept. One host sync.
    """
    batch, ptr = batch_vector(data)
    _check_mask("keep", keep, ptr.numel() - 1, batch.device)
    point_keep = keep.index_select(0, batch)
    index = point_keep.nonzero().view(-1)
    renumber = keep.long().cumsum(0) - 1
    counts = ptr.diff()[keep]
    new_batch = renumber.index_select(0, batch.index_select(0, index))
    return _rebuild(data, index, new_batch, counts, clouds=keep, edges=point_keep)


def to_dense(
    data: Data, x: Tensor | None = None, width: int | None = None
) -> tuple[Tensor, Tensor]:
    """Pad ``x [P, ...]`` (default ``data.pos``) to ``[B, W, ...]`` with zeros; ``(dense, valid)``:
    row ``b`` starts with cloud ``b``'s points, marked by ``valid [B, W]``. ``W = width`` if
    given (at least the largest cloud), else the largest cloud (a host read)."""
    batch, ptr = batch_vector(data)
    x = data.pos if x is None else x
    return to_dense_batch(x, batch, batch_size=ptr.numel() - 1, max_num_nodes=width)


def from_dense(
    x: Tensor,
    valid: Tensor | None = None,
    like: Data | None = None,
    source: Tensor | None = None,
) -> Data:
    """A flat batch whose ``pos`` are the points ``x[b, j]`` of a padded ``x [B, W, ...]`` where
    ``valid[b, j]`` (``None``: all), in row order, with ``batch`` and ``ptr``.

    Without ``like``: a new ``Batch`` (with ``valid``, reading its size is a host sync).
    With ``like`` (``B`` clouds): ``like`` with new points, per-cloud attributes kept, edges
    dropped, and each other per-point attribute of point ``(b, j)`` taken from ``like``'s
    point ``source[b, j]`` of cloud ``b`` (index within the cloud; ``-1``: a new point,
    which gets 0, or -1 for integer attributes).
    """
    rows, width = x.shape[:2]
    if valid is None:
        counts = torch.full((rows,), width, device=x.device)
        flat = torch.arange(rows * width, device=x.device)
    else:
        counts, flat = valid.sum(1), valid.view(-1).nonzero().view(-1)
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    batch = flat.div(width, rounding_mode="floor")
    pos = x.reshape(rows * width, *x.shape[2:])
    pos = pos if valid is None else pos.index_select(0, flat)
    if like is None:
        return Batch(pos=pos, batch=batch, ptr=ptr)
    _, like_ptr = batch_vector(like)
    if source is None:
        source = torch.arange(width, device=x.device).expand(rows, width)
    col = source.reshape(-1).index_select(0, flat)
    created = col < 0
    index = (like_ptr.index_select(0, batch) + col).masked_fill_(created, -1)
    return _rebuild(like, index, batch, counts, pos=pos, created=created)


def _check_mask(name: str, mask: Tensor, size: int, device: torch.device) -> None:
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != (size,):
        raise TypeError(f"{name} must be a bool tensor of shape ({size},), got {describe(mask)}")
    if mask.device != device:
        raise ValueError(f"{name} must be on the batch's device ({device}), got {mask.device}")


def _rebuild(
    data: Data,
    index: Tensor,
    batch: Tensor,
    counts: Tensor,
    clouds: Tensor | None = None,
    edges: Tensor | None = None,
    pos: Tensor | None = None,
    created: Tensor | None = None,
) -> Data:
    """``data`` with new points: point ``k`` is ``data``'s point ``index[k]`` in cloud ``batch[k]``.

    ``counts [B']`` points per cloud; ``clouds [B]`` bool, the clouds kept (``None``:
    all); ``edges [P]`` bool, the old points whose edges may stay (``None``: edges
    are dropped); ``pos`` replaces the positions; ``created [P']`` marks new points
    (attributes 0, integers -1).
    """
    points, edge_keys = point_keys(data), _edge_keys(data)
    out = copy.copy(data)
    for key in points:
        if created is None:
            out[key] = data[key].index_select(0, index)
        elif key != "pos" or pos is None:
            value = data[key].index_select(0, index.clamp(min=0))
            empty = -1 if not (value.is_floating_point() or value.dtype == torch.bool) else 0
            out[key] = value.masked_fill(created.view(-1, *[1] * (value.dim() - 1)), empty)
    if pos is not None:
        out.pos = pos
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    has_batch = getattr(data, "batch", None) is not None
    if has_batch:
        out.batch, out.ptr = batch, ptr
    for key in edge_keys:
        del out[key]
    if edges is not None and "edge_index" in edge_keys:
        out.edge_index, _, edge_mask = subgraph(
            edges, data.edge_index, relabel_nodes=True, num_nodes=edges.numel(),
            return_edge_mask=True,
        )  # fmt: skip
        for key in edge_keys:
            if key != "edge_index":
                out[key] = data[key][edge_mask]
    # PyG's private per-cloud bookkeeping (see the module docstring): only here.
    slices, incs = getattr(data, "_slice_dict", None), getattr(data, "_inc_dict", None)
    slices, incs = (dict(slices), dict(incs)) if isinstance(slices, dict) else ({}, {})
    keep = None if clouds is None else clouds.cpu()
    ptr_host = ptr.cpu()
    for key in [k for k, v in data.items() if isinstance(v, Tensor) and v.dim() > 0]:
        if key in ("ptr", *points, *edge_keys) or keep is None:
            continue
        rows = slices[key].diff() if key in slices else torch.ones(len(keep), dtype=torch.long)
        if data[key].size(0) == int(rows.sum()):  # a per-cloud attribute: the kept clouds'
            out[key] = data[key][torch.repeat_interleave(keep, rows).to(data[key].device)]
    for key in list(slices):
        if key not in out:
            del slices[key]
            incs.pop(key, None)
            continue
        if keep is not None and isinstance(incs.get(key), Tensor):
            incs[key] = incs[key][keep]
        if key in points:
            slices[key] = ptr_host
        elif key in edge_keys:
            graph = batch.index_select(0, out.edge_index[0])
            per_cloud = torch.bincount(graph, minlength=ptr.numel() - 1).cpu()
            slices[key] = torch.cat([per_cloud.new_zeros(1), per_cloud.cumsum(0)])
            if key == "edge_index":
                incs[key] = ptr_host[:-1]
        elif keep is not None:
            rows = slices[key].diff()[keep]
            slices[key] = torch.cat([rows.new_zeros(1), rows.cumsum(0)])
    if slices:
        out._slice_dict, out._inc_dict = slices, incs
    if has_batch:
        out._num_graphs = ptr.numel() - 1
    store = out.stores[0]
    if "_num_nodes" in store.__dict__:
        store.__dict__["_num_nodes"] = ptr_host.diff().tolist()
    if "num_nodes" in store:
        out.num_nodes = int(ptr_host[-1])
    return out
