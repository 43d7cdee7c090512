"""Which class to explain, per cloud."""

from __future__ import annotations

import torch
from torch import Tensor


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


def seed(logits: Tensor, target: Tensor) -> Tensor:
    """One-hot output relevance ``[num_graphs, num_classes]``: 1 at each cloud's target
    class (zennit's convention), so each cloud's relevance sums to about 1."""
    return torch.nn.functional.one_hot(target, logits.size(-1)).to(logits.dtype)
