"""Selecting whole clouds of a PyG batch."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Batch


def select_clouds(batch: Batch, keep: Tensor) -> Batch:
    """The sub-batch of the clouds where ``keep [B]`` is True, as a new ``Batch``.

    Per-point attributes (first dimension = number of points) and per-cloud
    attributes (first dimension = B) are indexed; ``batch`` and ``ptr`` are
    rebuilt. Indexing with a mask synchronises with the device once.
    """
    num_points, num_graphs = batch.num_nodes, batch.num_graphs
    point_keep = keep[batch.batch]
    counts = torch.bincount(batch.batch, minlength=num_graphs)[keep]
    out = Batch()
    for key, value in batch.items():
        if key in ("batch", "ptr") or not isinstance(value, Tensor):
            continue
        if value.dim() > 0 and value.size(0) == num_points:
            out[key] = value[point_keep]
        elif value.dim() > 0 and value.size(0) == num_graphs:
            out[key] = value[keep]
    out.batch = torch.repeat_interleave(torch.arange(counts.numel(), device=keep.device), counts)
    out.ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    out._num_graphs = int(counts.numel())
    return out
