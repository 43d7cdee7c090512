"""k-nearest-neighbour search and k-NN graphs on batched point clouds."""

from __future__ import annotations

import torch
from torch import Tensor

from reldrop3d.ops._batch import check_batch, check_k, check_points
from reldrop3d.ops._nearest import nearest


def knn(
    x: Tensor,
    y: Tensor,
    k: int,
    batch_x: Tensor | None = None,
    batch_y: Tensor | None = None,
) -> Tensor:
    r"""For every point of ``y``, its ``k`` nearest points of ``x`` in the same cloud.

    .. math::
        \mathcal{N}(y_i) = \operatorname{arg\,top}k_{j:\,b^x_j = b^y_i} -\lVert y_i - x_j \rVert_2

    Args:
        x: candidate points ``[N, C]``.
        y: query points ``[M, C]``.
        k: neighbours per query.
        batch_x: cloud of each candidate ``[N]`` (sorted), or ``None`` for one cloud.
        batch_y: cloud of each query ``[M]`` (sorted), or ``None`` for one cloud.

    Returns:
        ``edge_index [2, E]`` with row 0 indexing ``y`` and row 1 indexing ``x``
        (the ``torch_cluster`` convention), ordered by query, then by distance.
        ``E = M * k`` when every cloud of ``x`` holds at least ``k`` points; a
        query whose cloud holds ``n < k`` candidates gets all ``n`` of them, and
        one whose cloud holds none gets no edge.
    """
    check_points("x", x)
    check_points("y", y)
    if x.size(1) != y.size(1):
        raise ValueError(
            f"x and y must have the same number of channels, got {x.size(1)} and {y.size(1)}"
        )
    check_k("k", k)
    batch_x = check_batch("batch_x", batch_x, x.size(0), x.device)
    batch_y = check_batch("batch_y", batch_y, y.size(0), y.device)
    return nearest(x, y, k, batch_x, batch_y)


def knn_graph(
    x: Tensor,
    k: int,
    batch: Tensor | None = None,
    loop: bool = False,
    flow: str = "source_to_target",
) -> Tensor:
    r"""The k-NN graph of batched points: each point receives edges from its ``k`` nearest.

    Args:
        x: points or features ``[N, C]`` (DGCNN builds its graph in feature space).
        k: neighbours per point.
        batch: cloud of each point ``[N]`` (sorted), or ``None`` for one cloud.
        loop: if ``True`` a point may be its own neighbour (it is its nearest);
            if ``False`` it is excluded by index, so duplicated points still
            count as each other's neighbours.
        flow: ``"source_to_target"`` (PyG's default: row 0 holds the neighbour
            ``j``, row 1 the centre ``i``) or ``"target_to_source"``.

    Returns:
        ``edge_index [2, N * k]``, or fewer edges for clouds with at most ``k``
        points (every other point of the cloud is then a neighbour).
    """
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")
    check_points("x", x)
    check_k("k", k)
    batch = check_batch("batch", batch, x.size(0), x.device)
    centre, neighbour = nearest(x, x, k, batch, batch, exclude_self=not loop)
    if flow == "source_to_target":
        return torch.stack([neighbour, centre], dim=0)
    return torch.stack([centre, neighbour], dim=0)
