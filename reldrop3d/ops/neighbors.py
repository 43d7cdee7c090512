r"""k-nearest-neighbour and ball queries on batched point clouds, and their graphs.

For queries ``y`` and candidates ``x`` split into clouds by sorted batch
vectors, both are laid out densely as ``[B, M, C]`` and ``[B, N, C]``; the
squared distances ``[B, r, N]`` of a chunk of ``r`` query rows come from one
batched matrix product, :math:`\lVert y_i - x_j \rVert^2 = a_i \cdot b_j` with
:math:`a = [-2y, \lVert y \rVert^2, 1]` and :math:`b = [x, 1, \lVert x \rVert^2]`
(padding pushed to :data:`FAR`), and ``topk`` keeps the ``k`` nearest before the
next chunk, so the ``[B, M, N]`` matrix is never held whole.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from reldrop3d.ops._batch import check_batch, check_k, check_points, num_clouds
from reldrop3d.ops.segment import index_to_ptr

FAR = 1e30  # squared distance given to padding and excluded candidates
_BUDGET = 1 << 22  # distances per chunk


def _nearest(
    x: Tensor,
    y: Tensor,
    k: int,
    batch_x: Tensor,
    batch_y: Tensor,
    exclude_self: bool = False,
    max_sq_dist: float = math.inf,
) -> Tensor:
    """Edges ``[2, E]`` from each query of ``y`` (row 0) to its nearest points of ``x`` (row 1).

    Each query gets the ``min(k, n)`` nearest candidates of its own cloud
    (``n`` = candidates in that cloud, minus itself when ``exclude_self``),
    restricted to squared distance ``<= max_sq_dist``. Edges are ordered by
    query index, then by increasing distance. ``exclude_self`` requires
    ``x is y`` in layout: query ``i`` is never its own neighbour (by index, so
    duplicated points still neighbour each other).
    """
    size = num_clouds(batch_x, batch_y)
    if size == 0 or x.numel() == 0 or y.numel() == 0:
        return torch.empty(2, 0, dtype=torch.long, device=x.device)
    with torch.no_grad():
        xd, mask_x = to_dense_batch(x.detach(), batch_x, batch_size=size)  # [B, N, C], [B, N]
        yd, mask_y = to_dense_batch(y.detach(), batch_y, batch_size=size)  # [B, M, C], [B, M]
        n, m = xd.size(1), yd.size(1)
        kk = min(k, n)
        yy = yd.pow(2).sum(-1, keepdim=True)
        xx = xd.pow(2).sum(-1, keepdim=True).masked_fill(~mask_x.unsqueeze(-1), FAR)
        a = torch.cat([yd * -2.0, yy, torch.ones_like(yy)], dim=-1)
        b = torch.cat([xd, torch.ones_like(xx), xx], dim=-1).transpose(1, 2).contiguous()

        dist = yd.new_empty(size, m, kk)
        index = torch.empty(size, m, kk, dtype=torch.long, device=x.device)
        per = max(1, _BUDGET // max(1, size * n))
        for start in range(0, m, per):
            rows = slice(start, min(start + per, m))
            d = torch.bmm(a[:, rows], b)  # [B, r, N]
            if exclude_self:
                q = torch.arange(rows.start, min(rows.stop, n), device=x.device)
                d[:, q - rows.start, q] = FAR
            dist[:, rows], index[:, rows] = d.topk(kk, dim=-1, largest=False, sorted=True)

        valid = mask_y.unsqueeze(-1) & (dist < FAR / 2)
        if math.isfinite(max_sq_dist):
            valid &= dist <= max_sq_dist
        ptr_x, ptr_y = index_to_ptr(batch_x, size), index_to_ptr(batch_y, size)
        row = ptr_y[:-1].view(-1, 1, 1) + torch.arange(m, device=x.device).view(1, -1, 1)
        col = index + ptr_x[:-1].view(-1, 1, 1)
        return torch.stack([row.expand_as(col)[valid], col[valid]], dim=0)


def _check_pair(x: Tensor, y: Tensor, batch_x, batch_y) -> tuple[Tensor, Tensor]:
    check_points("x", x)
    check_points("y", y)
    if x.size(1) != y.size(1):
        raise ValueError(
            f"x and y must have the same number of channels, got {x.size(1)} and {y.size(1)}"
        )
    return (
        check_batch("batch_x", batch_x, x.size(0), x.device),
        check_batch("batch_y", batch_y, y.size(0), y.device),
    )


def _check_r(r: float) -> float:
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0:
        raise ValueError(f"r must be a positive number, got {r!r}")
    return float(r)


def _check_flow(flow: str) -> None:
    if flow not in ("source_to_target", "target_to_source"):
        raise ValueError(f"flow must be 'source_to_target' or 'target_to_source', got {flow!r}")


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
    batch_x, batch_y = _check_pair(x, y, batch_x, batch_y)
    return _nearest(x, y, check_k("k", k), batch_x, batch_y)


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
    _check_flow(flow)
    check_points("x", x)
    check_k("k", k)
    batch = check_batch("batch", batch, x.size(0), x.device)
    edges = _nearest(x, x, k, batch, batch, exclude_self=not loop)  # [centre, neighbour]
    return edges.flip(0) if flow == "source_to_target" else edges


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
    batch_x, batch_y = _check_pair(x, y, batch_x, batch_y)
    r = _check_r(r)
    k = check_k("max_num_neighbors", max_num_neighbors)
    return _nearest(x, y, k, batch_x, batch_y, max_sq_dist=r * r)


def radius_graph(
    x: Tensor,
    r: float,
    batch: Tensor | None = None,
    loop: bool = False,
    max_num_neighbors: int = 32,
    flow: str = "source_to_target",
) -> Tensor:
    """The radius graph of batched points; see :func:`radius` and :func:`knn_graph`.

    Returns ``edge_index [2, E]`` with row 0 the neighbour and row 1 the centre
    for ``flow="source_to_target"``.
    """
    _check_flow(flow)
    check_points("x", x)
    r = _check_r(r)
    k = check_k("max_num_neighbors", max_num_neighbors)
    batch = check_batch("batch", batch, x.size(0), x.device)
    edges = _nearest(x, x, k, batch, batch, exclude_self=not loop, max_sq_dist=r * r)
    return edges.flip(0) if flow == "source_to_target" else edges
