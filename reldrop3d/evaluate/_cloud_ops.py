r"""Per-cloud building blocks of the corruptions, on the padded grid of :mod:`._grid`.

All take ``[B, W, ...]`` tensors and a ``valid [B, W]`` mask, work on every
cloud at once (per-cloud reductions are reductions over rows) and draw
their random numbers from an optional ``torch.Generator``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reldrop3d.evaluate._grid import Grid

__all__ = [
    "nearest_mask",
    "normalize_box",
    "normalize_sphere",
    "random_point",
    "random_sign",
    "random_subset",
    "rank_in_row",
    "rotation_matrices",
    "uniform",
    "unit_ball",
]


def uniform(
    shape: tuple[int, ...],
    low: float | Tensor,
    high: float | Tensor,
    like: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """``U[low, high)`` samples of ``shape`` on ``like``'s device and dtype."""
    u = torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
    return low + (high - low) * u


def random_sign(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """``-1`` or ``+1`` with probability 1/2 each (``numpy.random.choice([-1, 1])``)."""
    bits = torch.randint(0, 2, shape, generator=generator, device=like.device)
    return (2 * bits - 1).to(like.dtype)


def rank_in_row(keys: Tensor) -> Tensor:
    """Rank of every entry within its row (0 = smallest; ties by column order): ``[B, W]``."""
    order = keys.argsort(dim=1, stable=True)
    ranks = torch.empty_like(order)
    cols = torch.arange(keys.size(1), device=keys.device).expand_as(order)
    return ranks.scatter_(1, order, cols)


def random_subset(valid: Tensor, count: Tensor, generator: torch.Generator | None) -> Tensor:
    """``count[b]`` distinct valid entries of each row, uniformly at random: bool ``[B, W]``."""
    keys = torch.rand(valid.shape, generator=generator, device=valid.device)
    keys = keys.masked_fill(~valid, 2.0)
    return (rank_in_row(keys) < count.unsqueeze(1)) & valid


def random_point(valid: Tensor, generator: torch.Generator | None) -> Tensor:
    """One valid column per row, uniformly at random ``[B]`` (any column if none is valid)."""
    keys = torch.rand(valid.shape, generator=generator, device=valid.device)
    return keys.masked_fill(~valid, -1.0).argmax(dim=1)


def nearest_mask(pos: Tensor, center: Tensor, alive: Tensor, count: Tensor) -> Tensor:
    """The ``count[b]`` alive points nearest to ``center[b]`` (the centre included): ``[B, W]``.

    Squared Euclidean distance; ties go to the lower column.
    """
    dist = (pos - center.unsqueeze(1)).square().sum(-1)
    dist = dist.masked_fill(~alive, float("inf"))
    return (rank_in_row(dist) < count.unsqueeze(1)) & alive


def unit_ball(shape: tuple[int, int], like: Tensor, generator: torch.Generator | None) -> Tensor:
    r"""Points uniform in the unit ball ``[*shape, 3]``, as ModelNet-C draws them.

    :math:`r = U^{1/3}`, :math:`\cos\theta \sim U[-1, 1]`, :math:`\phi \sim U[0, 2\pi)`.
    """
    radius = uniform(shape, 0.0, 1.0, like, generator).pow(1.0 / 3.0)
    cos_theta = uniform(shape, -1.0, 1.0, like, generator)
    phi = uniform(shape, 0.0, 2.0 * math.pi, like, generator)
    sin_theta = (1.0 - cos_theta.square()).clamp(min=0.0).sqrt()
    return torch.stack(
        [radius * sin_theta * phi.cos(), radius * sin_theta * phi.sin(), radius * cos_theta],
        dim=-1,
    )


def rotation_matrices(angles: Tensor) -> Tensor:
    r"""``R = R_z(\gamma) R_y(\beta) R_x(\alpha)`` for ``angles [B, 3] = (\alpha, \beta, \gamma)``.

    Returns ``[B, 3, 3]``; ModelNet-C applies it to row vectors, ``p' = p R``.
    """
    c, s = angles.cos(), angles.sin()
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])
    rx = torch.stack([one, zero, zero, zero, c[:, 0], -s[:, 0], zero, s[:, 0], c[:, 0]], -1)
    ry = torch.stack([c[:, 1], zero, s[:, 1], zero, one, zero, -s[:, 1], zero, c[:, 1]], -1)
    rz = torch.stack([c[:, 2], -s[:, 2], zero, s[:, 2], c[:, 2], zero, zero, zero, one], -1)
    rx, ry, rz = (m.view(-1, 3, 3) for m in (rx, ry, rz))
    return rz @ ry @ rx


def normalize_sphere(grid: Grid) -> Grid:
    r"""Centre each cloud on its centroid and scale its farthest point to radius 1.

    ModelNet-C's ``_pc_normalize``: :math:`p' = (p - \bar p) / \max_q \lVert q - \bar p\rVert`
    (a cloud of coincident points is only centred).
    """
    pos, valid, _ = grid
    w = valid.unsqueeze(-1).to(pos.dtype)
    n = w.sum(1, keepdim=True).clamp(min=1.0)
    centred = (pos - (pos * w).sum(1, keepdim=True) / n) * w
    radius = centred.norm(dim=-1).amax(dim=1).view(-1, 1, 1)
    radius = torch.where(radius > 0, radius, torch.ones_like(radius))
    return grid._replace(pos=centred / radius)


def normalize_box(grid: Grid) -> Grid:
    r"""Centre each cloud's bounding box at 0 and scale its longest side to 2.

    ModelNet40-C's ``normalize``: per axis :math:`p'_a = p_a - (\max_a + \min_a) / 2`,
    then :math:`p' \cdot 2 / \max_a(\max_a - \min_a)` (a degenerate cloud is only centred).
    """
    pos, valid, _ = grid
    big = torch.finfo(pos.dtype).max
    v = valid.unsqueeze(-1)
    high = pos.masked_fill(~v, -big).amax(dim=1, keepdim=True)
    low = pos.masked_fill(~v, big).amin(dim=1, keepdim=True)
    extent = (high - low).amax(dim=-1, keepdim=True)
    extent = torch.where(extent > 0, extent, torch.full_like(extent, 2.0))
    out = (pos - (high + low) / 2) * (2.0 / extent)
    return grid._replace(pos=out * v)
