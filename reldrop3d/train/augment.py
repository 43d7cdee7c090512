"""The batch augmentations of a run, applied after dropping (step 3 of the training step)."""

from __future__ import annotations

import torch
from torch_geometric.transforms import Compose

from reldrop3d.data.transforms import JitterClouds, RotateClouds, ScaleClouds, ShiftClouds
from reldrop3d.train.config import TrainConfig


def build_augment(cfg: TrainConfig, up_axis: int, generator: torch.Generator) -> Compose:
    """Random scale (``cfg.scale``, per axis), shift (``cfg.shift``), jitter
    (``cfg.jitter`` sigma, clipped at 5 sigma) and rotation about the up axis
    (``cfg.rotate``), each drawn per cloud of a batch from ``generator``."""
    steps = []
    low, high = cfg.scale
    if (low, high) != (1.0, 1.0):
        steps.append(ScaleClouds(low, high, anisotropic=True, generator=generator))
    if cfg.shift > 0:
        steps.append(ShiftClouds(cfg.shift, generator=generator))
    if cfg.jitter > 0:
        steps.append(JitterClouds(cfg.jitter, clip=5 * cfg.jitter, generator=generator))
    if cfg.rotate:
        steps.append(RotateClouds(axis=up_axis, generator=generator))
    return Compose(steps)
