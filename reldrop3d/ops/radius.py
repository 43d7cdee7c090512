"""Ball queries on batched point clouds (PointNet++ grouping)."""

from __future__ import annotations

import torch
from torch import Tensor

from reldrop3d.ops._batch import check_batch, check_k, check_points
from reldrop3d.ops._nearest import nearest


def _check_r(r: float) -> float:
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0:
        raise ValueError(f"r must be a positive number, got {r!r}")
    return float(r)


def radius(
    x: Tensor,
    y: Tensor,
    r: float,
    batch_x: Tensor | None = None,
    batch_y: Tensor | None = None,
    max_num_neighbors: int = 64,
) -> Tensor:
    r"""For every point of ``y``, the points of ``x`` in its cloud within distance ``r``.

    .. math::
        \mathcal{N}(y_i) = \{ j : b^x_j = b^y_i,\ \lVert y_i - x_j \rVert_2 \le r \}

    When more than ``max_num_neighbors`` points lie in the ball, the nearest
    ``max_num_neighbors`` are kept. (``torch_cluster`` and the original
    PointNet++ CUDA kernel keep the first ones in index order instead, which
    depends on the order of the points; keeping the nearest does not.)

    Args:
        x: candidate points ``[N, C]``.
        y: ball centres ``[M, C]``.
        r: ball radius, ``> 0``.
        batch_x: cloud of each candidate ``[N]`` (sorted), or ``None``.
        batch_y: cloud of each centre ``[M]`` (sorted), or ``None``.
        max_num_neighbors: at most this many neighbours per centre.

    Returns:
        ``edge_index [2, E]``, row 0 indexing ``y`` and row 1 indexing ``x``,
        ordered by centre, then by distance.
    """
    check_points("x", x)
    check_points("y", y)
    if x.size(1) != y.size(1):
        raise ValueError(
            f"x and y must have the same number of channels, got {x.size(1)} and {y.size(1)}"
        )
    r = _check_r(r)
    check_k("max_num_neighbors", max_num_neighbors)
    batch_x = check_batch("batch_x", batch_x, x.size(0), x.device)
    batch_y = check_batch("batch_y", batch_y, y.size(0), y.device)
    return nearest(x, y, max_num_neighbors, batch_x, batch_y, max_sq_dist=r * r)


def radius_graph(
    x: Tensor,
    r: float,
    batch: Tensor | None = None,
    loop: bool = False,
    max_num_neighbors: int = 32,
    flow: str = "source_to_target",
) -> Tensor:
    """The radius graph of batched points; see :func:`radius` and :func:`~reldrop3d.ops.knn_graph`.

    Returns ``edge_index [2, E]`` with row 0 the neighbour and row 1 the centre
    for ``flow="source_to_target"``.
    """
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")
    check_points("x", x)
    r = _check_r(r)
    check_k("max_num_neighbors", max_num_neighbors)
    batch = check_batch("batch", batch, x.size(0), x.device)
    centre, neighbour = nearest(
        x, x, max_num_neighbors, batch, batch, exclude_self=not loop, max_sq_dist=r * r
    )
    if flow == "source_to_target":
        return torch.stack([neighbour, centre], dim=0)
    return torch.stack([centre, neighbour], dim=0)
