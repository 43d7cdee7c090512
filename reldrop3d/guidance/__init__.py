r"""Explanation-guided training: penalise attribution where the model should not look.

With per-point masks ``M`` (1 = allowed, e.g. an object's own parts; 0 = not
allowed, e.g. a decoy), a differentiable attribution ``A`` of the true class
and a per-cloud loss ``L(A, M)``, the training loss is

.. math::
    \mathrm{CE} + \lambda \cdot \frac{1}{|\mathcal{M}|} \sum_{i \in \mathcal{M}} L_i

over the clouds :math:`\mathcal{M}` of the batch whose mask is available
(the others contribute the cross-entropy only).

- :mod:`.losses`: :func:`energy`, :func:`rrr`, :func:`cyborg` (each ``[num_graphs]``),
  :func:`guidance_term`, :func:`guided_loss`.
- :mod:`.attribution`: :func:`forward_with_attribution` (logits and attribution
  from one training forward), :func:`gradient_attribution`;
  :data:`GUIDANCE_METHODS` = input_x_gradient, gradient, lrp.
- :mod:`.lrp`: :func:`lrp_relevance`, LRP relevance differentiable in the
  parameters.

``reldrop3d train --guidance energy|rrr|cyborg --guidance-lambda L
--guidance-method input_x_gradient --guidance-fraction F`` trains with it
(data with masks: ``--data synthetic-decoy``).
"""

from reldrop3d.guidance.attribution import (
    GUIDANCE_METHODS,
    GUIDANCE_MODELS,
    check_guidance_model,
    forward_with_attribution,
    gradient_attribution,
)
from reldrop3d.guidance.losses import LOSSES, cyborg, energy, guidance_term, guided_loss, rrr
from reldrop3d.guidance.lrp import lrp_relevance

__all__ = [
    "GUIDANCE_METHODS",
    "GUIDANCE_MODELS",
    "LOSSES",
    "check_guidance_model",
    "cyborg",
    "energy",
    "forward_with_attribution",
    "gradient_attribution",
    "guidance_term",
    "guided_loss",
    "lrp_relevance",
    "rrr",
]
