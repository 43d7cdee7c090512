r"""LRP relevance that is differentiable with respect to the model's parameters.

``point_relevance(method="lrp", create_graph=True)`` keeps the graph of its
input backward, but its canonizers put *frozen* copies of the merged and
folded weights in place, and zennit's rules do the same (``ParamMod`` wraps
``param.data``); the fast path's rules are autograd functions whose
backward is written by hand. The relevance then depends on the parameters
only through the activations, and its gradient with respect to a weight is
wrong (incomplete), not merely missing.

:func:`lrp_relevance` computes the same relevance as a function of the
parameters, from the same :class:`~reldrop3d.relevance.RuleMap`, in two
eval-mode forwards:

1. under the map's canonizers with ``differentiable=True``
   (``rules.canonizers(differentiable=True)``), which build the merged and
   folded weights *as functions of* the parameters: batch-norm merge
   :math:`W' = \mathrm{diag}(s)\,W`, :math:`b' = s\,(b - \mu) + \beta` with
   :math:`s = \gamma / \sqrt{\sigma^2 + \epsilon}` (running statistics
   :math:`\mu, \sigma^2` are constants); difference fold
   :math:`[W_x, W_p] \to [W_x, W_p, -W_p]` (PointNet++),
   :math:`[W_1, W_2] \to [W_1 - W_2, W_2]` (EdgeConv). This *true* pass records
   every ruled module's input ``x`` and output ``z``, with their graphs;
2. a *chain* pass from a fresh copy of the input, with every ruled module
   replaced by :math:`z + S(u) - \mathrm{sg}(S(u))` (``sg`` = stop-gradient,
   ``u`` the chain input): values as in the true pass, and a vector-Jacobian
   product that is the module's LRP rule (:func:`_surrogate`; epsilon:
   :math:`S(u) = W (u \odot x) / (z + \epsilon\,\mathrm{sign}\,z)`).

The input gradient of the seeded output of the chain pass is then the LRP
relevance, built from tensors whose graphs are the true derivatives, so with
``create_graph=True`` it is a differentiable function of the parameters
(double backpropagation). The rules are those with closed forms
(:data:`~reldrop3d.relevance.FAST_RULES`) and the stabiliser is the fast
path's (:func:`~reldrop3d.relevance.stabilize`): its values equal
``point_relevance(model, batch, method="lrp")``; its parameter gradient
matches finite differences (``tests/test_guidance.py``).

LRP is defined on the eval-mode network (batch norms merged with their
running statistics), so this is a separate forward in eval mode, not the
training forward; see :func:`reldrop3d.guidance.forward_with_attribution`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from zennit.core import RemovableHandleList
from zennit.rules import Epsilon, Flat, Pass, WSquare

from reldrop3d.relevance import (
    PoolNorm,
    RuleMap,
    check_seed,
    explaining,
    output_relevance,
    resolve_target,
    rule_epsilon,
    rule_map,
    ruled_modules,
    stabilize,
    supports_fast,
    unwrap,
)

__all__ = ["lrp_relevance"]


def _surrogate(
    rule, module: torch.nn.Module, u: Tensor, x: Tensor, z: Tensor, rest: tuple = ()
) -> Tensor:
    r"""``S(u)``, linear in the chain input ``u``, whose vector-Jacobian product is the rule.

    epsilon: :math:`S(u) = W (u \odot x) / (z + \epsilon\,\mathrm{sign}\,z)`, so
    :math:`u^\top \mapsto x \odot W^\top (R / \ldots)`; flat:
    :math:`S(u)_j = \sum_i u_i / (n_{in} + \epsilon)`; w-square:
    :math:`S(u) = (W \odot W) u / ((W \odot W)\mathbf{1} + b^2 + \epsilon)`; pass: ``u``;
    norm (a module ``f(x, *rest)`` linear in ``x``, e.g. a mean pool):
    :math:`S(u) = f(u \odot x, \ldots) / (z + \epsilon\,\mathrm{sign}\,z)`.
    ``x``, ``z`` and ``W`` are the true-pass tensors, carrying their graphs to
    the parameters.
    """
    if isinstance(rule, Pass):
        return u
    eps = rule_epsilon(rule)
    if isinstance(rule, PoolNorm):
        return type(module).forward(module, u * x, *rest) / stabilize(z, eps)
    if isinstance(rule, Epsilon):
        return torch.nn.functional.linear(u * x, module.weight) / stabilize(z, eps)
    if isinstance(rule, Flat):
        return (u.sum(-1, keepdim=True) / (u.size(-1) + eps)).expand_as(z)
    if isinstance(rule, WSquare):
        w2 = module.weight.square()
        bias = getattr(module, "bias", None)
        denom = w2.sum(1) + (bias.square() if bias is not None else 0.0)
        return torch.nn.functional.linear(u, w2) / stabilize(denom, eps)
    raise NotImplementedError(f"no differentiable version of rule {type(rule).__name__}")


@contextmanager
def _canonized(model: torch.nn.Module, rules: RuleMap) -> Iterator[torch.nn.Module]:
    handles = RemovableHandleList()
    try:
        for canonizer in rules.canonizers(differentiable=True):
            handles += canonizer.apply(model)
        yield model
    finally:
        handles.remove()


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

    The same values as ``point_relevance(model, batch, target, method="lrp")``
    (with the model's default rule map, or ``rules``), computed in eval mode.
    With ``create_graph=True`` (default) the result carries a graph to the
    parameters (weights, biases and batch-norm affine parameters; running
    statistics are constants). Modes and ``requires_grad`` flags are restored
    afterwards; no gradient is accumulated.

    How: a true pass and a chain pass under the differentiable canonizers
    (see the module docstring).
    The ops between ruled modules (max pools, concatenations, gathers, k-NN
    and FPS selections) must be piecewise linear in their inputs, as in
    PointNet, PointNet++ and DGCNN; PointNet's optional T-Nets (a product of
    two activations) are refused.

    Args:
        model: a reldrop3d model (DDP wrappers are unwrapped).
        batch: PyG ``Batch`` with ``pos [N, 3]`` (and ``x``, ``batch``, ``y``).
        target: as :func:`~reldrop3d.relevance.point_relevance` (``None``: ``batch.y``).
        rules: the rule map (default :func:`~reldrop3d.relevance.rule_map` of the model).
        seed: the output relevance, ``"logit"`` (default) or ``"one"``, as in
            :func:`~reldrop3d.relevance.point_relevance` (``"logit"`` is
            differentiated through the logit too).
        create_graph: keep the graph for a second backward.
    """
    check_seed(seed)
    model = unwrap(model)
    if getattr(model, "input_transform", None) is not None:
        raise NotImplementedError(
            "differentiable LRP does not support PointNet with tnet=True (the learned "
            "transform multiplies two activations)"
        )
    rules = rule_map(model) if rules is None else rules
    if not supports_fast(rules):
        raise NotImplementedError(
            "differentiable LRP supports the rules with closed forms (epsilon, flat, w-square, "
            "pass, norm, with float stabilisers); the rule map has "
            f"{sorted({type(r).__name__ for r in rules.rules.values()})}"
        )
    uses_x = getattr(model, "in_channels", 0) > 0 and isinstance(getattr(batch, "x", None), Tensor)
    with explaining(model, keep_param_grad=True), torch.enable_grad(), _canonized(model, rules):
        hooked = ruled_modules(model, rules)
        records: dict[str, list[tuple[Tensor, Tensor]]] = {name: [] for name in hooked}
        handles = RemovableHandleList()
        try:
            for name, module in hooked.items():

                def record(module, inputs, output, name=name):
                    records[name].append((inputs[0], output))

                handles.append(module.register_forward_hook(record))
            true_in = copy.copy(batch)
            true_in.pos = batch.pos.detach()
            if uses_x:
                true_in.x = batch.x.detach()
            model(true_in)
        finally:
            handles.remove()

        chain_in = copy.copy(batch)
        chain_in.pos = batch.pos.detach().requires_grad_(True)
        inputs = [chain_in.pos]
        if uses_x:
            chain_in.x = batch.x.detach().requires_grad_(True)
            inputs.append(chain_in.x)
        try:
            for name, module in hooked.items():
                calls = iter(records[name])
                rule = rules.rules[name]

                def chain(u, *args, module=module, calls=calls, rule=rule, name=name):
                    try:
                        x, z = next(calls)
                    except StopIteration:
                        raise RuntimeError(
                            f"module {name!r} ran more often in the second forward than in the "
                            f"first: differentiable LRP needs a deterministic eval-mode forward"
                        ) from None
                    if not u.requires_grad:
                        return z
                    s = _surrogate(rule, module, u, x, z, args)
                    return z + (s - s.detach())

                module.forward = chain
            logits = model(chain_in)
        finally:
            for module in hooked.values():
                module.__dict__.pop("forward", None)
        t = resolve_target(target, batch, logits)
        start = output_relevance(logits, t, seed)
        grads = torch.autograd.grad(logits, inputs, start, create_graph=create_graph)
    r = grads[0].sum(-1)
    if uses_x:
        r = r + grads[1].sum(-1)
    return r
