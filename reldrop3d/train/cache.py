"""Cached per-point relevance for ``--reldrop-every K``."""

from __future__ import annotations

import torch
from torch import Tensor


class RelevanceCache:
    r"""Relevance of every training sample, refreshed once every ``every`` epochs per sample.

    Keyed by dataset index and point position: ``values[i, j]`` is the
    relevance of point ``j`` of sample ``i``. Sample ``i`` is due in epoch
    ``e`` when it has never been explained or when ``(e + i) mod K = 0``, so
    each epoch refreshes about ``1/K`` of the samples (the cost is spread,
    not bunched into every K-th epoch). Valid because the training pipeline
    feeds the same points of a sample in every epoch: resampling is not done
    per epoch (the first ``num_points`` stored points are used) and random
    augmentation acts on the batch after dropping.

    Shapes: ``values [num_samples, max_points]``, ``epoch [num_samples]``.
    """

    def __init__(self, num_samples: int, max_points: int, every: int, device="cpu"):
        if every < 2:
            raise ValueError(f"every must be >= 2 for a cache, got {every}")
        self.every = every
        self.values = torch.zeros(num_samples, max_points, device=device)
        self.epoch = torch.full((num_samples,), -1, dtype=torch.long, device=device)

    def due(self, idx: Tensor, epoch: int) -> Tensor:
        """``BoolTensor [B]``: which samples ``idx [B]`` need fresh relevance in ``epoch``."""
        idx = idx.to(self.epoch.device)
        return (self.epoch[idx] < 0) | ((idx + epoch) % self.every == 0)

    @staticmethod
    def _where(idx: Tensor, batch: Tensor, ptr: Tensor) -> tuple[Tensor, Tensor]:
        """``(sample, position)`` in the cache of each point of a batch."""
        return idx[batch], torch.arange(batch.numel(), device=batch.device) - ptr[batch]

    def get(self, idx: Tensor, batch: Tensor, ptr: Tensor) -> Tensor:
        """Cached relevance ``[N]`` of the points of a batch (``batch [N]``, ``ptr [B + 1]``)."""
        return self.values[self._where(idx, batch, ptr)]

    def put(self, idx: Tensor, batch: Tensor, ptr: Tensor, relevance: Tensor, epoch: int) -> None:
        """Store ``relevance [N]`` for the clouds of a batch, computed in ``epoch``."""
        self.values[self._where(idx, batch, ptr)] = relevance.detach().to(self.values.dtype)
        self.epoch[idx] = epoch

    def state_dict(self) -> dict:
        return {"every": self.every, "values": self.values.cpu(), "epoch": self.epoch.cpu()}

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["values"].shape) != tuple(self.values.shape):
            raise ValueError(
                f"relevance cache of shape {tuple(state['values'].shape)} does not fit "
                f"{tuple(self.values.shape)}"
            )
        self.values.copy_(state["values"])
        self.epoch.copy_(state["epoch"])
