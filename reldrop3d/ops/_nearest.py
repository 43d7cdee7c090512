"""The shared core of ``knn`` and ``radius``: k nearest neighbours in a batch.

For queries ``y`` and candidates ``x`` split into clouds by sorted batch
vectors, both are laid out densely as ``[B, M, C]`` and ``[B, N, C]``; the
squared distances ``[B, r, N]`` of a chunk of ``r`` query rows come from one
batched matrix product (padding already pushed to :data:`FAR`), and ``topk``
keeps the ``k`` nearest before the next chunk, so the ``[B, M, N]`` matrix is
never held whole. On a 2-core CPU the ``topk`` dominates (about 0.15 s for
``k = 20`` at 32 x 1024 points).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from reldrop3d.ops._batch import FAR, chunks, counts_and_ptr, num_clouds, sq_dist_factors


def nearest(
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
        _, ptr_x = counts_and_ptr(batch_x, size)
        _, ptr_y = counts_and_ptr(batch_y, size)
        n, m = xd.size(1), yd.size(1)
        kk = min(k, n)
        a, b = sq_dist_factors(yd, xd, mask_x)

        dist = yd.new_empty(size, m, kk)
        index = torch.empty(size, m, kk, dtype=torch.long, device=x.device)
        for rows in chunks(m, n, size):
            d = torch.bmm(a[:, rows], b)  # [B, r, N]
            if exclude_self:
                q = torch.arange(rows.start, min(rows.stop, n), device=x.device)
                d[:, q - rows.start, q] = FAR
            dist[:, rows], index[:, rows] = d.topk(kk, dim=-1, largest=False, sorted=True)

        valid = mask_y.unsqueeze(-1) & (dist < FAR / 2)
        if math.isfinite(max_sq_dist):
            valid &= dist <= max_sq_dist
        row = ptr_y[:-1].view(-1, 1, 1) + torch.arange(m, device=x.device).view(1, -1, 1)
        col = index + ptr_x[:-1].view(-1, 1, 1)
        return torch.stack([row.expand_as(col)[valid], col[valid]], dim=0)
