"""What RelDrop costs per training step: the one implementation of its timings.

A plain step, a RelDrop step (``reldrop_every`` 1 or 5) and the two phases
of the latter alone (the LRP relevance pass and the dropper), each timed on
:class:`~reldrop3d.train.Trainer`'s own ``train_step``, so what is measured
is what ``reldrop3d train`` runs. ``reldrop3d bench`` prints them for a
user's model, batch and device (:func:`run_bench`); ``benchmarks/`` imports
them and adds real data, fresh processes, memory, JSON and plots.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch

#: mode -> (augment, reldrop_every) of the run whose step is timed
MODES = {"plain": ("none", 1), "reldrop1": ("reldrop", 1), "reldrop5": ("reldrop", 5)}


def now(device: str | torch.device = "cpu") -> float:
    """``perf_counter`` after waiting for the device's queued work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class CloudList(list):
    """Clouds as a training set for the :class:`~reldrop3d.train.Trainer`: a list with
    ``num_classes``."""

    def __init__(self, clouds, num_classes: int):
        super().__init__(clouds)
        self.num_classes = num_classes


def step_trainer(model: str, mode: str, clouds, batch_size: int, out, device="cpu", **cfg):
    """A :class:`~reldrop3d.train.Trainer` for ``mode`` (:data:`MODES`), warmed up.

    ``clouds`` (a dataset with ``num_classes``, all clouds of one size) are cut
    into batches in order. Warm-up: the first batch, or for ``reldrop5`` a whole
    epoch, which explains every cloud and fills the relevance cache. ``out`` is
    only checked, never written; ``cfg`` holds other :class:`TrainConfig` keys.
    Returns ``(trainer, batches to time, epoch to time them in)``.
    """
    from torch_geometric.loader import DataLoader

    from reldrop3d.train import TrainConfig, Trainer

    augment, every = MODES[mode]
    config = TrainConfig(
        model=model,
        augment=augment,
        reldrop_every=every,
        batch_size=batch_size,
        num_points=clouds[0].num_nodes,
        out=str(out),
        device=str(device),
        epochs=2,
        **cfg,
    )
    trainer = Trainer(config, clouds, clouds, progress=False)
    batches = [b.to(trainer.device) for b in DataLoader(trainer.train_set, batch_size)]
    if trainer.cache is not None:
        for b in batches:
            trainer.train_step(b, 0)
        return trainer, batches, 1
    trainer.train_step(batches[0], 0)
    return trainer, batches[1:], 0


def time_steps(trainer, batches, epoch: int) -> dict:
    """Median seconds of ``trainer.train_step`` over ``batches`` (``step``), their number
    and, with a relevance cache, the mean share of clouds explained afresh."""
    times, explained = [], []
    for b in batches:
        if trainer.cache is not None:
            explained.append(float(trainer.cache.due(b.idx, epoch).float().mean()))
        start = now(trainer.device)
        trainer.train_step(b, epoch)
        times.append(now(trainer.device) - start)
    out = {"step": statistics.median(times), "steps_timed": len(times)}
    if explained:
        out["share_explained"] = statistics.mean(explained)
    return out


def time_phases(trainer, batches, drop_repeats: int = 5) -> dict:
    """Median seconds of the LRP relevance pass and of the trainer's dropper alone on
    ``batches``, and the points per cloud the dropper keeps (of the last batch)."""
    from reldrop3d.relevance import point_relevance

    dev, relevance, drop = trainer.device, [], []
    for b in batches:
        start = now(dev)
        r = point_relevance(trainer.core, b)
        relevance.append(now(dev) - start)
        for _ in range(drop_repeats):
            start = now(dev)
            trainer.dropper(b, r)
            drop.append(now(dev) - start)
    return {
        "relevance": statistics.median(relevance),
        "drop": statistics.median(drop),
        "points_after_drop": trainer.dropper(b, r).num_nodes / b.num_graphs,
    }


def run_bench(
    model: str = "pointnet",
    batch_size: int = 32,
    num_points: int = 1024,
    device: str = "cpu",
    repeats: int = 3,
    seed: int = 0,
) -> dict:
    """Seconds per plain step, relevance pass, drop and RelDrop step, and their ratios.

    On ``repeats + 1`` batches of SyntheticShapes clouds (the embedded data: real
    shapes, whose neighbourhoods are as full as on ModelNet40; random points are
    not), the first one warming up, the two steps taken in turn
    (``benchmarks/step_cost.py`` runs on ModelNet40, each mode in a fresh process).
    """
    from reldrop3d.data import SyntheticShapes, random_subset

    shapes = SyntheticShapes("train", num_points)
    clouds = CloudList(random_subset(shapes, batch_size * (repeats + 1), seed), len(shapes.classes))
    out = {"model": model, "batch_size": batch_size, "num_points": num_points, "device": device}
    with tempfile.TemporaryDirectory() as tmp:  # checked, never written
        runs = {
            key: step_trainer(model, mode, clouds, batch_size, tmp, device)
            for key, mode in (("plain_step", "plain"), ("reldrop_step", "reldrop1"))
        }
    steps: dict[str, list[float]] = {key: [] for key in runs}
    for i in range(repeats):  # in turn: a process still warming up slows both alike
        for key, (trainer, batches, epoch) in runs.items():
            steps[key].append(time_steps(trainer, batches[i : i + 1], epoch)["step"])
    out.update({key: statistics.median(times) for key, times in steps.items()})
    phases = time_phases(*runs["reldrop_step"][:2])
    out.update(relevance=phases["relevance"], drop=phases["drop"])
    for key in ("relevance", "drop", "reldrop_step"):
        out[f"{key}_over_step"] = out[key] / out["plain_step"]
    return out
