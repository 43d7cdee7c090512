r"""A fast path for the LRP rules of a :class:`~reldrop3d.relevance.rulemaps.RuleMap`.

zennit's hooks recompute each layer's forward inside the backward pass
(``torch.autograd.grad`` on a re-run of the module). For the rules used
here the backward can be written in closed form from tensors the forward
already has, so this path attaches autograd functions instead:

- epsilon:
  :math:`R_{in} = x \odot \big(W^\top \tfrac{R_{out}}{z + \epsilon\,\mathrm{sign}(z)}\big)`
  with :math:`z = Wx + b` the layer's own output (saved, not recomputed);
- flat: :math:`R_{in,i} = \sum_j R_{out,j} / (n_{in} + \epsilon)` for every input ``i``;
- w-square:
  :math:`R_{in} = (W \odot W)^\top \tfrac{R_{out}}{(W\odot W)\mathbf{1} + b^2 + \epsilon}`;
- pass (activations): relevance goes through unchanged;
- norm (:class:`~reldrop3d.relevance.rules.PoolNorm`, mean pools):
  :math:`R_{in} = x \odot J^\top \tfrac{R_{out}}{z + \epsilon\,\mathrm{sign}(z)}` with
  :math:`J^\top` the module's own backward, so nothing is re-run: an autograd
  identity before the module multiplies the gradient by ``x``, one after it
  divides by the stabilised output (for a mean pool
  :math:`R_p = x_p\, R_b / (n_b (z_b \pm \epsilon))`).

The canonizers (difference folds, batch-norm merges that take the norm out
of the network) are the same objects as in the zennit composite, so both
paths run the same forward. The stabiliser is zennit's (``z + eps`` for
``z >= 0``, ``z - eps`` below), so both paths give the same relevance
(tested to 1e-5); zennit stays the reference and the way to use any other
rule. One forward and one input-only backward, about the
cost of a plain training step's forward and input backward.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor
from zennit.core import Hook, RemovableHandleList
from zennit.rules import Epsilon, Flat, Pass, WSquare

from reldrop3d.relevance.rulemaps import RuleMap
from reldrop3d.relevance.rules import PoolNorm


def stabilize(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)`` with sign(0) = +1, as zennit's default stabiliser.

    Written as ``copysign(|z| + eps, z)`` (three passes instead of six); it
    differs from zennit only at ``z = -0.0``. A new tensor (``z`` is not
    modified), differentiable any number of times in ``z``.
    """
    return z.abs().add_(epsilon).copysign_(z)


class _Epsilon(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, z: Tensor, weight: Tensor, epsilon: float) -> Tensor:
        ctx.save_for_backward(x, z, weight)
        ctx.epsilon = epsilon
        return z.view_as(z)

    @staticmethod
    def backward(ctx, relevance: Tensor):
        x, z, weight = ctx.saved_tensors
        s = torch.div(relevance, stabilize(z, ctx.epsilon))
        return (s @ weight).mul_(x), None, None, None


class _Flat(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, z: Tensor, epsilon: float) -> Tensor:
        ctx.shape = x.shape
        ctx.epsilon = epsilon
        return z.view_as(z)

    @staticmethod
    def backward(ctx, relevance: Tensor):
        n_in = ctx.shape[-1]
        total = relevance.sum(-1, keepdim=True) / (n_in + ctx.epsilon)
        return total.expand(ctx.shape).contiguous(), None, None


class _WSquare(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx, x: Tensor, z: Tensor, weight: Tensor, bias: Tensor | None, epsilon: float
    ) -> Tensor:
        w2 = weight.square()
        denom = w2.sum(1) + (bias.square() if bias is not None else 0.0)
        ctx.save_for_backward(w2, stabilize(denom, epsilon))
        return z.view_as(z)

    @staticmethod
    def backward(ctx, relevance: Tensor):
        w2, denom = ctx.saved_tensors
        return (relevance / denom) @ w2, None, None, None, None


class _Pass(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:
        return y.view_as(y)

    @staticmethod
    def backward(ctx, relevance: Tensor):
        return relevance, None


class _TimesInput(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by the input."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        return grad * x


class _OverStabilized(torch.autograd.Function):
    """Identity forward; backward divides the relevance by the stabilised output ``z``."""

    @staticmethod
    def forward(ctx, z: Tensor, epsilon: float) -> Tensor:
        ctx.save_for_backward(z)
        ctx.epsilon = epsilon
        return z.view_as(z)

    @staticmethod
    def backward(ctx, relevance: Tensor):
        (z,) = ctx.saved_tensors
        return relevance / stabilize(z, ctx.epsilon), None


def rule_epsilon(rule: Hook) -> float:
    """The epsilon of a rule built with a float stabiliser (zennit's default), or
    ``NotImplementedError`` for any other stabiliser."""
    if isinstance(rule, PoolNorm):
        return rule.epsilon
    fn = rule.gradient_mapper
    for cell in fn.__closure__ or ():
        eps = getattr(cell.cell_contents, "epsilon", None)
        if (
            isinstance(eps, float)
            and not getattr(cell.cell_contents, "clip", False)
            and not getattr(cell.cell_contents, "norm_scale", False)
        ):
            return eps
    raise NotImplementedError("the fast LRP path supports float stabilisers only")


def _norm_pre_hook(module, args):
    x, *rest = args
    return (_TimesInput.apply(x), *rest) if x.requires_grad else None


def _hook_for(rule):
    """A forward hook replacing a module's output by the fast-rule function, or ``None``."""
    if isinstance(rule, PoolNorm):
        eps = rule.epsilon

        def hook(module, inputs, output):
            return _OverStabilized.apply(output, eps) if inputs[0].requires_grad else output

        return hook
    if isinstance(rule, Pass):

        def hook(module, inputs, output):
            x = inputs[0]
            return _Pass.apply(x, output) if x.requires_grad else output

        return hook
    if type(rule) not in (Epsilon, Flat, WSquare):
        return None
    eps = rule_epsilon(rule)

    def hook(module, inputs, output):
        x = inputs[0]
        if not x.requires_grad:
            return output
        if isinstance(rule, Epsilon):
            return _Epsilon.apply(x, output, module.weight, eps)
        if isinstance(rule, Flat):
            return _Flat.apply(x, output, eps)
        return _WSquare.apply(x, output, module.weight, getattr(module, "bias", None), eps)

    return hook


#: The rules with a closed form here (with a float stabiliser, for those that have one).
FAST_RULES = (Epsilon, Flat, WSquare, Pass, PoolNorm)


def supports_fast(rules: RuleMap) -> bool:
    """Whether every rule of the map has a closed form (:data:`FAST_RULES`, float
    stabiliser): the fast path, and differentiable LRP for guidance, can run it."""
    return all(
        type(r) in FAST_RULES and (isinstance(r, Pass) or _has_float_eps(r))
        for r in rules.rules.values()
    )


def _has_float_eps(rule) -> bool:
    try:
        rule_epsilon(rule)
    except NotImplementedError:
        return False
    return True


def ruled_modules(model: torch.nn.Module, rules: RuleMap) -> dict[str, torch.nn.Module]:
    """``{name: module}`` for every module the map has a rule for; ``KeyError`` for a
    name the model lacks."""
    modules = dict(model.named_modules())
    missing = [name for name in rules.rules if name not in modules]
    if missing:
        raise KeyError(f"the rule map names modules the model does not have: {missing}")
    return {name: modules[name] for name in rules.rules}


@contextmanager
def fast_lrp(model: torch.nn.Module, rules: RuleMap) -> Iterator[torch.nn.Module]:
    """Apply the map's canonizers and fast rules to ``model`` for the duration of the block.

    Inside, the gradient of an output with respect to the input is its LRP
    relevance under ``rules``. Everything is reverted on exit, exceptions included.
    """
    if not supports_fast(rules):
        raise NotImplementedError("this rule map has rules without a fast implementation")
    handles = RemovableHandleList()
    try:
        for canonizer in rules.canonizers():
            handles += canonizer.apply(model)
        for name, module in ruled_modules(model, rules).items():
            rule = rules.rules[name]
            hook = _hook_for(rule)
            if hook is not None:
                handles.append(module.register_forward_hook(hook))
            if isinstance(rule, PoolNorm):
                handles.append(module.register_forward_pre_hook(_norm_pre_hook))
        yield model
    finally:
        handles.remove()
