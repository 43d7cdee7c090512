"""Max and mean reductions over contiguous segments (clouds, or the edges of one centre).

The max goes through ``torch_scatter.segment_csr`` over a CSR pointer, several
times faster than PyG's default CPU path (``scatter_reduce(..., "amax")``,
whose backward dominated a PointNet step). It requires the index to be sorted,
which holds for PyG batch vectors and for the edges that :mod:`reldrop3d.ops`
returns (ordered by centre). Its backward sends the gradient of a maximum to
one arg-max element (ties are not split), which conserves relevance.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn.aggr import Aggregation

from reldrop3d.ops.segment import index_to_ptr, segment_csr


def global_max_pool(x: Tensor, batch: Tensor, size: int) -> Tensor:
    """``out_b = max_{p in b} x_p``: ``x [N, F]``, sorted ``batch [N]`` -> ``[size, F]``."""
    return segment_csr(x, index_to_ptr(batch, size), reduce="max")


def global_mean_pool(x: Tensor, batch: Tensor, size: int) -> Tensor:
    """``out_b = mean_{p in b} x_p``: ``x [N, F]``, sorted ``batch [N]`` -> ``[size, F]``.

    Built from ``index_add`` rather than ``segment_csr``: the backward of
    ``segment_csr``'s mean cannot be differentiated again, and explanation
    guidance differentiates the input gradient with respect to the weights.
    """
    count = index_to_ptr(batch, size).diff().clamp_(min=1).to(x.dtype)
    return x.new_zeros(size, x.size(1)).index_add(0, batch, x) / count.unsqueeze(1)


class GlobalMeanPool(torch.nn.Module):
    r"""Mean of each cloud's features, as a module: :func:`global_mean_pool`.

    .. math::
        \mathrm{out}_b = \frac{1}{n_b} \sum_{p \in b} x_p

    A module rather than a function so that LRP can name it: a mean is a
    linear layer with weights :math:`1 / n_b`, and its LRP rule gives each point
    its share :math:`x_p / (n_b\, \mathrm{out}_b)` of the cloud's relevance per channel
    (:class:`reldrop3d.relevance.PoolNorm`), not an even split. It has no
    parameters or buffers, so a model's state dict does not change with it.

    Shapes:
        ``x [N, F]``, sorted ``batch [N]``, ``size`` (int, number of clouds) ->
        ``[size, F]``.
    """

    def forward(self, x: Tensor, batch: Tensor, size: int) -> Tensor:
        return global_mean_pool(x, batch, size)


class SortedMaxAggregation(Aggregation):
    """Max aggregation for message passing whose edges are sorted by target node.

    Drop-in for ``aggr="max"`` in :class:`~torch_geometric.nn.PointNetConv` and
    :class:`~torch_geometric.nn.EdgeConv` when the ``edge_index`` comes from
    :mod:`reldrop3d.ops` (target indices ascending). Targets without edges get 0.
    """

    def forward(
        self,
        x: Tensor,
        index: Tensor | None = None,
        ptr: Tensor | None = None,
        dim_size: int | None = None,
        dim: int = -2,
    ) -> Tensor:
        if ptr is None:
            if index is None or dim_size is None:
                raise ValueError("SortedMaxAggregation needs index and dim_size, or ptr")
            ptr = index_to_ptr(index, dim_size)
        return segment_csr(x, ptr, reduce="max")
