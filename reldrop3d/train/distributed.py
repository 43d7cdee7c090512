"""Multi-process training under ``torchrun``: process group set-up and reductions."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place: ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device: str) -> World:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1), else a world of one.

    Backend: gloo on CPU, nccl on CUDA (each rank on ``cuda:LOCAL_RANK``).
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return World(rank, size, local)


def all_reduce_sum(
    values: dict[str, float], device: torch.device, world: World
) -> dict[str, float]:
    """Sum a dict of numbers over all ranks (identity in a world of one)."""
    if not world.distributed:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


def any_rank(flag: bool, device: torch.device, world: World) -> bool:
    """True on every rank if ``flag`` is True on any."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def shutdown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
