r"""Attributions that are differentiable with respect to the parameters, for guidance.

A guidance loss :math:`L(A(\theta))` needs :math:`\partial L / \partial \theta`
through the attribution :math:`A`, itself a derivative of the model: a
second (double) backward pass. Methods (:data:`GUIDANCE_METHODS`):

- ``"input_x_gradient"``: :math:`A_p = \sum_c p_c\, \partial y_t / \partial p_c`
  (plus the same over ``x`` when the model reads normals);
- ``"gradient"``: :math:`A_p = \lVert \partial y_t / \partial p \rVert_2` (with a
  gradient of 0, not ``nan``, at points whose gradient is 0);
- ``"lrp"``: the LRP relevance of :func:`reldrop3d.relevance.point_relevance`,
  made differentiable in the parameters (:func:`lrp_relevance`).

The two gradient methods take the attribution from **the training forward
itself** (:func:`forward_with_attribution`): one forward in the model's current
mode (train mode in training, dropout included) on a copy of the batch whose
``pos`` requires grad; the logits feed the cross-entropy and
:math:`\partial \sum_i w_i y_{i, t_i} / \partial p` (``create_graph=True``) the
guidance loss, as in the reference implementations of RRR and the energy
loss. In train mode batch norm couples the clouds of a batch through its
statistics, so a point's attribution also holds the (small,
:math:`O(1/\text{points per batch})`) derivative of the *other* clouds' target
logits; in eval mode it is exactly ``point_relevance(..., method)`` (tested).
LRP is defined on the eval-mode network (batch norms merged with their running
statistics), so ``"lrp"`` adds a separate eval-mode explanation that updates
no batch-norm statistics.

Every op of the model must support double backpropagation.
``torch_scatter.segment_csr`` with ``reduce="mean"``/``"sum"`` has a backward
that autograd cannot differentiate again (the guidance gradient would
silently miss every path through it), so DGCNN's mean pool is built from
``index_add`` (:func:`reldrop3d.models.pool.global_mean_pool`). PointNet with
T-Nets is refused (the relevance rules treat the learned transforms as
constants, and differentiable LRP needs piecewise linear ops between layers).
"""

from __future__ import annotations

import torch
from torch import Tensor

from reldrop3d.names import GUIDANCE_METHODS
from reldrop3d.relevance import PointLRPComposite, RuleMap, point_relevance, rule_map
from reldrop3d.relevance.api import grad_inputs, output_relevance, per_point, resolve_target, unwrap


def check_guidance_model(model: torch.nn.Module) -> None:
    """Raise ``ValueError`` for a model whose forward cannot be differentiated twice."""
    from reldrop3d.models import PointNet

    core = unwrap(model)
    if isinstance(core, PointNet) and core.input_transform is not None:
        raise ValueError(
            "PointNet with tnet=True does not support explanation guidance (the learned "
            "transforms are treated as constants by the relevance rules); use tnet=False"
        )


def lrp_relevance(
    model: torch.nn.Module,
    batch,
    target: None | str | int | Tensor = None,
    *,
    rules: RuleMap | None = None,
    seed: str = "logit",
    create_graph: bool = True,
) -> Tensor:
    r"""LRP relevance per point ``[num_points]``, differentiable in the parameters.

    ``point_relevance(model, batch, target, "lrp", fast=True, create_graph=True)``
    with the model's rule map (or ``rules``), whose rules must have closed forms
    (:mod:`reldrop3d.relevance.fast`): the same values, in eval mode, with a
    graph to the weights, biases and batch-norm affine parameters (running
    statistics are constants) through two forwards. ``seed="logit"`` is
    differentiated through the logit too. Modes and ``requires_grad`` flags are
    restored afterwards; no gradient is accumulated.
    """
    check_guidance_model(model)
    rules = rule_map(unwrap(model)) if rules is None else rules
    composite = PointLRPComposite(rules)
    return point_relevance(
        model, batch, target, composite=composite, fast=True, seed=seed, create_graph=create_graph
    )


def forward_with_attribution(
    model: torch.nn.Module,
    batch,
    method: str = "input_x_gradient",
    target: None | str | int | Tensor = None,
    weight: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    r"""``(logits [B, C], attribution [P])`` from one forward, both differentiable.

    The model runs in its current mode on a shallow copy of ``batch`` whose
    ``pos`` (and ``x``, when the model reads it) require grad; ``batch`` itself
    is not modified. With :math:`S = \sum_i w_i\, y_{i, t_i}` the attribution is
    :math:`p \cdot \partial S / \partial p` (``"input_x_gradient"``, + the same
    for ``x``) or :math:`\lVert \partial S / \partial (p, x_p) \rVert_2`
    (``"gradient"``); a weight of 0 leaves a cloud out (its points get the
    batch-norm coupling terms only). ``"lrp"`` is :func:`lrp_relevance`, a
    separate eval-mode explanation. Both carry graphs to the parameters:
    ``(ce(logits) + lam * guidance(attribution)).backward()`` trains on both.

    Args:
        model: a reldrop3d model (or its DDP wrapper, used for the forward).
        batch: PyG ``Batch`` with ``pos [P, 3]``, ``batch``, ``y``.
        method: one of :data:`GUIDANCE_METHODS`.
        target: the class to explain (``None``: ``batch.y``; see
            :func:`~reldrop3d.relevance.point_relevance`).
        weight: ``[B]`` float or bool seed per cloud for the gradient methods
            (e.g. ``has_mask``), or ``None`` (1).
    """
    if method not in GUIDANCE_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(GUIDANCE_METHODS)} for guidance, got {method!r}"
        )
    if method == "lrp":
        attribution = lrp_relevance(model, batch, target)
        return model(batch), attribution
    inp, inputs = grad_inputs(unwrap(model), batch)
    with torch.enable_grad():
        logits = model(inp)
        seed = output_relevance(logits, resolve_target(target, batch, logits), "one")
        if weight is not None:
            seed = seed * weight.to(logits.dtype).unsqueeze(1)
        grads = torch.autograd.grad(logits, inputs, seed, create_graph=True)
    return logits, per_point(method, inputs, grads)
