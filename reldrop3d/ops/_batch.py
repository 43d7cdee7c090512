"""Argument checks and batch-vector helpers shared by the point operations.

A batch of ``B`` clouds holding ``N`` points in total is a flat ``[N, C]``
tensor and a sorted ``batch`` vector ``[N]`` with values in ``[0, B)``.
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
