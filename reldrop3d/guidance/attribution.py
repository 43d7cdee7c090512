r"""Attributions that are differentiable with respect to the parameters, for guidance.

A guidance loss :math:`L(A(\theta))` needs :math:`\partial L / \partial \theta`
through the attribution :math:`A`, itself a derivative of the model: a
second (double) backward pass. Supported methods (:data:`GUIDANCE_METHODS`):

- ``"input_x_gradient"``: :math:`A_p = \sum_c p_c\, \partial y_t / \partial p_c`
  (plus the same over ``x`` when the model reads normals);
- ``"gradient"``: :math:`A_p = \lVert \partial y_t / \partial p \rVert_2` (with a
  gradient of 0, not ``nan``, at points whose gradient is 0);
- ``"lrp"``: the LRP relevance of :func:`reldrop3d.relevance.point_relevance`,
  through :func:`reldrop3d.guidance.lrp.lrp_relevance` (the as-built LRP
  paths cannot be differentiated in the parameters, see that module).

Which forward the attribution comes from. For the two gradient methods the
attribution is taken from **the training forward itself**:
:func:`forward_with_attribution` runs the model once, in whatever mode it is
in (train mode during training), on a copy of the batch whose ``pos``
requires grad; the logits feed the cross-entropy and
:math:`\partial \sum_i w_i y_{i, t_i} / \partial p` (``create_graph=True``) feeds
the guidance loss. One forward, as in the reference implementations of RRR
and the energy loss, and the explanation is of the network that is being
optimised, dropout included. In train mode batch norm couples the clouds of a
batch through its batch statistics, so the attribution of a point also holds
the (small, :math:`O(1/\text{points per batch})`) derivative of the *other*
clouds' target logits through those statistics; in eval mode it is exactly
``point_relevance(..., method)`` of each cloud (tested).

LRP is defined on the eval-mode network (batch norms merged with their
running statistics), so ``"lrp"`` runs the training forward for the logits
*and* a separate eval-mode explanation (two more forwards, see
:func:`~reldrop3d.guidance.lrp.lrp_relevance`); batch-norm statistics are not
updated by it.

Models: double backpropagation must be supported by every op of the model.
``torch_scatter.segment_csr`` with ``reduce="mean"``/``"sum"`` has a backward
that autograd cannot differentiate again (the guidance gradient would
silently miss every path through it), so DGCNN's global mean pool is built
from ``index_add`` (:func:`reldrop3d.models.pool.global_mean_pool`); its
guidance gradient is checked against finite differences like the others.
PointNet with T-Nets is refused (the relevance rules treat the learned
transforms as constants).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from reldrop3d.guidance.lrp import lrp_relevance
from reldrop3d.relevance import output_relevance, resolve_target, unwrap

__all__ = [
    "GUIDANCE_METHODS",
    "GUIDANCE_MODELS",
    "check_guidance_model",
    "forward_with_attribution",
    "gradient_attribution",
]

#: Attribution methods whose result is differentiable in the parameters.
GUIDANCE_METHODS = ("input_x_gradient", "gradient", "lrp")
#: ``reldrop3d.models.build`` names whose forward supports double backpropagation.
GUIDANCE_MODELS = ("pointnet", "pointnet2", "pointnet2-msg", "dgcnn")


def check_guidance_model(model: torch.nn.Module) -> None:
    """Raise ``ValueError`` for a model whose forward cannot be differentiated twice."""
    from reldrop3d.models import PointNet

    core = unwrap(model)
    if isinstance(core, PointNet) and core.input_transform is not None:
        raise ValueError(
            "PointNet with tnet=True does not support explanation guidance (the learned "
            "transforms are treated as constants by the relevance rules); use tnet=False"
        )


def _safe_norm(sq: Tensor) -> Tensor:
    """``sqrt(sq)`` with gradient 0 (not ``inf``/``nan``) where ``sq == 0``."""
    positive = sq > 0
    return torch.where(positive, torch.where(positive, sq, torch.ones_like(sq)).sqrt(), 0.0)


def gradient_attribution(
    logits: Tensor,
    pos: Tensor,
    target: Tensor,
    method: str = "input_x_gradient",
    x: Tensor | None = None,
    weight: Tensor | None = None,
    create_graph: bool = True,
) -> Tensor:
    r"""Attribution ``[P]`` of the target logits to the points that produced them.

    With :math:`S = \sum_i w_i\, y_{i, t_i}` (``logits`` :math:`y` ``[B, C]``,
    ``target`` :math:`t` ``[B]``, ``weight`` :math:`w` ``[B]``, default 1):
    ``"input_x_gradient"``: :math:`A_p = p \cdot \partial S / \partial p` (+ the same
    for ``x``); ``"gradient"``: :math:`A_p = \lVert \partial S / \partial (p, x_p) \rVert_2`.
    Each point's derivative is that of its own cloud's logit (plus the batch-norm
    coupling of a train-mode forward, see the module docstring). A weight of 0
    leaves a cloud out (its points get the coupling terms only).

    Args:
        logits: ``[B, C]`` from a forward on ``pos`` (and ``x``).
        pos: ``[P, 3]``, the input that requires grad.
        target: ``[B]`` long, the class to explain per cloud.
        method: ``"input_x_gradient"`` or ``"gradient"``.
        x: ``[P, F]`` per-point features the model read (requires grad), or ``None``.
        weight: ``[B]`` float or bool, the seed of each cloud's logit, or ``None``.
        create_graph: keep the graph for the guidance loss's backward.
    """
    if method not in ("input_x_gradient", "gradient"):
        raise ValueError(f"method must be 'input_x_gradient' or 'gradient' here, got {method!r}")
    if not isinstance(pos, Tensor) or not pos.requires_grad:
        raise ValueError("pos must be the tensor the logits were computed from, requiring grad")
    seed = output_relevance(logits, target, "one")
    if weight is not None:
        seed = seed * weight.to(logits.dtype).unsqueeze(1)
    inputs = [pos] if x is None else [pos, x]
    grads = torch.autograd.grad(logits, inputs, seed, create_graph=create_graph)
    if method == "input_x_gradient":
        out = (pos * grads[0]).sum(-1)
        if x is not None:
            out = out + (x * grads[1]).sum(-1)
        return out
    sq = grads[0].square().sum(-1)
    if x is not None:
        sq = sq + grads[1].square().sum(-1)
    return _safe_norm(sq)


def forward_with_attribution(
    model: torch.nn.Module,
    batch,
    method: str = "input_x_gradient",
    target: None | str | int | Tensor = None,
    weight: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    r"""``(logits [B, C], attribution [P])`` from one forward, both differentiable.

    The model runs in its current mode (train mode in training) on a shallow
    copy of ``batch`` whose ``pos`` (and ``x``, when the model reads it)
    require grad; ``batch`` itself is not modified. The attribution is
    :func:`gradient_attribution` of those logits for ``"input_x_gradient"`` and
    ``"gradient"``, or :func:`~reldrop3d.guidance.lrp.lrp_relevance` (a separate
    eval-mode explanation) for ``"lrp"``. Both carry graphs to the parameters:
    ``(ce(logits) + lam * guidance(attribution)).backward()`` trains on both.

    Args:
        model: a reldrop3d model (or its DDP wrapper, used for the forward).
        batch: PyG ``Batch`` with ``pos [P, 3]``, ``batch``, ``y``.
        method: one of :data:`GUIDANCE_METHODS`.
        target: the class to explain (``None``: ``batch.y``; see
            :func:`~reldrop3d.relevance.point_relevance`).
        weight: ``[B]`` seed per cloud for the gradient methods (e.g. ``has_mask``).
    """
    if method not in GUIDANCE_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(GUIDANCE_METHODS)} for guidance, got {method!r}"
        )
    core = unwrap(model)
    if method == "lrp":
        attribution = lrp_relevance(core, batch, target)
        return model(batch), attribution
    inp = copy.copy(batch)
    inp.pos = batch.pos.detach().requires_grad_(True)
    x = None
    if getattr(core, "in_channels", 0) > 0 and isinstance(getattr(batch, "x", None), Tensor):
        inp.x = x = batch.x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(inp)
        t = resolve_target(target, batch, logits)
        attribution = gradient_attribution(logits, inp.pos, t, method, x, weight)
    return logits, attribution
