"""Point operations and data loading, against straightforward versions.

- ``reldrop3d.ops.knn_graph`` (k=20) and ``fps`` (ratio 0.5) at 32 x 1024
  points, beside brute-force dense versions (``torch.cdist`` over the padded
  batch then ``topk``; farthest point sampling with a ``[B, N, 3]``
  difference per step), medians of interleaved repeats;
- the training data loader's samples per second on the shared ModelNet40
  (the training pipeline: the dataset plus PyG's ``DataLoader``, then the
  batched random scale and shift the trainer applies) against the samples
  per second a PointNet training step consumes on this machine: the loader
  must not be the bottleneck.

    python benchmarks/ops_speed.py [--repeats 5]

Writes benchmarks/results/ops_speed.json and .png.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from pathlib import Path

from common import (
    benchmark_clouds,
    benchmark_data,
    figure,
    interleaved,
    save_figure,
    write_result,
)


def dense_knn(pos, batch_size: int, n: int, k: int):
    import torch

    x = pos.view(batch_size, n, -1)
    d = torch.cdist(x, x)
    d.diagonal(dim1=1, dim2=2).fill_(math.inf)
    return d.topk(k, dim=-1, largest=False).indices


def dense_fps(pos, batch_size: int, n: int, m: int):
    import torch

    x = pos.view(batch_size, n, -1)
    rows = torch.arange(batch_size)
    best = torch.full((batch_size, n), math.inf)
    cur = torch.zeros(batch_size, dtype=torch.long)
    out = torch.empty(batch_size, m, dtype=torch.long)
    for t in range(m):
        out[:, t] = cur
        d = (x - x[rows, cur].unsqueeze(1)).square().sum(-1)
        best = torch.minimum(best, d)
        best[rows, cur] = -1
        cur = best.argmax(1)
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--loader-batches", type=int, default=60)
    args = p.parse_args()

    import torch
    from torch_geometric.loader import DataLoader

    from reldrop3d import ops
    from reldrop3d.bench import step_trainer, time_steps
    from reldrop3d.train.augment import build_augment
    from reldrop3d.train.config import TrainConfig
    from reldrop3d.train.datasets import Indexed, epoch_order

    b, n = 32, 1024
    g = torch.Generator().manual_seed(0)
    pos = torch.nn.functional.normalize(torch.randn(b * n, 3, generator=g), dim=-1)
    batch = torch.arange(b).repeat_interleave(n)
    fns = {
        "knn_graph": lambda: ops.knn_graph(pos, 20, batch),
        "knn_dense": lambda: dense_knn(pos, b, n, 20),
        "fps": lambda: ops.fps(pos, batch, 0.5, random_start=False),
        "fps_dense": lambda: dense_fps(pos, b, n, n // 2),
    }
    ops_times = {k: statistics.median(v) for k, v in interleaved(fns, args.repeats).items()}
    print(
        f"knn_graph k=20: {ops_times['knn_graph']:.3f}s (dense cdist+topk "
        f"{ops_times['knn_dense']:.3f}s)"
    )
    print(f"fps ratio 0.5:  {ops_times['fps']:.3f}s (dense loop {ops_times['fps_dense']:.3f}s)")

    t = time.perf_counter()
    ds, source = benchmark_data(n)
    load_seconds = time.perf_counter() - t
    augment = build_augment(TrainConfig(), 2, torch.Generator().manual_seed(0))
    loader = DataLoader(
        Indexed(ds), batch_size=b, sampler=epoch_order(len(ds), 0, 0), drop_last=True
    )
    it = iter(loader)
    next(it)
    t, seen = time.perf_counter(), 0
    for _ in range(args.loader_batches):
        data = augment(next(it))
        seen += data.num_graphs
    loader_rate = seen / (time.perf_counter() - t)

    steps = max(3, args.repeats // 2)
    clouds, _ = benchmark_clouds(b * (steps + 1), n, data=(ds, source))
    with tempfile.TemporaryDirectory() as tmp:
        step_time = time_steps(*step_trainer("pointnet", "plain", clouds, b, tmp))["step"]
    consume_rate = b / step_time
    print(
        f"loader: {loader_rate:.0f} samples/s; a PointNet step consumes {consume_rate:.0f} "
        f"samples/s ({step_time:.3f}s per 32 x 1024 step); dataset loaded in "
        f"{load_seconds:.1f}s"
    )
    out = {
        "batch": [b, n],
        "ops_seconds": ops_times,
        "speedup": {
            "knn_graph": ops_times["knn_dense"] / ops_times["knn_graph"],
            "fps": ops_times["fps_dense"] / ops_times["fps"],
        },
        "loader": {
            "source": source,
            "samples_per_second": loader_rate,
            "dataset_load_seconds": load_seconds,
            "pointnet_step_seconds": step_time,
            "pointnet_step_samples_per_second": consume_rate,
            "loader_over_step": loader_rate / consume_rate,
        },
        "targets_met": {"loader_faster_than_pointnet_step": loader_rate > consume_rate},
    }
    write_result("ops_speed", out, plot=lambda p: plot(ops_times, loader_rate, consume_rate, p))


def plot(ops_times: dict, loader_rate: float, consume_rate: float, path: Path) -> None:
    fig, (a, c) = figure(1, 2, figsize=(8, 3.2))
    labels = ["knn_graph", "knn_dense", "fps", "fps_dense"]
    a.bar(labels, [ops_times[k] * 1e3 for k in labels], color=["C0", "C7", "C0", "C7"])
    a.set_ylabel("ms at 32 x 1024")
    a.set_title("reldrop3d.ops (blue) vs dense")
    c.bar(["loader", "PointNet step"], [loader_rate, consume_rate], color=["C2", "C1"])
    c.set_ylabel("samples / s")
    c.set_title("data loading vs consumption")
    save_figure(fig, path)


if __name__ == "__main__":
    main()
