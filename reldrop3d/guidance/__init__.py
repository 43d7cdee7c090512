r"""Explanation-guided training: penalise attribution where the model should not look.

With per-point masks ``M`` (1 = allowed, e.g. an object's own parts; 0 = not
allowed, e.g. a decoy), a differentiable attribution ``A`` of the true class
and a per-cloud loss ``L(A, M)``, the training loss is

.. math::
    \mathrm{CE} + \lambda \cdot \frac{1}{|\mathcal{M}|} \sum_{i \in \mathcal{M}} L_i

over the clouds :math:`\mathcal{M}` of the batch whose mask is available
(the others contribute the cross-entropy only).

- :mod:`.losses`: :func:`energy`, :func:`rrr`, :func:`cyborg` (each ``[num_graphs]``,
  by name in :data:`LOSSES`), :func:`guidance_term`, :func:`guided_loss`.
- :mod:`.attribution`: :func:`forward_with_attribution` (logits and attribution
  from one training forward), :func:`lrp_relevance` (LRP differentiable in the
  parameters), :func:`check_guidance_model`.
"""

from reldrop3d.guidance.attribution import (
    check_guidance_model,
    forward_with_attribution,
    lrp_relevance,
)
from reldrop3d.guidance.losses import LOSSES, cyborg, energy, guidance_term, guided_loss, rrr
from reldrop3d.names import GUIDANCE_METHODS

__all__ = [
    "GUIDANCE_METHODS",
    "LOSSES",
    "check_guidance_model",
    "cyborg",
    "energy",
    "forward_with_attribution",
    "guidance_term",
    "guided_loss",
    "lrp_relevance",
    "rrr",
]
