r"""An independent check of a rule map: LRP-epsilon against input x gradient.

On a network without biases whose nonlinearities are piecewise linear
through the origin (ReLU, LeakyReLU), every layer is homogeneous: its output
is its Jacobian times its input. LRP then has a closed form (Ancona et al.,
ICLR 2018): with the epsilon rule on every linear layer (:math:`\epsilon \to 0`),
pass-through on the activations, winner-takes-all at max aggregations, the
``Norm`` rule on mean pools, and the explained logit :math:`y_t` as the
output relevance, by induction from the output

.. math::
    R_i = x_i \,\frac{\partial y_t}{\partial x_i}

for every input ``i``: LRP equals input x gradient point by point. A rule map
that conserves relevance but sends it to the wrong points (an even split at
a mean pool, an unfolded difference feature, a rule missing on a layer that
mixes points) breaks the identity, while the conservation tests still pass.
"""

from __future__ import annotations

import copy

import torch

from reldrop3d.relevance.api import point_relevance, unwrap
from reldrop3d.relevance.rulemaps import PointLRPComposite, RuleMap, lrp_composite


def without_biases(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` with every bias, batch-norm shift :math:`\\beta` and running
    mean set to zero (weights, scales and running variances kept), in eval mode."""
    out = copy.deepcopy(unwrap(model))
    with torch.no_grad():
        for m in out.modules():
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.zero_()
    return out.eval()


def lrp_identity_gap(
    model: torch.nn.Module,
    batch,
    target: None | str | int | torch.Tensor = None,
    *,
    fast: bool | None = None,
    epsilon: float = 1e-9,
    rules: RuleMap | None = None,
) -> float:
    r"""How far LRP-epsilon is from input x gradient on ``model`` made bias-free.

    On a copy of ``model`` from :func:`without_biases`, computes the LRP
    relevance ``R`` of :func:`~reldrop3d.relevance.point_relevance` with
    ``lrp_composite(model, first_rule="epsilon", epsilon=epsilon)`` (or ``rules``) and
    ``seed="logit"``, and the input x gradient ``G`` of the same copy, and
    returns :math:`\max_p |R_p - G_p| \,/\, \max_p |G_p|` over the points of
    ``batch``. About 0 (``1e-5`` in float32) when the model's rule map is LRP
    as the module docstring states; of order 1 when it is not.

    Args:
        model: a reldrop3d model or a class registered with
            :func:`~reldrop3d.relevance.register_rule_map` (left unchanged).
        batch: PyG ``Batch`` with ``pos [N, 3]`` (and ``batch``, ``y``).
        target: the explained class, as in ``point_relevance`` (``None``: ``batch.y``).
        fast: ``True`` the fast path, ``False`` zennit's hooks, ``None`` as
            ``point_relevance`` chooses.
        epsilon: stabiliser of the epsilon rule; the identity holds as it goes to 0
            (in float32 rounding limits it to about 1e-9; float64 takes 1e-12).
        rules: the rule map to check (default: the model's, with epsilon everywhere);
            it names modules of ``model`` and must use epsilon-type rules to hold.

    Raises:
        ValueError: ``epsilon`` is not a positive number.
    """
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
        raise ValueError(f"epsilon must be a positive number, got {epsilon!r}")
    plain = without_biases(model)
    if rules is None:
        composite = lrp_composite(plain, first_rule="epsilon", epsilon=float(epsilon))
    else:
        composite = PointLRPComposite(rules)
    lrp = point_relevance(plain, batch, target, composite=composite, fast=fast, seed="logit")
    ixg = point_relevance(plain, batch, target, method="input_x_gradient")
    return float((lrp - ixg).abs().max() / ixg.abs().max())
