"""Batch-vector helpers shared by the point operations.

A batch of ``B`` clouds holding ``N`` points in total is a flat ``[N, C]``
tensor and a sorted ``batch`` vector ``[N]`` with values in ``[0, B)``. The
operations pad it to ``[B, N_max, C]`` (with a ``[B, N_max]`` validity mask)
with PyG's ``to_dense_batch`` and compute distances there.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_points(name: str, x: Tensor) -> None:
    """Raise if ``x`` is not a floating ``[N, C]`` tensor of finite values."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, C], got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape [N, C], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")


def check_batch(name: str, batch: Tensor | None, num_points: int, device: torch.device) -> Tensor:
    """Return ``batch`` (all zeros when ``None``) after checking its shape and dtype."""
    if batch is None:
        return torch.zeros(num_points, dtype=torch.long, device=device)
    if not isinstance(batch, Tensor) or batch.dtype != torch.long or batch.dim() != 1:
        got = (
            f"{batch.dtype} tensor of shape {tuple(batch.shape)}"
            if isinstance(batch, Tensor)
            else type(batch).__name__
        )
        raise TypeError(f"{name} must be a 1-D torch.long tensor, got {got}")
    if batch.numel() != num_points:
        raise ValueError(
            f"{name} must hold one entry per point ({num_points}), got {batch.numel()}"
        )
    if batch.device != device:
        raise ValueError(f"{name} is on {batch.device} but the points are on {device}")
    return batch


def check_k(name: str, k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{name} must be a positive int, got {k!r}")
    return k


def num_clouds(*batches: Tensor) -> int:
    """Number of clouds ``B``: one more than the largest batch index (one host sync)."""
    sizes = [int(b.max()) + 1 for b in batches if b.numel() > 0]
    return max(sizes, default=0)


def counts_and_ptr(batch: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Points per cloud ``[B]`` and the CSR pointer ``[B + 1]`` for a sorted ``batch``."""
    count = torch.bincount(batch, minlength=size)
    ptr = torch.zeros(size + 1, dtype=torch.long, device=batch.device)
    torch.cumsum(count, 0, out=ptr[1:])
    return count, ptr


def sq_dist_factors(y: Tensor, x: Tensor, mask_x: Tensor) -> tuple[Tensor, Tensor]:
    """Factors ``(a [B, M, C+2], b [B, C+2, N])`` with ``a @ b = |y_i - x_j|^2``.

    ``a = [-2 y, |y|^2, 1]`` and ``b = [x, 1, |x|^2]^T``, so one batched matrix
    product per chunk gives all squared distances with no further pass over
    the ``[B, M, N]`` result. Padding candidates (``mask_x`` False) get the
    distance :data:`FAR`.
    """
    yy = y.pow(2).sum(-1, keepdim=True)
    xx = x.pow(2).sum(-1, keepdim=True).masked_fill(~mask_x.unsqueeze(-1), FAR)
    a = torch.cat([y * -2.0, yy, torch.ones_like(yy)], dim=-1)
    b = torch.cat([x, torch.ones_like(xx), xx], dim=-1).transpose(1, 2).contiguous()
    return a, b


FAR = 1e30  # squared distance given to padding and excluded candidates


def chunks(total_rows: int, cols: int, batch: int, budget: int = 1 << 22) -> list[slice]:
    """Split ``total_rows`` query rows so that ``batch * rows * cols <= budget`` per chunk."""
    per = max(1, budget // max(1, batch * cols))
    return [slice(s, min(s + per, total_rows)) for s in range(0, total_rows, per)]
