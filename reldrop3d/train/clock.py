"""Phase timing that does not stall a GPU: CUDA events, read once per epoch."""

from __future__ import annotations

import time
from collections import defaultdict

import torch


class PhaseClock:
    """Accumulates seconds per phase (relevance, drop, step).

    On the CPU it reads ``perf_counter``; on CUDA it records events and only
    waits for them in :meth:`totals`, so timing adds no per-step synchronisation.
    """

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.pending: list = []
        self.seconds: dict[str, float] = defaultdict(float)

    def stamp(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def add(self, phase: str, start, end) -> None:
        if self.cuda:
            self.pending.append((phase, start, end))
        else:
            self.seconds[phase] += end - start

    def totals(self) -> dict[str, float]:
        for phase, start, end in self.pending:
            end.synchronize()
            self.seconds[phase] += start.elapsed_time(end) / 1000.0
        self.pending.clear()
        return dict(self.seconds)

    def reset(self, seconds: dict[str, float] | None = None) -> None:
        self.pending.clear()
        self.seconds = defaultdict(float, seconds or {})
