"""Batch-norm statistics: re-estimating them after (short) training."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from reldrop3d.models._base import in_mode


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, batches: Iterable) -> torch.nn.Module:
    """Re-estimate every batch norm's running mean and variance as exact averages over ``batches``.

    Running statistics are exponential averages (momentum 0.1) that lag
    behind the weights while these change fast, as in short runs; evaluation
    then sees stale statistics. This runs the model forward in train mode,
    without gradients, over ``batches`` with cumulative averaging
    (``momentum=None``), then restores each module's mode and momentum
    ("precise BN", Wu and Johnson 2021). Parameters are not touched.
    """
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    saved = [(m, m.momentum) for m in norms]
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        with in_mode(model, training=True):
            for batch in batches:
                model(batch)
    finally:
        for m, momentum in saved:
            m.momentum = momentum
    return model
