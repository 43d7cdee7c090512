r"""Which points to drop, for all clouds of a flat (PyG) batch at once.

Cloud ``i`` (``n_i`` points) normalises its relevance ``R`` to
:math:`r_p = (R_p - \min_i R) / (\max_i R - \min_i R) \in [0, 1]` (0 if constant); then

- ``"threshold"`` (the published rule) drops ``p`` iff
  :math:`\alpha U_p + (1 - \alpha) r_p \ge 1 - \beta`, :math:`U_p \sim U[0, 1)`;
- ``"topk"`` drops :math:`d_i = \operatorname{round}(\beta n_i)` points: the
  :math:`d_i - \operatorname{round}(\alpha d_i)` most relevant (ties at random) and
  :math:`\operatorname{round}(\alpha d_i)` uniformly at random among the rest;
- ``"sample"`` drops :math:`d_i` points drawn without replacement with probability
  :math:`\propto w_p = (1 - \alpha) r_p + \alpha / n_i`: the :math:`d_i` smallest
  :math:`E_p / w_p`, :math:`E_p \sim \operatorname{Exp}(1)` (Efraimidis-Spirakis).

Every cloud keeps ``floor = max(min_points, 1)`` points: ``topk``, ``sample`` drop
:math:`\min(d_i, n_i - \text{floor})`; a ``threshold`` cloud with more candidates keeps
its ``floor`` of smallest :math:`\alpha U_p + (1 - \alpha) r_p`. ``beta = 0`` drops
nothing; ``round`` is half-to-even. ``relevance [P]``, ``batch [P]`` (sorted cloud ids),
``ptr [B + 1]``; masks ``[P]`` bool, ``True`` = drop. Per-cloud min, max and counts are
``segment_csr`` over ``ptr``, ranks one sort of a (cloud, key) composite (:func:`_rank`).
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from reldrop3d.data.batching import check_batch_vector, describe
from reldrop3d.names import DROP_MODES as MODES
from reldrop3d.names import FILLS
from reldrop3d.ops.segment import segment_csr

__all__ = ["FILLS", "MODES", "random_point_mask", "relevance_mask"]


def relevance_mask(
    relevance: Tensor,
    batch: Tensor | None = None,
    alpha: float = 0.5,
    beta: float = 0.5,
    mode: str = "threshold",
    min_points: int = 32,
    generator: torch.Generator | None = None,
    *,
    ptr: Tensor | None = None,
    validate: bool = True,
) -> Tensor:
    r"""Which points RelDrop drops: ``[P]`` bool, ``True`` = drop (rules: module docstring).

    ``relevance [P]`` float (never modified); ``batch [P]`` sorted cloud ids (``None``:
    one cloud); ``alpha`` (randomness), ``beta`` (share to drop) in ``[0, 1]``;
    ``generator`` on the data's device (a seed drops the same points, drawn in flat point
    order); ``ptr [B + 1]`` (else ``B`` is read from ``batch[-1]``); ``validate``: check
    ``batch``/``ptr`` and that ``relevance`` is finite (one host read; a NaN names its cloud).
    """
    alpha, beta, mode, floor = _rule_args(alpha, beta, mode, min_points)
    ok = isinstance(relevance, Tensor) and relevance.is_floating_point() and relevance.ndim == 1
    if not ok:
        raise TypeError(f"relevance must be a 1-D floating-point tensor, got {describe(relevance)}")
    _check_generator(generator, relevance.device)
    size, device = relevance.numel(), relevance.device
    batch, ptr = check_batch_vector(batch, ptr, size, device=device, check_values=validate)
    if validate:
        _check_finite(relevance, batch, ptr)
    if beta == 0.0 or size == 0:
        return torch.zeros_like(relevance, dtype=torch.bool)
    dtype = torch.promote_types(relevance.dtype, torch.float32)
    relevance, sizes = relevance.detach().to(dtype), ptr.diff()
    if mode == "threshold":  # key = alpha U + (1 - alpha) r, in place on one new tensor
        key = _normalised(relevance, batch, ptr) if alpha < 1 else torch.zeros_like(relevance)
        if alpha > 0:
            u = torch.rand(size, generator=generator, dtype=dtype, device=device)
            key.mul_(1.0 - alpha).add_(u, alpha=alpha)
        return _guard(key >= 1.0 - beta, key, batch, ptr, floor)
    count = torch.minimum(torch.round(sizes.double() * beta).long(), (sizes - floor).clamp(min=0))
    count = count.index_select(0, batch)  # d_i of each point's cloud
    if mode == "topk":
        top = torch.zeros_like(relevance, dtype=torch.bool)
        if alpha < 1:  # the most relevant, ties in random order
            top_count = count - torch.round(count.double() * alpha).long()
            shuffle = torch.randperm(size, generator=generator, device=device)
            top = _rank(-relevance, batch, ptr, shuffle) < top_count
        if alpha == 0:
            return top
        u = torch.rand(size, generator=generator, device=device)
        return _rank(u.masked_fill_(top, -1.0), batch, ptr) < count
    e = torch.empty_like(relevance).exponential_(generator=generator)
    weight = _normalised(relevance, batch, ptr).mul_(1.0 - alpha)
    weight.add_(alpha / sizes.index_select(0, batch)).clamp_(min=1e-30)
    return _rank(e.div_(weight), batch, ptr) < count


def random_point_mask(
    batch: Tensor | None,
    max_ratio: float = 0.875,
    min_points: int = 1,
    generator: torch.Generator | None = None,
    *,
    num_points: int | None = None,
    ptr: Tensor | None = None,
    validate: bool = True,
) -> Tensor:
    r"""The PointNet++ random point dropout: ``[P]`` bool, ``True`` = drop.

    Per cloud a ratio :math:`\rho_i \sim U[0, \text{max\_ratio})` (``B`` draws), then
    ``p`` is dropped iff :math:`U_p \ge 1 - \rho_i` (``P`` draws), keeping at least
    ``max(min_points, 1)`` points (of smallest ``U``). Other arguments as in
    :func:`relevance_mask`; ``batch=None``: one cloud of ``num_points`` points.
    """
    max_ratio = _check_ratio("max_ratio", max_ratio)
    floor = max(_check_count("min_points", min_points), 1)
    num_points = None if num_points is None else _check_count("num_points", num_points)
    device = batch.device if isinstance(batch, Tensor) else getattr(generator, "device", None)
    _check_generator(generator, device)
    batch, ptr = check_batch_vector(batch, ptr, num_points, device=device, check_values=validate)
    ratio = torch.rand(ptr.numel() - 1, generator=generator, device=batch.device) * max_ratio
    u = torch.rand(batch.shape, generator=generator, device=batch.device)
    return _guard(u >= 1.0 - ratio.index_select(0, batch), u, batch, ptr, floor)


def _normalised(relevance: Tensor, batch: Tensor, ptr: Tensor) -> Tensor:
    """``r [P]`` in ``[0, 1]``: per-cloud min-max normalisation, 0 in constant clouds."""
    low = segment_csr(relevance, ptr, reduce="min")
    span = segment_csr(relevance, ptr, reduce="max") - low
    span = torch.where(span > 0, span, 1.0)
    return relevance.sub(low.index_select(0, batch)).div_(span.index_select(0, batch))


def _rank(key: Tensor, batch: Tensor, ptr: Tensor, order: Tensor | None = None) -> Tensor:
    r"""Rank ``[P]`` of every point within its cloud by ``key`` (ascending, from 0): one
    stable sort of the int64 :math:`2^{32} b_p + k_p`, :math:`k_p \in [0, 2^{32})` the
    float32 bits of ``key`` made order-preserving; ties keep the order of the permutation
    ``order`` (default: the points'). Sorted position ``s`` in cloud ``b``: rank ``s - ptr[b]``.
    """
    bits = key.float().add(0.0).view(torch.int32).long()  # + 0.0 turns -0.0 into 0.0
    composite = (batch << 32) + torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits) + 2**31
    if order is None:
        order = composite.argsort(stable=True)
    else:
        order = order.index_select(0, composite.index_select(0, order).argsort(stable=True))
    rank = torch.arange(key.numel(), device=key.device) - ptr.index_select(0, batch)
    return torch.empty_like(rank).scatter_(0, order, rank)


def _guard(drop: Tensor, key: Tensor, batch: Tensor, ptr: Tensor, floor: int) -> Tensor:
    """A cloud dropping over ``n_i - floor`` points keeps its ``floor`` of smallest ``key``."""
    over = segment_csr(drop.long(), ptr, reduce="sum") > (ptr.diff() - floor).clamp(min=0)
    if not bool(over.any()):  # rank (a sort) only if some cloud is over (one host read)
        return drop
    return torch.where(over.index_select(0, batch), _rank(key, batch, ptr) >= floor, drop)


def _check_finite(relevance: Tensor, batch: Tensor, ptr: Tensor) -> None:
    """The ``ValueError`` naming the first non-finite relevance (a float64 sum: one host read)."""
    if not bool(torch.isfinite(relevance.sum(dtype=torch.float64))):
        at = int((~torch.isfinite(relevance)).nonzero()[0])
        cloud = int(batch[at])
        raise ValueError(
            f"relevance must be finite, got {float(relevance[at])} in cloud {cloud} "
            f"(its point {at - int(ptr[cloud])})"
        )


def _check_ratio(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(value).__name__}")
    if not 0.0 <= float(value) <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {float(value)!r}")
    return float(value)


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        expected = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {expected}, got {value!r}")
    return value


def _check_generator(generator: torch.Generator | None, device: torch.device | None) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    if generator is not None and device is not None and generator.device.type != device.type:
        where = f"got a generator on {generator.device}"
        raise ValueError(f"generator must live on the data's device ({device.type}), {where}")


def _rule_args(alpha: float, beta: float, mode: str, min_points: int):
    """``(alpha, beta, mode, floor)``, checked; ``floor = max(min_points, 1)``."""
    alpha, beta = _check_ratio("alpha", alpha), _check_ratio("beta", beta)
    mode = _check_choice("mode", mode, MODES)
    return alpha, beta, mode, max(_check_count("min_points", min_points), 1)
