"""Which class to explain, per cloud."""

from __future__ import annotations

import torch
from torch import Tensor

from reldrop3d.names import LRP_SEEDS as SEEDS


def resolve_target(target, data, logits: Tensor) -> Tensor:
    """``LongTensor [num_graphs]`` of the class to explain for each cloud.

    ``None``: the ground truth ``data.y``; ``"pred"``: the predicted class;
    an int: that class for every cloud; a ``LongTensor [num_graphs]``: as given.
    """
    num_graphs, num_classes = logits.shape
    if target is None:
        y = getattr(data, "y", None)
        if not isinstance(y, Tensor):
            raise ValueError("target=None explains the ground-truth class, but the batch has no y")
        t = y.view(-1)
    elif isinstance(target, str):
        if target != "pred":
            raise ValueError(f"target must be None, 'pred', an int or a LongTensor, got {target!r}")
        t = logits.detach().argmax(-1)
    elif isinstance(target, int) and not isinstance(target, bool):
        t = torch.full((num_graphs,), target, dtype=torch.long, device=logits.device)
    elif isinstance(target, Tensor):
        t = target.view(-1)
    else:
        raise TypeError(f"target must be None, 'pred', an int or a LongTensor, got {type(target)}")
    if t.dtype != torch.long or t.numel() != num_graphs:
        raise ValueError(
            f"target must hold one class index (torch.long) per cloud ({num_graphs}), got "
            f"{t.numel()} values of dtype {t.dtype}"
        )
    if isinstance(target, int) and not 0 <= target < num_classes:
        raise ValueError(f"target must be a class index in [0, {num_classes}), got {target}")
    if t.device.type == "cpu" and t.numel() and not 0 <= int(t.min()) <= int(t.max()) < num_classes:
        # (on an accelerator this check would stall the device; one_hot asserts there)
        what = "batch.y (explained when target=None)" if target is None else "target"
        raise ValueError(
            f"{what} must hold class indices in [0, {num_classes}) for this model, got values "
            f"from {int(t.min())} to {int(t.max())}"
        )
    return t.to(logits.device)


#: How the explained output is seeded: see :func:`output_relevance`.


def check_seed(seed: str) -> str:
    """``seed`` if it is one of :data:`SEEDS`, else a ``ValueError`` naming it."""
    if not isinstance(seed, str) or seed not in SEEDS:
        raise ValueError(f"seed must be one of {SEEDS}, got {seed!r}")
    return seed


def output_relevance(logits: Tensor, target: Tensor, seed: str) -> Tensor:
    r"""The relevance LRP starts from, ``[num_graphs, num_classes]``: zero except at each
    cloud's target class ``t``, where it is

    - ``seed="one"``: 1 (zennit's convention, and the published RelDrop's), so
      each cloud's relevance sums to about 1 whatever the logit;
    - ``seed="logit"``: the logit :math:`y_t` itself, so each cloud's relevance
      sums to about :math:`y_t`, and each point's relevance has the sign of its
      contribution to :math:`y_t`.

    LRP's rules are linear in the seed, so the two differ per cloud by the
    factor :math:`y_t`: the same relevance up to scale where :math:`y_t > 0`, its
    negation where :math:`y_t < 0` (``"one"`` then ranks the points that
    *least* support the class first). With ``"logit"`` the seed keeps its graph
    to the logits, so relevance that is differentiated again (explanation
    guidance) differentiates the seed too.

    Args:
        logits: ``[num_graphs, num_classes]``.
        target: ``LongTensor [num_graphs]``, the explained class of each cloud.
        seed: ``"one"`` or ``"logit"`` (:data:`SEEDS`).
    """
    onehot = torch.nn.functional.one_hot(target, logits.size(-1)).to(logits.dtype)
    if check_seed(seed) == "one":
        return onehot
    return onehot * logits
