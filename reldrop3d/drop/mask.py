r"""The dropping rules: which points of each cloud to drop.

Functional core of the droppers. Every rule works on all clouds of a batch
at once, in the padded ``[B, W]`` grid of :mod:`reldrop3d.drop._layout`:
per-cloud reductions are reductions over rows, no Python loop runs over the
clouds, and no value goes to the host on the way (the two exceptions, both
documented below, are the optional validation and a CPU-only shortcut).

Per cloud ``i`` with ``n_i`` points and relevance ``R``, the relevance is
first normalised by the cloud's own extremes,

.. math::
    r_p = \frac{R_p - \min_i R}{\max_i R - \min_i R} \in [0, 1]
    \qquad (r_p = 0 \text{ when the cloud is constant}),

then the mode decides:

- ``"threshold"`` (the published rule): drop ``p`` iff
  :math:`\alpha U_p + (1 - \alpha) r_p \ge 1 - \beta`, :math:`U_p \sim U[0, 1)`.
- ``"topk"``: drop exactly :math:`d_i = \operatorname{round}(\beta n_i)` points: the
  :math:`d_i - \operatorname{round}(\alpha d_i)` most relevant ones (ties broken at
  random), plus :math:`\operatorname{round}(\alpha d_i)` chosen uniformly at random
  among the rest.
- ``"sample"``: drop :math:`d_i` points drawn without replacement with
  probability proportional to :math:`w_p = (1 - \alpha) r_p + \alpha / n_i`
  (Efraimidis-Spirakis: the :math:`d_i` smallest keys :math:`E_p / w_p`,
  :math:`E_p \sim \operatorname{Exp}(1)`; zero-weight points come last, in random
  order).

In every mode a cloud keeps at least ``floor = max(min_points, 1)`` points
(one with ``n_i <= floor``, a single-point cloud included, is left whole):
``topk`` and ``sample`` drop :math:`\min(d_i, n_i - \text{floor})`. For
``threshold``, a cloud whose candidates exceed :math:`n_i - \text{floor}` keeps
exactly ``floor`` points, those of smallest key
:math:`\alpha U_p + (1 - \alpha) r_p` (the rule's own order), so it drops the
:math:`n_i - \text{floor}` candidates the rule ranks highest. ``beta = 0``
drops nothing in every mode (the literal threshold rule would drop the points
with :math:`r_p = 1` when ``alpha = 0``); ``round`` is half-to-even.

Speed (CPU, 2 cores, medians of interleaved runs; see
``benchmarks/dropper_speed.py``): the ``threshold`` rule costs one generator
call for every two points (:mod:`reldrop3d.drop._random`), row-wise ``amin``
and ``amax``, four elementwise passes and a row count; it never sorts. The
``min_points`` guard needs per-cloud ranks only in clouds that would drop too
many, so on a CPU it first checks for such clouds (free there: no device) and
does nothing more in the usual case; on an accelerator, where that check
would be a host sync, the guard always runs (a ``topk`` per row, no
sync) and is applied through ``torch.where``. Alternatives measured here at
32 x 1024 and rejected: ``segment_csr`` min/max over ``ptr`` (45-80 us each,
against 5 us per row reduction), per-point gathers of per-cloud values
(20-90 us each, none needed in the grid), ``torch.rand`` (94 us, against
46 us for the split 31-bit draws), and sorting on (cloud, key) for ranks
(1.3-2.4 ms: ``topk``/``sample``/the guard use unsorted ``topk`` selections,
:mod:`reldrop3d.drop._select`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from reldrop3d.drop._checks import (
    check_count,
    check_generator,
    check_generator_device,
    check_ratio,
    check_rule_args,
    check_same_device,
    describe,
)
from reldrop3d.drop._layout import Layout, ptr_from_batch
from reldrop3d.drop._random import U15_SCALE, exponential, uniform15, uniform31
from reldrop3d.drop._select import select_smallest

__all__ = ["relevance_mask", "random_point_mask", "drop_grid", "random_grid", "finite_flag"]

_INF = float("inf")


# ---------------------------------------------------------------------------
# public functions


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
    r"""Which points RelDrop drops, for all clouds of a flat (PyG) batch at once.

    See :mod:`reldrop3d.drop.mask` for the three rules and the ``min_points``
    guard.

    Args:
        relevance: per-point relevance ``[P]`` (any real floating dtype; it is
            detached and never modified).
        batch: cloud of each point ``[P]`` (long, sorted, as PyG builds it), or
            ``None`` for a single cloud.
        alpha: randomness in ``[0, 1]``: weight of the uniform draw (threshold),
            share of random picks (topk), uniform part of the weights (sample).
        beta: in ``[0, 1]``: largest share of each cloud to drop.
        mode: ``"threshold"``, ``"topk"`` or ``"sample"``.
        min_points: every cloud keeps at least ``max(min_points, 1)`` points.
        generator: random source (on the data's device); the same seed drops
            the same points.
        ptr: the batch's CSR pointer ``[B + 1]`` (``Batch.ptr``), optional. A
            CPU ``ptr`` saves the one device sync that reading the sizes of a
            GPU batch otherwise costs.
        validate: check that ``relevance`` is finite (and ``batch`` sorted).
            One host sync, cheap on a CPU; on a GPU pass ``False`` in a loop
            that must not sync. NaN relevance would otherwise silently keep a
            whole cloud (every comparison with NaN is false).

    Returns:
        ``BoolTensor [P]``, ``True`` = drop.

    Raises:
        ValueError, TypeError: bad arguments, unsorted ``batch``, non-finite
            relevance (the message names the cloud).
    """
    alpha, beta, mode, floor = check_rule_args(alpha, beta, mode, min_points)
    check_generator(generator)
    if (
        not isinstance(relevance, Tensor)
        or not relevance.is_floating_point()
        or (relevance.dim() != 1)
    ):
        raise TypeError(
            f"relevance must be a 1-D floating-point tensor [num_points], got {describe(relevance)}"
        )
    check_generator_device(generator, relevance.device)
    relevance = relevance.detach()
    num_points = relevance.numel()
    batch, ptr_host, ptr_dev = _check_batch(batch, ptr, num_points, relevance.device)
    layout = Layout.from_ptr(ptr_host, ptr_dev, batch)
    grid = layout.pad(relevance, 0)
    drop, finite = drop_grid(grid, layout, alpha, beta, mode, floor, generator)
    if validate:
        ok = finite if finite is not None else finite_flag(grid, layout)
        if num_points > 1 and ptr is None:
            ok = ok & (batch[1:] >= batch[:-1]).all()
        if not bool(ok):
            if num_points > 1 and ptr is None and not bool((batch[1:] >= batch[:-1]).all()):
                at = int((batch[1:] < batch[:-1]).nonzero()[0]) + 1
                raise ValueError(
                    f"batch must be sorted (non-decreasing), got batch[{at}] = "
                    f"{int(batch[at])} after {int(batch[at - 1])}"
                )
            raise_non_finite(relevance, batch)
    return layout.unpad(drop)


def random_point_mask(
    batch: Tensor | None,
    max_ratio: float = 0.875,
    min_points: int = 1,
    generator: torch.Generator | None = None,
    *,
    num_points: int | None = None,
    ptr: Tensor | None = None,
) -> Tensor:
    r"""The PointNet++ random point dropout, for all clouds of a flat batch at once.

    Per cloud a ratio :math:`\rho_i \sim U[0, \text{max\_ratio})`, then each point is
    dropped with probability :math:`\rho_i` (drop iff :math:`U_p \ge 1 - \rho_i`),
    keeping at least ``max(min_points, 1)`` points (those of smallest ``U``).
    Draws: ``B`` ratios, then ``P`` uniforms.

    Args:
        batch: cloud of each point ``[P]`` (sorted), or ``None`` for one cloud of
            ``num_points`` points.
        max_ratio: largest ratio, in ``[0, 1]``.
        min_points: points every cloud keeps (at least 1).
        generator: random source.
        num_points: ``P``, needed only when ``batch`` is ``None``.
        ptr: optional CSR pointer ``[B + 1]``, as in :func:`relevance_mask`.

    Returns:
        ``BoolTensor [P]``, ``True`` = drop.
    """
    max_ratio = check_ratio("max_ratio", max_ratio)
    floor = max(check_count("min_points", min_points), 1)
    check_generator(generator)
    if batch is None:
        if num_points is None:
            raise ValueError("num_points must be given when batch is None, got None")
        num_points = check_count("num_points", num_points)
        device = generator.device if generator is not None else torch.device("cpu")
    else:
        if not isinstance(batch, Tensor):
            raise TypeError(f"batch must be a 1-D long tensor [num_points], got {describe(batch)}")
        num_points = batch.numel()
        device = batch.device
    check_generator_device(generator, device)
    batch, ptr_host, ptr_dev = _check_batch(batch, ptr, num_points, device)
    layout = Layout.from_ptr(ptr_host, ptr_dev, batch)
    return layout.unpad(random_grid(layout, max_ratio, floor, generator))


# ---------------------------------------------------------------------------
# grid-level core, shared by the flat and the dense forms


def drop_grid(
    relevance: Tensor,
    layout: Layout,
    alpha: float,
    beta: float,
    mode: str,
    floor: int,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor | None]:
    """Drop mask ``[B, W]`` of a rule on the grid, and a 0-d bool "relevance finite"
    when the rule computed it on the way (``None`` otherwise: see :func:`finite_flag`).

    ``relevance`` is ``[B, W]``; its entries outside ``layout.valid`` are ignored.
    """
    if mode == "threshold":
        return _threshold(relevance, layout, alpha, beta, floor, generator)
    if mode == "topk":
        return _topk(relevance, layout, alpha, beta, floor, generator)
    return _sample(relevance, layout, alpha, beta, floor, generator)


def random_grid(
    layout: Layout, max_ratio: float, floor: int, generator: torch.Generator | None
) -> Tensor:
    """Drop mask ``[B, W]`` of the random point dropout (see :func:`random_point_mask`)."""
    ratio = torch.rand(layout.num_clouds, device=layout.device, generator=generator)
    ratio.mul_(max_ratio)
    if layout.width <= floor or max_ratio == 0.0:
        return _nothing(layout)
    key = layout.pad(uniform15(layout.num_points, layout.device, generator), -1)
    drop = key >= ((1.0 - ratio) / U15_SCALE).unsqueeze(1)  # U >= 1 - ratio
    return _guard(drop, key, layout, floor)


def raise_non_finite(relevance: Tensor, batch: Tensor | None, width: int | None = None) -> None:
    """Raise the ``ValueError`` naming the first cloud with a non-finite relevance.

    Error path only (host syncs). ``width`` given: ``relevance`` is dense ``[B, N]``.
    """
    flat = relevance.reshape(-1)
    bad = (~torch.isfinite(flat)).nonzero()
    if bad.numel() == 0:
        return
    at = int(bad[0])
    if width is not None:
        cloud, where = at // width, f"point {at % width} of the cloud"
    else:
        cloud = int(batch[at]) if batch is not None else 0
        where = f"point {at} of the batch"
    raise ValueError(f"relevance must be finite, got {float(flat[at])} in cloud {cloud} ({where})")


# ---------------------------------------------------------------------------
# the rules


def _threshold(
    relevance: Tensor,
    layout: Layout,
    alpha: float,
    beta: float,
    floor: int,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor | None]:
    if layout.width <= floor or beta == 0.0:
        return _nothing(layout), None
    finite = None
    if alpha == 0:  # the literal rule: r >= 1 - beta
        key, finite = _normalise(relevance, layout)
        drop = key >= 1.0 - beta
    elif alpha == 1:  # v >= (1 - beta) 2^15, v = U 2^15 in [0, 2^15); padding -1
        key = layout.pad(uniform15(layout.num_points, layout.device, generator), -1)
        drop = key >= (1.0 - beta) / U15_SCALE
    else:
        # alpha U + (1 - alpha) r >= 1 - beta, divided by c = alpha 2^-15 > 0:
        #     v + (R - lo) s >= (1 - beta) / c,   s = (1 - alpha) / (c (hi - lo)),
        # three passes over the grid, in place on one fresh tensor (an ``addcmul`` on a
        # temporary took 5x longer at 128 x 2048: two fresh 1 MB buffers page-fault); ``key``
        # orders every cloud's points exactly as the rule's alpha U + (1 - alpha) r does.
        v = layout.pad(uniform15(layout.num_points, layout.device, generator), 0)
        rel, lo, span, finite = _extremes(relevance, layout)
        c = alpha * U15_SCALE
        # constant cloud: scale 0, r = 0
        scale = torch.where(span > 0, span, _INF).reciprocal_().mul_((1.0 - alpha) / c)
        key = rel.sub(lo).mul_(scale).add_(v)  # padding: -inf (empty clouds: NaN)
        drop = key >= (1.0 - beta) / c
    return _guard(drop, key, layout, floor), finite


def _topk(
    relevance: Tensor,
    layout: Layout,
    alpha: float,
    beta: float,
    floor: int,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor | None]:
    finite = None
    count, k_max = _drop_counts(layout, beta, floor)
    if k_max == 0:
        return _nothing(layout), finite
    device, n = layout.device, layout.num_points
    if alpha < 1:
        # key: relevance descending, then 31 random bits. Non-negative float32 values
        # order like their bit patterns; x ^ 0x7FFFFFFF orders the negative ones.
        bits = (relevance.to(torch.float32) + 0.0).view(torch.int32)  # + 0.0: -0 -> +0
        bits = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # ascending with the value
        tie = layout.pad(uniform31(n, device, generator), 0)
        key = (~bits).to(torch.int64).bitwise_left_shift_(31).bitwise_or_(tie)
        top_count = count - torch.round(count.double() * alpha).long()
        top = select_smallest(key, top_count, k_max - round(alpha * k_max), layout.valid)
        if alpha == 0:
            return top, finite
    share = layout.pad(uniform31(n, device, generator).to(torch.int64), 0)  # < int32 max
    if alpha < 1:
        share.masked_fill_(top, -1)  # the top ones first, then the random share
    return select_smallest(share, count, k_max, layout.valid), finite


def _sample(
    relevance: Tensor,
    layout: Layout,
    alpha: float,
    beta: float,
    floor: int,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor | None]:
    count, k_max = _drop_counts(layout, beta, floor)
    if k_max == 0:
        return _nothing(layout), None
    key = layout.pad(exponential(layout.num_points, layout.device, generator), 1.0)
    if alpha < 1:
        weight, finite = _normalise(relevance, layout)
        weight.mul_(1.0 - alpha)
        if alpha > 0:
            weight.add_(alpha / layout.counts.to(weight.dtype).unsqueeze(1))
    else:
        weight = (1.0 / layout.counts.to(torch.float32)).unsqueeze(1)
        finite = None
    # zero weights -> 1e-30: after every positive weight, in the order of E
    key = key / weight.clamp_(min=1e-30)
    return select_smallest(key, count, k_max, layout.valid), finite


# ---------------------------------------------------------------------------
# helpers


def _extremes(relevance: Tensor, layout: Layout) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(rel, lo, span, finite)``: float32 relevance ``[B, W]`` with padding ``-inf``, the
    per-cloud min and ``max - min`` ``[B, 1]``, and the 0-d flag "all valid values finite"
    (``inf - inf`` is NaN and ``inf - x`` infinite, so the span alone tells)."""
    rel = relevance.to(torch.float32)
    if layout.valid is None:
        lo = rel.amin(1, keepdim=True)
        span = rel.amax(1, keepdim=True).sub_(lo)
        finite = torch.isfinite(span).all()
    else:
        rel = rel.masked_fill(~layout.valid, -_INF)
        lo = rel.masked_fill(~layout.valid, _INF).amin(1, keepdim=True)
        span = rel.amax(1, keepdim=True).sub_(lo)
        finite = (torch.isfinite(span) | (layout.counts == 0).unsqueeze(1)).all()
    return rel, lo, span, finite


def _normalise(relevance: Tensor, layout: Layout) -> tuple[Tensor, Tensor]:
    """``r [B, W]`` in ``[0, 1]`` per cloud (padding ``-inf``), and the finiteness flag."""
    rel, lo, span, finite = _extremes(relevance, layout)
    span = torch.where(span > 0, span, 1.0)  # constant cloud: r = 0
    return (rel - lo).div_(span), finite


def finite_flag(relevance: Tensor, layout: Layout) -> Tensor:
    """0-d bool: every valid relevance value of the grid ``[B, W]`` is finite."""
    ok = torch.isfinite(relevance)
    if layout.valid is not None:
        ok = ok | ~layout.valid
    return ok.all()


def _nothing(layout: Layout) -> Tensor:
    return torch.zeros(layout.num_clouds, layout.width, dtype=torch.bool, device=layout.device)


def _drop_counts(layout: Layout, beta: float, floor: int) -> tuple[Tensor, int]:
    r"""``d_i = min(round(beta n_i), max(n_i - floor, 0))`` ``[B]``, and its value ``K`` at
    ``n = W``: ``d`` is non-decreasing in ``n`` with steps of at most one, so ``K`` bounds
    every ``d_i`` and ``K - d_i <= W - n_i`` (what :func:`select_smallest` needs)."""
    n = layout.counts
    count = torch.minimum(torch.round(n.double() * beta).long(), (n - floor).clamp(min=0))
    k_max = min(round(beta * layout.width), max(layout.width - floor, 0))
    return count, k_max


def _guard(drop: Tensor, key: Tensor, layout: Layout, floor: int) -> Tensor:
    """Enforce ``min_points`` on a threshold-rule mask: a cloud with more than
    ``n_i - floor`` candidates keeps its ``floor`` points of smallest ``key``."""
    valid = layout.valid
    if valid is None:  # every cloud has W > floor points
        over = _row_counts(drop) > layout.width - floor
    else:
        counts = layout.counts
        drop &= (counts > floor).unsqueeze(1)  # clouds at or under the floor stay whole
        over = _row_counts(drop) > (counts - floor).clamp_(min=0)
    if _checks_are_free(drop.device):
        # CPU: checking costs no device sync, and almost always finds nothing to do.
        if not bool(over.any()):
            return drop
        rows = over.nonzero().view(-1)
        sub_valid = None if valid is None else valid.index_select(0, rows)
        keep = select_smallest(_widen(key.index_select(0, rows)), floor, floor, sub_valid)
        fixed = keep.logical_not_()
        if sub_valid is not None:
            fixed &= sub_valid
        return drop.index_copy_(0, rows, fixed)
    # accelerator: no host sync, the guard runs on every row and is selected per row
    keep = select_smallest(_widen(key), floor, floor, valid)
    fixed = keep.logical_not_()
    if valid is not None:
        fixed &= valid
    return torch.where(over.unsqueeze(1), fixed, drop)


def _checks_are_free(device: torch.device) -> bool:
    """Whether reading a tensor value on the host is free (no device to wait for)."""
    return device.type == "cpu"


def _row_counts(mask: Tensor) -> Tensor:
    """``True`` entries per row of a bool ``[B, W]``: summed as ``uint8`` into ``int32``,
    1.6x faster here than ``mask.sum(1)`` (which widens every entry to ``int64``)."""
    return mask.view(torch.uint8).sum(1, dtype=torch.int32)


def _widen(key: Tensor) -> Tensor:
    """Small integer keys (``int16`` draws, padding -1) to ``int32``, so that no valid key
    equals the padding bound of :func:`select_smallest`."""
    return key.to(torch.int32) if key.dtype in (torch.int16, torch.uint8) else key


def _check_batch(
    batch: Tensor | None, ptr: Tensor | None, num_points: int, device: torch.device
) -> tuple[Tensor, np.ndarray, Tensor]:
    """``(batch, ptr_host, ptr)`` after checking shapes, dtypes and devices."""
    if batch is None:
        batch = torch.zeros(num_points, dtype=torch.long, device=device)
        ptr_host = np.array([0, num_points], dtype=np.int64)
        return batch, ptr_host, torch.from_numpy(ptr_host).to(device)
    if not isinstance(batch, Tensor) or batch.dtype != torch.long or batch.dim() != 1:
        raise TypeError(f"batch must be a 1-D long tensor [num_points], got {describe(batch)}")
    if batch.numel() != num_points:
        raise ValueError(f"batch must hold one entry per point ({num_points}), got {batch.numel()}")
    check_same_device("batch", batch, device)
    if ptr is None:
        ptr_host, ptr_dev = ptr_from_batch(batch)
        return batch, ptr_host, ptr_dev
    if (
        not isinstance(ptr, Tensor)
        or ptr.dtype != torch.long
        or ptr.dim() != 1
        or (ptr.numel() < 1)
    ):
        raise TypeError(f"ptr must be a 1-D long tensor [num_clouds + 1], got {describe(ptr)}")
    ptr_host = ptr.cpu().numpy()
    if int(ptr_host[0]) != 0 or int(ptr_host[-1]) != num_points:
        raise ValueError(
            f"ptr must run from 0 to num_points ({num_points}), got "
            f"{int(ptr_host[0])} to {int(ptr_host[-1])}"
        )
    return batch, ptr_host, ptr.to(device)
