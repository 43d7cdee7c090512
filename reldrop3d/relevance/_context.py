"""Putting a model in explanation state and back, whatever happens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module under ``DistributedDataParallel``/``DataParallel`` wrappers."""
    while isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        model = model.module
    return model


@contextmanager
def explaining(model: torch.nn.Module, keep_param_grad: bool = False) -> Iterator[torch.nn.Module]:
    """Eval mode and frozen parameters inside the block; every module's mode and every
    parameter's ``requires_grad`` restored on exit, exceptions included.

    Eval mode: batch norms use (and never update) their running statistics,
    dropout is off. Frozen parameters: autograd computes input gradients only.
    ``keep_param_grad=True`` leaves ``requires_grad`` as it is (for
    explanations that must be differentiable in the parameters).
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        if not keep_param_grad:
            for p, _ in flags:
                p.requires_grad_(False)
        yield model
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)
