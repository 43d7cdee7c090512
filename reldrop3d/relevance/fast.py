r"""The LRP rules of a :class:`~reldrop3d.relevance.RuleMap` in closed form: a fast path,
and LRP that is differentiable in the parameters.

zennit's hooks recompute each layer's forward inside the backward pass
(``torch.autograd.grad`` on a re-run of the module). For the rules used here
the backward has a closed form in tensors the forward already has: with
:math:`x` a layer's input, :math:`z = Wx + b` its output and
:math:`s(z) = z + \epsilon\,\mathrm{sign}(z)` zennit's stabiliser,

- epsilon: :math:`R_x = x \odot W^\top \big(R_z / s(z)\big)`;
- flat: :math:`R_{x,i} = \sum_j R_{z,j} / (n_x + \epsilon)` for every input ``i``;
- w-square: :math:`R_x = (W \odot W)^\top \big(R_z / s((W \odot W)\mathbf{1} + b^2)\big)`;
- pass (activations): :math:`R_x = R_z`;
- norm (:class:`~reldrop3d.relevance.rules.PoolNorm`, mean pools):
  :math:`R_x = x \odot J^\top \big(R_z / s(z)\big)` with :math:`J^\top` the module's own
  backward (for a mean pool :math:`R_p = x_p\, R_b / (n_b\, s(z_b))`).

:func:`fast_lrp` puts, after every ruled module, an autograd function whose
backward is its rule, and applies the map's canonizers (the same objects as
in the zennit composite): one forward and one input-only backward, and the
same relevance as zennit (tested to 1e-5), which stays the reference and the
way to use any other rule.

**Differentiable LRP** (``replay``). The backward is written in
differentiable operations on ``x``, ``z`` and ``W``, and the canonizers can
keep the folded and merged weights functions of the parameters
(``differentiable=True``: :math:`W' = \mathrm{diag}(\gamma/\sqrt{\sigma^2+\epsilon})\,W`,
running statistics constant; :math:`[W_x, W_p] \to [W_x, W_p, -W_p]`). But the
``x`` and ``z`` of a forward under the rules carry LRP, not the true
derivative, so the model first runs without rules (the *true* pass) and every
rule of the second (*chain*) pass takes ``x`` and ``z`` from that pass, with
their true graphs. The input gradient of the chain's output, seeded from the
true pass's logits, is then the LRP relevance as a function of the parameters
(checked against finite differences). The ops between ruled modules (max
pools, concatenations, gathers, k-NN and FPS selections) must be piecewise
linear, as in PointNet (without T-Nets), PointNet++ and DGCNN.
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

#: The rules with a closed form here (with a float stabiliser, for those that have one).
FAST_RULES = (Epsilon, Flat, WSquare, Pass, PoolNorm)


def stabilize(z: Tensor, epsilon: float) -> Tensor:
    """``z + epsilon * sign(z)`` with sign(0) = +1, as zennit's default stabiliser.

    Written as ``copysign(|z| + eps, z)``; it differs from zennit only at
    ``z = -0.0``. A new tensor, differentiable any number of times in ``z``.
    """
    return z.abs().add_(epsilon).copysign_(z)


class _Rule(torch.autograd.Function):
    """Forward: ``out`` (as a view). Backward: the relevance of ``u`` under rule ``kind``,
    from the ``saved`` tensors, in operations that ``create_graph`` can differentiate."""

    @staticmethod
    def forward(ctx, u: Tensor, out: Tensor, kind: str, epsilon: float, *saved) -> Tensor:
        ctx.save_for_backward(*saved)
        ctx.kind, ctx.epsilon, ctx.shape = kind, epsilon, u.shape
        return out.view_as(out)

    @staticmethod
    def backward(ctx, r: Tensor):
        saved, eps = ctx.saved_tensors, ctx.epsilon
        if ctx.kind == "epsilon":
            x, z, weight = saved
            r = torch.div(r, stabilize(z, eps)) @ weight
            r = r * x if torch.is_grad_enabled() else r.mul_(x)
        elif ctx.kind == "flat":
            r = (r.sum(-1, keepdim=True) / (ctx.shape[-1] + eps)).expand(ctx.shape).contiguous()
        elif ctx.kind == "wsquare":
            w2, bias = saved[0].square(), saved[1]
            denom = w2.sum(1) + (bias.square() if bias is not None else 0.0)
            r = (r / stabilize(denom, eps)) @ w2
        elif ctx.kind == "times_input":
            r = r * saved[0]
        elif ctx.kind == "over_output":
            r = r / stabilize(saved[0], eps)
        return (r, None, None, None, *(None for _ in saved))


def _epsilon(rule: Hook) -> float | None:
    """The epsilon of a rule of :data:`FAST_RULES` with a float stabiliser (zennit's
    default; 0 for ``Pass``), ``None`` for any other rule or stabiliser."""
    if type(rule) not in FAST_RULES:
        return None
    if isinstance(rule, (PoolNorm, Pass)):
        return getattr(rule, "epsilon", 0.0)
    for cell in rule.gradient_mapper.__closure__ or ():
        eps = getattr(cell.cell_contents, "epsilon", None)
        if (
            isinstance(eps, float)
            and not getattr(cell.cell_contents, "clip", False)
            and not getattr(cell.cell_contents, "norm_scale", False)
        ):
            return eps
    return None


def supports_fast(rules: RuleMap) -> bool:
    """Whether every rule of the map has a closed form (:data:`FAST_RULES`, float
    stabiliser): the fast path, and differentiable LRP, can run it."""
    return all(_epsilon(r) is not None for r in rules.rules.values())


def rule_output(
    rule: Hook, module: torch.nn.Module, u: Tensor, x: Tensor, z: Tensor, rest: tuple = ()
) -> Tensor:
    """The value of ``z``, whose vector-Jacobian product with respect to ``u`` is ``rule``'s
    relevance at the module's input ``x`` and output ``z`` (``rest``: the module's other
    inputs). The norm rule re-runs the module on ``u`` for its backward."""
    eps = _epsilon(rule)
    if isinstance(rule, PoolNorm):
        inner = type(module).forward(module, _Rule.apply(u, u, "times_input", 0.0, x), *rest)
        return _Rule.apply(inner, z, "over_output", eps, z)
    if isinstance(rule, Epsilon):
        return _Rule.apply(u, z, "epsilon", eps, x, z, module.weight)
    if isinstance(rule, Flat):
        return _Rule.apply(u, z, "flat", eps)
    if isinstance(rule, WSquare):
        return _Rule.apply(u, z, "wsquare", eps, module.weight, getattr(module, "bias", None))
    return _Rule.apply(u, z, "pass", eps)


def ruled_modules(model: torch.nn.Module, rules: RuleMap) -> dict[str, torch.nn.Module]:
    """``{name: module}`` for every module the map has a rule for; ``KeyError`` for a
    name the model lacks."""
    modules = dict(model.named_modules())
    missing = [name for name in rules.rules if name not in modules]
    if missing:
        raise KeyError(f"the rule map names modules the model does not have: {missing}")
    return {name: modules[name] for name in rules.rules}


def _fast_hook(rule: Hook):
    def hook(module, inputs, output):
        u, *rest = inputs
        return rule_output(rule, module, u, u, output, rest) if u.requires_grad else output

    return hook


def _chain_forward(rule: Hook, module: torch.nn.Module, name: str, recorded: Iterator):
    def forward(u, *rest):
        try:
            x, z = next(recorded)
        except StopIteration:
            raise RuntimeError(
                f"module {name!r} ran more often in the second forward than in the first: "
                f"differentiable LRP needs a deterministic eval-mode forward"
            ) from None
        return rule_output(rule, module, u, x, z, rest) if u.requires_grad else z

    return forward


@contextmanager
def fast_lrp(model: torch.nn.Module, rules: RuleMap, replay=None) -> Iterator[Tensor | None]:
    """Apply the map's canonizers and fast rules to ``model`` for the duration of the block.

    Inside, the gradient of an output with respect to the input is its LRP
    relevance under ``rules``. With ``replay`` (the batch the block will
    explain, its inputs not requiring grad) the relevance is differentiable in
    the parameters: the block runs the true pass on ``replay`` and yields its
    logits, the seed's source; otherwise it yields ``None``. Everything is
    reverted on exit, exceptions included.
    """
    if not supports_fast(rules):
        raise NotImplementedError("this rule map has rules without a fast implementation")
    handles, modules, logits = RemovableHandleList(), {}, None
    try:
        for canonizer in rules.canonizers(differentiable=replay is not None):
            handles += canonizer.apply(model)
        modules = ruled_modules(model, rules)  # after the folds, which swap linear layers
        if replay is None:
            for name, module in modules.items():
                handles.append(module.register_forward_hook(_fast_hook(rules.rules[name])))
        else:
            records: dict[str, list] = {name: [] for name in modules}
            recorders = RemovableHandleList(
                module.register_forward_hook(lambda m, i, o, n=name: records[n].append((i[0], o)))
                for name, module in modules.items()
            )
            try:
                logits = model(replay)
            finally:
                recorders.remove()
            for name, module in modules.items():
                rule, recorded = rules.rules[name], iter(records[name])
                module.forward = _chain_forward(rule, module, name, recorded)
        yield logits
    finally:
        for module in modules.values() if replay is not None else ():
            module.__dict__.pop("forward", None)
        handles.remove()
