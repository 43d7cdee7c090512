r"""Explanation-guidance losses on point clouds: energy, RRR and CYBORG, one value per cloud.

Notation, for the ``n_i`` points :math:`p` of cloud :math:`i`: :math:`A_p` the
attribution of the explained class (any real number), :math:`A^+_p = \max(A_p, 0)`,
and :math:`M_p \in [0, 1]` the mask of where the model *should* look
(1 = allowed, e.g. the object's own parts; 0 = not allowed, e.g. a decoy).

- **energy** (Rao, Böhle, Parchami-Araghi and Schiele, ICCV 2023, with
  per-point masks in place of boxes):
  :math:`L_i = 1 - \sum_p A^+_p M_p / \sum_p A^+_p = \sum_p A^+_p (1 - M_p) / \sum_p A^+_p`,
  the share of positive attribution outside the mask; in [0, 1].
- **rrr** ("right for the right reasons", Ross, Hughes and Doshi-Velez, IJCAI
  2017, with the attribution normalised per cloud):
  :math:`L_i = \sum_p \big((1 - M_p)\, A_p / \max_q |A_q|\big)^2`.
- **cyborg** (Boyd, Tinsley, Bowyer and Czajka, WACV 2023; the CYBORG code
  compares a min-max normalised class activation map with human saliency by
  mean squared error): :math:`L_i = \frac{1}{n_i}\sum_p (\hat A_p - M_p)^2` with
  :math:`\hat A_p = (A_p - \min_q A_q) / (\max_q A_q - \min_q A_q)`.

When is a loss zero: energy and rrr are 0 exactly when no attribution of the
right kind lies outside the mask (energy: no *positive* attribution outside;
rrr: no attribution of either sign outside) and positive otherwise. CYBORG
asks for more: the normalised map must *equal* the mask, so it is 0 when the
attribution is constant on the allowed points and at its minimum on the
others (e.g. :math:`A = c M`, :math:`c > 0`), and positive otherwise, also
for a map that lies inside the mask but is not flat there.

Degenerate clouds, defined so that neither the value nor the gradient is
``nan`` (no division by zero is ever evaluated, also not in the backward):

- energy: no positive attribution (:math:`\sum A^+ = 0`) gives 0 (nothing
  lies outside the mask), with zero gradient;
- rrr: :math:`\max|A| = 0` gives 0;
- cyborg: a constant map (:math:`\max A = \min A`) normalises to
  :math:`\hat A = 0`, so the loss is :math:`\frac{1}{n_i}\sum_p M_p^2`, with zero
  gradient with respect to :math:`A`;
- an empty cloud (no points, possible after dropping) gives 0 for all three.

Every function takes the flat PyG layout, ``attribution [P]``, ``mask [P]``
(bool, or float in [0, 1]) and ``batch [P]`` (``None``: one cloud), reduces
with :func:`torch_geometric.utils.scatter` over the batch vector (no loop
over clouds), and returns ``[num_graphs]``. Pass ``num_graphs`` to avoid
reading ``batch.max()`` (a host sync on a GPU) and to keep trailing empty
clouds. :func:`guided_loss` combines them with the cross-entropy, counting
only the clouds whose mask is available.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from reldrop3d.data.batching import describe
from reldrop3d.names import GUIDANCE_LOSSES


def _prepare(
    attribution: Tensor, mask: Tensor, batch: Tensor | None, num_graphs: int | None
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Check the arguments; return ``(attribution, mask as attribution's dtype, batch, B)``."""
    if (
        not isinstance(attribution, Tensor)
        or attribution.dim() != 1
        or not attribution.is_floating_point()
    ):
        raise TypeError(f"attribution must be a 1-D float tensor [P], got {describe(attribution)}")
    shape = tuple(attribution.shape)
    if not isinstance(mask, Tensor) or tuple(mask.shape) != shape or mask.is_complex():
        raise TypeError(
            f"mask must be a bool or float tensor of the attribution's shape {shape} "
            f"(1 = allowed), got {describe(mask)}"
        )
    if batch is None:
        batch = torch.zeros(shape[0], dtype=torch.long, device=attribution.device)
        num_graphs = 1 if num_graphs is None else num_graphs
    elif not isinstance(batch, Tensor) or tuple(batch.shape) != shape or batch.dtype != torch.long:
        raise TypeError(
            f"batch must be a long tensor of the attribution's shape {shape}, got {describe(batch)}"
        )
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    if isinstance(num_graphs, bool) or not isinstance(num_graphs, int) or num_graphs < 0:
        raise ValueError(f"num_graphs must be a non-negative int, got {num_graphs!r}")
    return attribution, mask.to(attribution.dtype), batch, num_graphs


def _safe_inverse(x: Tensor) -> Tensor:
    """``1 / x`` where ``x > 0``, else 0; no division by zero in the forward or the backward."""
    positive = x > 0
    return torch.where(positive, 1.0 / torch.where(positive, x, torch.ones_like(x)), 0.0)


def _sum(values: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
    return scatter(values, batch, 0, dim_size=num_graphs, reduce="sum")


def energy(
    attribution: Tensor,
    mask: Tensor,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
) -> Tensor:
    r"""Energy loss :math:`1 - \sum_p A^+_p M_p / \sum_p A^+_p` per cloud ``[num_graphs]``.

    The share of each cloud's positive attribution outside the mask, in [0, 1];
    0 for a cloud without positive attribution (see the module docstring).

    Args:
        attribution: ``[P]`` float, the attribution of the explained class per point.
        mask: ``[P]`` bool or float in [0, 1], 1 where the model may look.
        batch: ``[P]`` long, the cloud of each point (sorted or not); ``None``: one cloud.
        num_graphs: number of clouds ``B`` (default ``batch.max() + 1``).
    """
    a, m, batch, b = _prepare(attribution, mask, batch, num_graphs)
    positive = a.clamp(min=0)
    total = _sum(positive, batch, b)
    outside = _sum(positive * (1 - m), batch, b)
    return outside * _safe_inverse(total)


def rrr(
    attribution: Tensor,
    mask: Tensor,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
) -> Tensor:
    r"""RRR loss :math:`\sum_p \big((1 - M_p) A_p / \max_q |A_q|\big)^2` per cloud ``[num_graphs]``.

    Attribution of either sign outside the mask is penalised, relative to the
    largest magnitude in the cloud (which stays in the graph: the loss also
    falls when the attribution inside the mask grows); 0 when
    :math:`\max|A| = 0`. Arguments as :func:`energy`.
    """
    a, m, batch, b = _prepare(attribution, mask, batch, num_graphs)
    largest = scatter(a.abs(), batch, 0, dim_size=b, reduce="max")
    scaled = (1 - m) * a * _safe_inverse(largest)[batch]
    return _sum(scaled.square(), batch, b)


def cyborg(
    attribution: Tensor,
    mask: Tensor,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
) -> Tensor:
    r"""CYBORG loss :math:`\frac{1}{n_i}\sum_p (\hat A_p - M_p)^2` per cloud ``[num_graphs]``.

    :math:`\hat A` is the per-cloud min-max normalisation of the attribution
    (0 for a constant map). Arguments as :func:`energy`.
    """
    a, m, batch, b = _prepare(attribution, mask, batch, num_graphs)
    low = scatter(a, batch, 0, dim_size=b, reduce="min")
    high = scatter(a, batch, 0, dim_size=b, reduce="max")
    normed = (a - low[batch]) * _safe_inverse(high - low)[batch]
    count = _sum(torch.ones_like(a), batch, b)
    return _sum((normed - m).square(), batch, b) * _safe_inverse(count)


#: The losses by name (``--guidance``), as :data:`reldrop3d.names.GUIDANCE_LOSSES` lists them.
LOSSES: dict[str, Callable[..., Tensor]] = {name: globals()[name] for name in GUIDANCE_LOSSES}


def guidance_term(values: Tensor, has_mask: Tensor | None = None) -> Tensor:
    r"""Mean of the per-cloud guidance ``values [B]`` over the clouds that have a mask.

    :math:`G = \sum_i h_i L_i / \max(1, \sum_i h_i)` with ``has_mask`` :math:`h`
    (``[B]`` bool; ``None``: every cloud). 0 (with a graph) when no cloud of the
    batch has a mask; the values of clouds without one are ignored, also when
    they are not finite.
    """
    if not isinstance(values, Tensor) or values.dim() != 1 or not values.is_floating_point():
        raise TypeError(f"values must be a 1-D float tensor [B], got {describe(values)}")
    if has_mask is None:
        return values.mean() if values.numel() else values.sum()
    if (
        not isinstance(has_mask, Tensor)
        or has_mask.dtype != torch.bool
        or has_mask.shape != values.shape
    ):
        raise TypeError(
            f"has_mask must be a bool tensor of shape {tuple(values.shape)} (one flag per "
            f"cloud), got {describe(has_mask)}"
        )
    chosen = torch.where(has_mask, values, torch.zeros_like(values))
    return chosen.sum() / has_mask.sum().clamp(min=1).to(values.dtype)


def guided_loss(
    ce: Tensor, values: Tensor, has_mask: Tensor | None = None, lam: float = 1.0
) -> Tensor:
    r"""The training loss :math:`\mathrm{CE} + \lambda\, G` (:math:`G` from :func:`guidance_term`).

    Clouds without a mask contribute only to the cross-entropy ``ce`` (a
    0-dim tensor, already averaged over the batch).

    Args:
        ce: cross-entropy of the batch, 0-dim.
        values: per-cloud guidance loss ``[B]`` (:func:`energy`, :func:`rrr`, :func:`cyborg`).
        has_mask: ``[B]`` bool, whether each cloud's mask is available (``None``: all).
        lam: the weight :math:`\lambda \ge 0`.
    """
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
        raise ValueError(f"lam must be a number >= 0, got {lam!r}")
    if not isinstance(ce, Tensor) or ce.dim() != 0:
        raise TypeError(f"ce must be a 0-dim tensor, got {describe(ce)}")
    return ce + lam * guidance_term(values, has_mask)
