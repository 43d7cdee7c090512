"""``reldrop3d bench``: what RelDrop costs on this machine, in a minute.

A quick, in-process version of ``benchmarks/step_cost.py`` for a user's own
model, batch size and device: medians of a plain training step, the LRP
relevance pass, the dropper, and a full RelDrop step, on random clouds (the
unit sphere's surface) of the requested size.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch_geometric.data import Batch, Data


def _timed(fn, repeats: int, device: torch.device) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_bench(
    model: str = "pointnet",
    batch_size: int = 32,
    num_points: int = 1024,
    device: str = "cpu",
    repeats: int = 3,
    num_classes: int = 40,
) -> dict:
    """Seconds per plain step, relevance pass, drop and RelDrop step, and their ratios."""
    from reldrop3d.drop import RelDrop
    from reldrop3d.models import build
    from reldrop3d.relevance import point_relevance

    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    clouds = [
        Data(
            pos=torch.nn.functional.normalize(torch.randn(num_points, 3, generator=g), dim=-1),
            y=torch.tensor([i % num_classes]),
        )
        for i in range(batch_size)
    ]
    batch = Batch.from_data_list(clouds).to(dev)
    torch.manual_seed(0)
    net = build(model, num_classes).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    dropper = RelDrop(generator=torch.Generator(device=dev).manual_seed(0))

    def step(b):
        net.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(b), b.y).backward()
        opt.step()

    relevance = point_relevance(net, batch)
    out = {
        "model": model,
        "batch_size": batch_size,
        "num_points": num_points,
        "device": device,
        "plain_step": _timed(lambda: step(batch), repeats, dev),
        "relevance": _timed(lambda: point_relevance(net, batch), repeats, dev),
        "drop": _timed(lambda: dropper(batch, relevance), repeats * 10, dev),
        "reldrop_step": _timed(
            lambda: step(dropper(batch, point_relevance(net, batch))), repeats, dev
        ),
    }
    for key in ("relevance", "drop", "reldrop_step"):
        out[f"{key}_over_step"] = out[key] / out["plain_step"]
    return out
