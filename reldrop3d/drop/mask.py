r"""Which points to drop, for all clouds of a flat (PyG) batch at once.

Per cloud ``i`` with ``n_i`` points, relevance ``R`` is min-max normalised,
:math:`r_p = (R_p - \min_i R) / (\max_i R - \min_i R) \in [0, 1]` (0 in a constant
cloud), then the mode decides:

- ``"threshold"`` (the published rule): drop ``p`` iff
  :math:`\alpha U_p + (1 - \alpha) r_p \ge 1 - \beta`, :math:`U_p \sim U[0, 1)`.
- ``"topk"``: drop exactly :math:`d_i = \operatorname{round}(\beta n_i)` points: the
  :math:`d_i - \operatorname{round}(\alpha d_i)` most relevant (ties at random), plus
  :math:`\operatorname{round}(\alpha d_i)` uniformly at random among the rest.
- ``"sample"``: drop :math:`d_i` points drawn without replacement with probability
  proportional to :math:`w_p = (1 - \alpha) r_p + \alpha / n_i` (Efraimidis-Spirakis:
  the :math:`d_i` smallest keys :math:`E_p / w_p`, :math:`E_p \sim \operatorname{Exp}(1)`).

Every cloud keeps at least ``floor = max(min_points, 1)`` points: ``topk`` and
``sample`` drop :math:`\min(d_i, n_i - \text{floor})`; a ``threshold`` cloud with more
than :math:`n_i - \text{floor}` candidates keeps its ``floor`` points of smallest key
:math:`\alpha U_p + (1 - \alpha) r_p`. ``beta = 0`` drops nothing; ``round`` is
half-to-even.

Shapes: ``relevance [P]``, ``batch [P]`` (sorted cloud ids), ``ptr [B + 1]``; masks
``[P]`` bool, ``True`` = drop. Per-cloud min, max and counts are ``segment_csr``
reductions over ``ptr``; ranks within clouds come from one sort of the composite key
(cloud, key) (:func:`_rank`); no loop over clouds. Random numbers are drawn in the
points' flat order, so a seed drops the same points whatever the batch's form.
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

    Args:
        relevance: ``[P]`` float, per-point relevance (never modified).
        batch: ``[P]`` long, the cloud of every point, sorted; ``None``: one cloud.
        alpha: randomness in ``[0, 1]``.
        beta: share of every cloud to drop, in ``[0, 1]``.
        mode: ``"threshold"``, ``"topk"`` or ``"sample"``.
        min_points: every cloud keeps at least ``max(min_points, 1)`` points.
        generator: random source on the data's device; the same seed drops the same points.
        ptr: ``[B + 1]`` CSR pointer (``Batch.ptr``); without it ``B`` is read from
            ``batch[-1]`` (a host read).
        validate: check ``batch``/``ptr`` and that ``relevance`` is finite (a NaN names
            its cloud; a host read). ``False`` trusts them (an unspecified mask for NaN).
    """
    rule = _rule_args(alpha, beta, mode, min_points)
    if (
        not isinstance(relevance, Tensor)
        or not relevance.is_floating_point()
        or relevance.ndim != 1
    ):
        raise TypeError(f"relevance must be a 1-D floating-point tensor, got {describe(relevance)}")
    _check_generator(generator, relevance.device)
    batch, ptr = check_batch_vector(
        batch, ptr, relevance.numel(), device=relevance.device, check_values=validate
    )
    return _rule_mask(relevance.detach(), batch, ptr, *rule, generator, validate)


def random_point_mask(
    batch: Tensor | None,
    max_ratio: float = 0.875,
    min_points: int = 1,
    generator: torch.Generator | None = None,
    *,
    num_points: int | None = None,
    ptr: Tensor | None = None,
) -> Tensor:
    r"""The PointNet++ random point dropout: ``[P]`` bool, ``True`` = drop.

    Per cloud a ratio :math:`\rho_i \sim U[0, \text{max\_ratio})` (``B`` draws), then
    ``p`` is dropped iff :math:`U_p \ge 1 - \rho_i` (``P`` draws); every cloud keeps at
    least ``max(min_points, 1)`` points (those of smallest ``U``). ``batch``/``ptr`` as
    in :func:`relevance_mask` (``batch=None``: one cloud of ``num_points`` points).
    """
    max_ratio = _check_ratio("max_ratio", max_ratio)
    floor = max(_check_count("min_points", min_points), 1)
    if batch is None and num_points is not None:
        num_points = _check_count("num_points", num_points)
    device = batch.device if isinstance(batch, Tensor) else getattr(generator, "device", None)
    _check_generator(generator, device)
    batch, ptr = check_batch_vector(batch, ptr, num_points, device=device)
    return _random_mask(batch, ptr, max_ratio, floor, generator)


# ---------------------------------------------------------------------------- cores
# on a checked batch vector: ``batch [P]`` sorted, ``ptr [B + 1]``


def _rule_mask(
    relevance: Tensor,
    batch: Tensor,
    ptr: Tensor,
    alpha: float,
    beta: float,
    mode: str,
    floor: int,
    generator: torch.Generator | None,
    validate: bool,
) -> Tensor:
    """:func:`relevance_mask` on checked arguments (``validate``: check finiteness)."""
    if validate:
        _check_finite(relevance, batch, ptr)
    if beta == 0.0 or relevance.numel() == 0:
        return torch.zeros_like(relevance, dtype=torch.bool)
    dtype, device = torch.promote_types(relevance.dtype, torch.float32), relevance.device
    relevance, sizes = relevance.to(dtype), ptr.diff()
    if mode == "threshold":  # key = alpha U + (1 - alpha) r, in place on one new tensor
        key = _normalised(relevance, batch, ptr) if alpha < 1 else torch.zeros_like(relevance)
        if alpha > 0:
            u = torch.rand(relevance.shape, generator=generator, dtype=dtype, device=device)
            key.mul_(1.0 - alpha).add_(u, alpha=alpha)
        return _guard(key >= 1.0 - beta, key, batch, ptr, floor)
    count = torch.minimum(torch.round(sizes.double() * beta).long(), (sizes - floor).clamp(min=0))
    count = count.index_select(0, batch)  # d_i of each point's cloud
    if mode == "topk":
        top = torch.zeros_like(relevance, dtype=torch.bool)
        if alpha < 1:  # the most relevant, ties in random order
            top_count = count - torch.round(count.double() * alpha).long()
            shuffle = torch.randperm(relevance.numel(), generator=generator, device=device)
            top = _rank(-relevance, batch, ptr, shuffle) < top_count
        if alpha == 0:
            return top
        u = torch.rand(relevance.shape, generator=generator, device=device)
        return _rank(u.masked_fill_(top, -1.0), batch, ptr) < count
    e = torch.empty_like(relevance).exponential_(generator=generator)
    weight = _normalised(relevance, batch, ptr).mul_(1.0 - alpha)
    weight.add_(alpha / sizes.index_select(0, batch)).clamp_(min=1e-30)
    return _rank(e.div_(weight), batch, ptr) < count


def _random_mask(
    batch: Tensor, ptr: Tensor, max_ratio: float, floor: int, generator: torch.Generator | None
) -> Tensor:
    ratio = torch.rand(ptr.numel() - 1, generator=generator, device=batch.device) * max_ratio
    u = torch.rand(batch.shape, generator=generator, device=batch.device)
    return _guard(u >= 1.0 - ratio.index_select(0, batch), u, batch, ptr, floor)


def _same_count_mask(
    drop: Tensor, batch: Tensor, ptr: Tensor, generator: torch.Generator | None
) -> Tensor:
    r"""As many drops per cloud as ``drop`` has, :math:`c_i = \sum_{p \in i} \text{drop}_p`,
    at a uniform subset of the cloud: the :math:`c_i` smallest of ``P`` new uniforms."""
    count = segment_csr(drop.long(), ptr, reduce="sum").index_select(0, batch)
    return (
        _rank(torch.rand(drop.shape, generator=generator, device=drop.device), batch, ptr) < count
    )


def _normalised(relevance: Tensor, batch: Tensor, ptr: Tensor) -> Tensor:
    """``r [P]`` in ``[0, 1]``: per-cloud min-max normalisation, 0 in constant clouds."""
    low = segment_csr(relevance, ptr, reduce="min")
    span = segment_csr(relevance, ptr, reduce="max") - low
    span = torch.where(span > 0, span, 1.0)
    return relevance.sub(low.index_select(0, batch)).div_(span.index_select(0, batch))


def _rank(key: Tensor, batch: Tensor, ptr: Tensor, order: Tensor | None = None) -> Tensor:
    r"""Rank ``[P]`` of every point within its cloud by ``key`` (ascending, from 0).

    One stable sort of the int64 composite key :math:`2^{32} b_p + k_p`, with
    :math:`k_p \in [0, 2^{32})` the float32 bits of ``key`` mapped to an
    order-preserving unsigned integer (keys compare as float32). Ties keep the order
    of ``order`` (a permutation of the points, e.g. a random one), else of the points.
    With ``batch`` sorted, sorted position ``s`` of cloud ``b`` has rank ``s - ptr[b]``.
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
    """``min_points``: a cloud that would drop more than ``n_i - floor`` points keeps its
    ``floor`` points of smallest ``key`` instead; ranks only if one does (a host read)."""
    over = segment_csr(drop.long(), ptr, reduce="sum") > (ptr.diff() - floor).clamp(min=0)
    if not bool(over.any()):
        return drop
    return torch.where(over.index_select(0, batch), _rank(key, batch, ptr) >= floor, drop)


def _check_finite(relevance: Tensor, batch: Tensor, ptr: Tensor) -> None:
    """Raise the ``ValueError`` naming the first cloud with a non-finite relevance."""
    # a float64 sum is finite iff every value is (one pass, one host read)
    if not bool(torch.isfinite(relevance.sum(dtype=torch.float64))):
        at = int((~torch.isfinite(relevance)).nonzero()[0])
        cloud = int(batch[at])
        raise ValueError(
            f"relevance must be finite, got {float(relevance[at])} in cloud {cloud} "
            f"(its point {at - int(ptr[cloud])})"
        )


# ---------------------------------------------------------------------------- arguments


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
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    if generator is not None and device is not None and generator.device.type != device.type:
        raise ValueError(
            f"generator must live on the data's device ({device.type}), "
            f"got a generator on {generator.device}"
        )


def _rule_args(alpha: float, beta: float, mode: str, min_points: int):
    """``(alpha, beta, mode, floor)``, checked; ``floor = max(min_points, 1)``."""
    alpha, beta = _check_ratio("alpha", alpha), _check_ratio("beta", beta)
    mode = _check_choice("mode", mode, MODES)
    return alpha, beta, mode, max(_check_count("min_points", min_points), 1)
