"""Farthest point sampling on batched point clouds."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.utils import to_dense_batch

from reldrop3d.ops._batch import check_batch, check_points, num_clouds
from reldrop3d.ops.segment import index_to_ptr


def fps(
    pos: Tensor,
    batch: Tensor | None = None,
    ratio: float = 0.5,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Greedy farthest point sampling, all clouds of the batch at once.

    Cloud ``i`` with ``n_i`` points gets exactly ``m_i = ceil(ratio * n_i)``
    samples. Starting from one point, each step adds the point farthest from
    those already chosen:

    .. math::
        s_{t+1} = \arg\max_{p \notin S_t} \min_{q \in S_t} \lVert p - q \rVert_2

    Ties go to the lowest index. No point is chosen twice, even among
    duplicates. The loop runs over the ``max_i m_i`` sampling steps, each a
    batched tensor operation over all clouds.

    Args:
        pos: points ``[N, C]``.
        batch: cloud of each point ``[N]`` (sorted), or ``None`` for one cloud.
        ratio: sampling ratio in ``(0, 1]``.
        random_start: start from a uniformly random point of each cloud.
            If ``False``, start from the point farthest from the cloud's
            centroid (lowest index on ties), so that the sample does not
            depend on the order of the points (``torch_cluster`` starts from
            the first point instead).
        generator: random source for the start points.

    Returns:
        ``LongTensor [sum_i m_i]`` of indices into ``pos``, cloud by cloud,
        each cloud's in sampling order.
    """
    check_points("pos", pos)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise ValueError(f"ratio must be a number in (0, 1], got {ratio!r}")
    batch = check_batch("batch", batch, pos.size(0), pos.device)
    size = num_clouds(batch)
    if size == 0:
        return torch.empty(0, dtype=torch.long, device=pos.device)

    points, mask = to_dense_batch(pos.detach(), batch, batch_size=size)  # [B, N, C], [B, N]
    ptr = index_to_ptr(batch, size)
    count = ptr.diff()
    # ceil in float64, so that e.g. 0.5 * 1024 is exactly 512
    m = torch.ceil(count.double() * float(ratio)).long().clamp_(max=count)
    steps = int(m.max())
    rows = torch.arange(size, device=pos.device)

    if random_start:
        u = torch.rand(size, generator=generator, device=pos.device, dtype=torch.float64)
        current = (u * count).long().clamp_(max=(count - 1).clamp_(min=0))
    else:
        weight = mask.unsqueeze(-1).to(points.dtype)
        centroid = (points * weight).sum(1, keepdim=True) / count.clamp(min=1).view(-1, 1, 1)
        spread = (points - centroid).square().sum(-1).masked_fill_(~mask, -math.inf)
        current = spread.argmax(dim=1)

    # min squared distance to the chosen set; padding is never chosen, chosen points are -1.
    # Channel-first layout and in-place updates: one step costs a few passes over [B, N].
    coords = points.permute(2, 0, 1).contiguous()  # [C, B, N]
    best = torch.full(mask.shape, math.inf, dtype=points.dtype, device=pos.device)
    best.masked_fill_(~mask, -math.inf)
    best_flat, offset = best.view(-1), rows * best.size(1)
    d, diff = torch.empty_like(best), torch.empty_like(best)
    chosen = torch.empty(size, steps, dtype=torch.long, device=pos.device)
    for t in range(steps):
        chosen[:, t] = current
        centre = coords[:, rows, current].unsqueeze(-1)  # [C, B, 1]
        d.zero_()
        for c in range(coords.size(0)):
            torch.sub(coords[c], centre[c], out=diff)
            d.addcmul_(diff, diff)
        torch.minimum(best, d, out=best)
        best_flat[offset + current] = -1.0
        current = best.argmax(dim=1)

    keep = torch.arange(steps, device=pos.device).unsqueeze(0) < m.unsqueeze(1)
    return (chosen + ptr[:-1].unsqueeze(1))[keep]
