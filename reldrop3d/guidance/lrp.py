r"""LRP relevance that is differentiable with respect to the model's parameters.

``point_relevance(method="lrp", create_graph=True)`` keeps the graph of its
input backward, but its canonizers (:class:`~reldrop3d.relevance.canonizers.MergeBatchNorm`,
:class:`~reldrop3d.relevance.canonizers.DifferenceFold`) put *detached*
copies of the weights in place (new leaf tensors made under ``no_grad``), and
zennit's rules do the same (``ParamMod`` wraps ``param.data``). The relevance
then depends on the parameters only through the activations, and its
gradient with respect to a weight is wrong (incomplete), not merely missing.

This module runs the same rules (the fast path of
:mod:`reldrop3d.relevance.fast`) with canonizers that build the merged and
folded weights *as functions of* the parameters:

- batch-norm merge: :math:`W' = \mathrm{diag}(s)\,W`,
  :math:`b' = s\,(b - \mu) + \beta` with :math:`s = \gamma / \sqrt{\sigma^2 + \epsilon}`
  (running statistics :math:`\mu, \sigma^2` are constants, :math:`W, b, \gamma, \beta`
  carry gradients);
- difference fold: :math:`[W_x, W_p] \to [W_x, W_p, -W_p]` (PointNet++),
  :math:`[W_1, W_2] \to [W_1 - W_2, W_2]` (EdgeConv), again as autograd ops.

The fast rules' backward passes are plain tensor algebra on the saved input
``x``, pre-activation ``z`` and weight ``W`` (epsilon:
:math:`R_{in} = x \odot W^\top (R_{out} / (z + \epsilon\,\mathrm{sign}\,z))`),
so with ``create_graph=True`` autograd records them and the relevance is a
differentiable function of the parameters (double backpropagation). Its
values equal ``point_relevance(model, batch, method="lrp")`` exactly; its
parameter gradient matches finite differences (``tests/test_guidance.py``).

LRP is defined on the eval-mode network (batch norms merged with their
running statistics), so this is a separate forward in eval mode, not the
training forward; see :func:`reldrop3d.guidance.attribution.guidance_attribution`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from zennit.core import RemovableHandleList
from zennit.rules import Epsilon, Flat, Pass, WSquare

from reldrop3d.relevance._context import explaining, unwrap
from reldrop3d.relevance.canonizers import DifferenceFold, MergeBatchNorm
from reldrop3d.relevance.fast import _stabilizer_epsilon
from reldrop3d.relevance.rulemaps import RuleMap, rule_map
from reldrop3d.relevance.rules import PoolNorm
from reldrop3d.relevance.targets import check_seed, output_relevance, resolve_target

__all__ = ["lrp_relevance"]


class GradDifferenceFold(DifferenceFold):
    """:class:`DifferenceFold` whose folded weights are autograd functions of the originals."""

    differentiable = True


class GradMergeBatchNorm(MergeBatchNorm):
    """:class:`MergeBatchNorm` whose merged weights are autograd functions of the originals
    (the running statistics are constants)."""

    differentiable = True


def _grad_canonizers(rules: RuleMap) -> list:
    out = []
    if rules.folds:
        out.append(GradDifferenceFold(rules.folds))
    if rules.merges:
        out.append(GradMergeBatchNorm(rules.merges))
    return out


def _stabilize(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)`` with sign(0) = +1 (zennit's stabiliser), without in-place ops."""
    return z + torch.where(z >= 0, epsilon, -epsilon)


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
    eps = _stabilizer_epsilon(rule)
    if isinstance(rule, PoolNorm):
        return type(module).forward(module, u * x, *rest) / _stabilize(z, eps)
    if isinstance(rule, Epsilon):
        return torch.nn.functional.linear(u * x, module.weight) / _stabilize(z, eps)
    if isinstance(rule, Flat):
        return (u.sum(-1, keepdim=True) / (u.size(-1) + eps)).expand_as(z)
    if isinstance(rule, WSquare):
        w2 = module.weight.square()
        bias = getattr(module, "bias", None)
        denom = w2.sum(1) + (bias.square() if bias is not None else 0.0)
        return torch.nn.functional.linear(u, w2) / _stabilize(denom, eps)
    raise NotImplementedError(f"no differentiable version of rule {type(rule).__name__}")


@contextmanager
def _canonized(model: torch.nn.Module, rules: RuleMap) -> Iterator[torch.nn.Module]:
    handles = RemovableHandleList()
    try:
        for canonizer in _grad_canonizers(rules):
            handles += canonizer.apply(model)
        yield model
    finally:
        handles.remove()


def _hooked_modules(model: torch.nn.Module, rules: RuleMap) -> dict[str, torch.nn.Module]:
    modules = dict(model.named_modules())
    out = {}
    for name, rule in rules.rules.items():
        if name not in modules:
            raise KeyError(f"the rule map names a module {name!r} that the model does not have")
        if type(rule) not in (Epsilon, Flat, WSquare, Pass, PoolNorm):
            raise NotImplementedError(
                f"differentiable LRP supports the epsilon, flat, w-square, pass and norm rules; "
                f"module {name!r} has {type(rule).__name__}"
            )
        if not isinstance(rule, Pass):
            _stabilizer_epsilon(rule)  # raises for non-float stabilisers
        out[name] = modules[name]
    return out


def lrp_relevance(
    model: torch.nn.Module,
    batch,
    target: None | str | int | Tensor = None,
    *,
    rules: RuleMap | None = None,
    seed: str = "one",
    create_graph: bool = True,
) -> Tensor:
    r"""LRP relevance per point ``[num_points]``, differentiable in the parameters.

    The same values as ``point_relevance(model, batch, target, method="lrp")``
    (with the model's default rule map, or ``rules``), computed in eval mode.
    With ``create_graph=True`` (default) the result carries a graph to the
    parameters (weights, biases and batch-norm affine parameters; running
    statistics are constants). Modes and ``requires_grad`` flags are restored
    afterwards; no gradient is accumulated.

    How: two eval-mode forwards under the differentiable canonizers. The
    *true* pass records, for every call of a ruled module, its input ``x`` and
    output ``z`` with their ordinary graphs. The *chain* pass re-runs the
    network from a fresh copy of the input with every ruled module replaced
    by :math:`z + S(u) - \mathrm{sg}(S(u))` (``sg`` = stop-gradient, ``u`` the
    chain input, :math:`S` from :func:`_surrogate`): the values are those of
    the true pass, and the input gradient of the seeded output is the LRP
    relevance, computed from tensors whose graphs are the true derivatives.
    The ops between ruled modules (max pools, concatenations, gathers, k-NN
    and FPS selections) must be piecewise linear in their inputs, as in
    PointNet, PointNet++ and DGCNN; PointNet's optional T-Nets (a product of
    two activations) are refused.

    Args:
        model: a reldrop3d model (DDP wrappers are unwrapped).
        batch: PyG ``Batch`` with ``pos [N, 3]`` (and ``x``, ``batch``, ``y``).
        target: as :func:`~reldrop3d.relevance.point_relevance` (``None``: ``batch.y``).
        rules: the rule map (default :func:`~reldrop3d.relevance.rule_map` of the model).
        seed: the output relevance, ``"one"`` or ``"logit"``, as in
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
    uses_x = getattr(model, "in_channels", 0) > 0 and isinstance(getattr(batch, "x", None), Tensor)
    with explaining(model, keep_param_grad=True), torch.enable_grad(), _canonized(model, rules):
        hooked = _hooked_modules(model, rules)
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
