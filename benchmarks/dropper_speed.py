"""Speed of the batched RelDrop dropper against a per-sample loop, and its share of a step.

What it measures (issues 4 and 13):

- at 32 x 1024, 128 x 1024 and 128 x 2048 points on the CPU, the median time
  of ``RelDrop`` on a PyG batch for every mode (``threshold``, ``topk``,
  ``sample``) with ``fill="remove"`` and ``fill="zero"``, of the functional
  mask alone, of the dense ``[B, N, 3]`` call, and of ``RateMatchedDrop``
  (threshold rule, zero fill: the rule plus one ranking of every cloud);
- beside them, a per-sample reference of the threshold rule: a Python loop
  over the clouds doing NumPy work per cloud, like the published code
  (normalise by the cloud's min/max, ``alpha * U + (1 - alpha) * r >= 1 -
  beta``), with the same ``min_points`` guard so the comparison is fair, and
  building its output as the published code does (``fill="zero"``: the
  dropped rows of a copy of the points set to 0) or as a removal needs it
  (``fill="remove"``: the kept points concatenated, plus the new batch
  vector). It is a tight version of the published loop, which in addition
  copies the whole batch to and from the GPU once per cloud;
- the dropper's share of one plain training step of the package's PointNet
  (``reldrop3d.models.build("pointnet", 40)``; the trainer's step, timed by
  :mod:`reldrop3d.bench` as ``benchmarks/step_cost.py`` times it) at 32 x 1024;
- with ``--device cuda``, the same on a GPU beside the loop that pays a
  device round trip per cloud (skipped, with a message, without a GPU).

Timings on a shared machine are noisy: every implementation is timed once
per round, in a shuffled order, over many rounds, and medians are reported.
The loops and the threshold rule are interleaved with each other; the modes
that rank every cloud (topk, sample, RateMatchedDrop) in a second group after
them, and their ratios to the loop are for scale only.

Writes ``benchmarks/results/dropper_speed.json`` and ``dropper_speed.png``.

Usage::

    python benchmarks/dropper_speed.py            # about 2-3 minutes on 2 CPU cores
    python benchmarks/dropper_speed.py --quick    # a few seconds, small sizes
    python benchmarks/dropper_speed.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import (
    RESULTS,
    benchmark_clouds,
    figure,
    interleaved,
    machine,
    save_figure,
    write_result,
)
from torch import Tensor
from torch_geometric.data import Batch

from reldrop3d.bench import step_trainer, time_steps
from reldrop3d.drop import RateMatchedDrop, RelDrop, relevance_mask

ALPHA, BETA, MIN_POINTS = 0.5, 0.5, 32
SIZES = [(32, 1024), (128, 1024), (128, 2048)]
QUICK_SIZES = [(8, 256), (32, 1024)]


# ---------------------------------------------------------------------------
# the per-sample reference


def loop_threshold(
    pos: Tensor,
    relevance: Tensor,
    ptr: list[int],
    fill: str,
    rng: np.random.RandomState,
    alpha: float = ALPHA,
    beta: float = BETA,
    min_points: int = MIN_POINTS,
) -> tuple[Tensor, Tensor]:
    """The threshold rule cloud by cloud in NumPy, as the published code does it.

    ``pos [P, 3]`` and ``relevance [P]`` on the CPU, ``ptr`` the clouds' offsets.
    Returns ``(pos_out, drop)`` for ``fill="zero"``, ``(pos_kept, batch_kept)`` for
    ``fill="remove"``.
    """
    points, rel = pos.numpy(), relevance.numpy()
    floor = max(min_points, 1)
    out = points.copy() if fill == "zero" else None
    kept, counts = [], []
    drop_all = np.zeros(len(rel), dtype=bool)
    for i in range(len(ptr) - 1):
        start, end = ptr[i], ptr[i + 1]
        r = rel[start:end]
        lo, hi = r.min(), r.max()
        r = (r - lo) / (hi - lo) if hi > lo else np.zeros_like(r)
        key = alpha * rng.random_sample(end - start) + (1.0 - alpha) * r
        drop = key >= 1.0 - beta
        n = end - start
        if n <= floor:
            drop[:] = False
        elif drop.sum() > n - floor:  # keep the floor points of smallest key
            drop[:] = True
            drop[np.argpartition(key, floor - 1)[:floor]] = False
        if fill == "zero":
            out[start:end][drop] = 0.0
            drop_all[start:end] = drop
        else:
            keep_points = points[start:end][~drop]
            kept.append(keep_points)
            counts.append(len(keep_points))
    if fill == "zero":
        return torch.from_numpy(out), torch.from_numpy(drop_all)
    batch = np.repeat(np.arange(len(counts)), counts)
    return torch.from_numpy(np.concatenate(kept)), torch.from_numpy(batch)


def loop_threshold_gpu(pos: Tensor, relevance: Tensor, ptr: list[int], rng) -> Tensor:
    """The published loop on GPU data: one device round trip per cloud (zero fill)."""
    out = pos.clone()
    for i in range(len(ptr) - 1):
        start, end = ptr[i], ptr[i + 1]
        r = relevance[start:end].cpu().numpy()
        lo, hi = r.min(), r.max()
        r = (r - lo) / (hi - lo) if hi > lo else np.zeros_like(r)
        key = ALPHA * rng.random_sample(end - start) + (1.0 - ALPHA) * r
        drop = key >= 1.0 - BETA
        if end - start <= MIN_POINTS:
            drop[:] = False
        elif drop.sum() > end - start - MIN_POINTS:
            drop[:] = True
            drop[np.argpartition(key, MIN_POINTS - 1)[:MIN_POINTS]] = False
        out[start:end][torch.from_numpy(drop).to(pos.device)] = 0.0
    return out


# ---------------------------------------------------------------------------
# inputs and timing


def make_batch(num_clouds: int, num_points: int, device: str, seed: int = 0):
    """A PyG batch of benchmark clouds and a skewed (LRP-like) relevance ``[P]``."""
    batch = Batch.from_data_list(benchmark_clouds(num_clouds, num_points, seed=seed)[0]).to(device)
    g = torch.Generator().manual_seed(seed)
    relevance = torch.empty(num_clouds * num_points).exponential_(generator=g).pow_(2)
    return batch, relevance.to(device)


def summary(samples: list[float]) -> dict[str, float]:
    q = np.percentile(samples, [25, 50, 75]) * 1e6
    return {
        "median_us": round(float(q[1]), 1),
        "p25_us": round(float(q[0]), 1),
        "p75_us": round(float(q[2]), 1),
        "n": len(samples),
    }


def rounds_for(points: int, quick: bool) -> int:
    if quick:
        return 15
    return 500 if points <= 32 * 1024 else 250 if points <= 128 * 1024 else 150


def bench_size(num_clouds: int, num_points: int, device: str, quick: bool) -> dict:
    batch, relevance = make_batch(num_clouds, num_points, device)
    gen = torch.Generator(device=device).manual_seed(0)
    fns: dict[str, Callable[[], object]] = {}
    if device == "cpu":
        ptr = batch.ptr.tolist()
        rng = np.random.RandomState(0)
        pos, rel = batch.pos, relevance
        fns["loop_zero"] = lambda: loop_threshold(pos, rel, ptr, "zero", rng)
        fns["loop_remove"] = lambda: loop_threshold(pos, rel, ptr, "remove", rng)
    else:
        ptr = batch.ptr.tolist()
        rng = np.random.RandomState(0)
        fns["loop_zero"] = lambda: loop_threshold_gpu(batch.pos, relevance, ptr, rng)
    for mode in ("threshold", "topk", "sample"):
        for fill in ("zero", "remove"):
            dropper = RelDrop(
                ALPHA, BETA, mode=mode, fill=fill, min_points=MIN_POINTS, generator=gen
            )
            fns[f"{mode}_{fill}"] = lambda d=dropper: d(batch, relevance)
    fns["threshold_mask"] = lambda: relevance_mask(
        relevance, batch.batch, ALPHA, BETA, "threshold", MIN_POINTS, gen, ptr=batch.ptr
    )
    matched = RateMatchedDrop(ALPHA, BETA, fill="zero", min_points=MIN_POINTS, generator=gen)
    fns["ratematched_zero"] = lambda: matched(batch, relevance)
    dense = RelDrop(ALPHA, BETA, fill="zero", min_points=MIN_POINTS, generator=gen)
    points = batch.pos.view(num_clouds, num_points, 3)
    rel_dense = relevance.view(num_clouds, num_points)
    fns["threshold_zero_dense"] = lambda: dense.dense(points, rel_dense)
    # two interleaved groups: the loops with the threshold rule (the ratio targets), then
    # the rules that rank every cloud, whose large sort buffers would otherwise leave the
    # allocator returning memory that the next call faults back in
    rounds = rounds_for(num_clouds * num_points, quick)
    first = [name for name in fns if name.startswith(("loop", "threshold"))]
    times = interleaved({name: fns[name] for name in first}, rounds, device, warmup=2)
    rest = {name: fn for name, fn in fns.items() if name not in first}
    times.update(interleaved(rest, rounds, device, warmup=2))
    return {name: summary(samples) for name, samples in times.items()}


def training_step_time(num_clouds: int, num_points: int, steps: int) -> float:
    """Median seconds of one plain training step of ``build("pointnet", 40)`` (the trainer's:
    augmentation, forward, backward, Adam) on batches of benchmark clouds of this size."""
    clouds, _ = benchmark_clouds(num_clouds * (steps + 1), num_points)
    with tempfile.TemporaryDirectory() as tmp:
        return time_steps(*step_trainer("pointnet", "plain", clouds, num_clouds, tmp))["step"]


# ---------------------------------------------------------------------------
# report


def ratios(result: dict) -> dict[str, float]:
    """Loop time / RelDrop time (> 1: RelDrop faster), against the loop of the same fill."""
    out = {}
    for name, stats in result.items():
        if name.startswith("loop"):
            continue
        fill = "remove" if name.endswith("remove") else "zero"
        ref = result.get(f"loop_{fill}", result["loop_zero"])
        out[name] = round(ref["median_us"] / stats["median_us"], 2)
    return out


def plot(results: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib.ticker

    labels = list(results)
    points = [int(a) * int(b) for a, b in (label.split("x") for label in labels)]
    fig, ax = figure(figsize=(7.5, 4.8))
    names = list(next(iter(results.values())))
    for name in names:
        ys = [results[label][name]["median_us"] / 1e3 for label in labels]
        style = "--" if name.startswith("loop") else "-"
        width = 2.4 if name in ("loop_zero", "threshold_zero", "threshold_remove") else 1.2
        ax.plot(points, ys, style, marker="o", linewidth=width, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(points)
    ax.set_xticklabels(labels)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlim(points[0] / 1.3, points[-1] * 1.3)
    ax.set_xlabel("batch (clouds x points)")
    ax.set_ylabel("median time per call [ms]")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def print_table(label: str, result: dict, ratio: dict) -> None:
    print(f"\n{label}")
    print(f"  {'implementation':24s} {'median':>10s} {'p25':>10s} {'p75':>10s}  loop/this")
    for name, stats in result.items():
        r = ratio.get(name)
        print(
            f"  {name:24s} {stats['median_us']:9.0f}u {stats['p25_us']:9.0f}u "
            f"{stats['p75_us']:9.0f}u  {'' if r is None else f'{r:.2f}x'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny run (a few seconds), printed only"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=5, help="training steps to time")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: on a CPU shared with other jobs, OpenMP "
        "regions of 2 threads stall for whole scheduler slices; 0 = torch's default)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON and PNG")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device available here, nothing to measure (skipped)")
        return 0
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    sizes = QUICK_SIZES if args.quick else SIZES
    load_before = os.getloadavg()
    started = time.perf_counter()
    results, ratio_table = {}, {}
    for num_clouds, num_points in sizes:
        label = f"{num_clouds}x{num_points}"
        results[label] = bench_size(num_clouds, num_points, args.device, args.quick)
        ratio_table[label] = ratios(results[label])
        print_table(f"{label} on {args.device}", results[label], ratio_table[label])

    step = None
    if args.device == "cpu":
        size = sizes[-1] if args.quick else (32, 1024)
        step = training_step_time(*size, 2 if args.quick else args.steps)
    load_after = os.getloadavg()

    label32 = "32x1024"
    targets = {}
    if args.device == "cpu" and not args.quick:
        big = ratio_table["128x2048"]
        faster = {
            label: {k: v for k, v in r.items() if k.startswith("threshold")}
            for label, r in ratio_table.items()
        }
        share = results[label32]["threshold_remove"]["median_us"] * 1e-6 / step
        targets = {
            "threshold faster than the loop at every size (fill zero and remove)": all(
                faster[label][f"threshold_{fill}"] > 1.0
                for label in faster
                for fill in ("zero", "remove")
            ),
            "threshold at least 1.5x at 128x2048 (zero, remove)": [
                big["threshold_zero"] >= 1.5,
                big["threshold_remove"] >= 1.5,
            ],
            "ratio at 128x2048 (zero, remove)": [big["threshold_zero"], big["threshold_remove"]],
            "dropper under 1% of a training step at 32x1024": share < 0.01,
            "dropper share of the step (threshold, remove)": round(share, 5),
            "at least 20x on a GPU": "not measured: no GPU on this machine "
            "(run with --device cuda where there is one)",
        }
    elif args.device == "cuda" and not args.quick:
        targets = {
            "at least 20x on a GPU (threshold, zero fill, every size)": all(
                r["threshold_zero"] >= 20 for r in ratio_table.values()
            ),
            "ratios (threshold, zero fill)": {
                k: r["threshold_zero"] for k, r in ratio_table.items()
            },
        }
    report = {
        "benchmark": "RelDrop dropper vs per-sample NumPy loop (issues 4, 13)",
        "machine": {
            **machine(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "device": args.device,
            "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
            "numpy": np.__version__,
        },
        "settings": {
            "alpha": ALPHA,
            "beta": BETA,
            "min_points": MIN_POINTS,
            "relevance": "Exp(1)^2 per point (skewed, like LRP)",
            "timing": "one call of each implementation per round, shuffled order; "
            "medians over the rounds (n in each entry)",
        },
        "results_us": results,
        "speedup_loop_over_reldrop": ratio_table,
        "training_step": None
        if step is None
        else {
            "model": "reldrop3d.models.build('pointnet', 40), the trainer's plain step: "
            "augmentation + forward + backward + Adam",
            "batch": label32 if not args.quick else f"{sizes[-1][0]}x{sizes[-1][1]}",
            "median_s": round(step, 4),
            "dropper_share": {
                name: round(results[label32][name]["median_us"] * 1e-6 / step, 5)
                for name in results.get(label32, {})
                if not name.startswith("loop")
            }
            if label32 in results
            else None,
        },
        "targets": targets,
        "notes": [
            "torch intra-op threads: see machine.torch_threads. The default run uses 1: this "
            "2-core machine is shared with other jobs, and 2-thread OpenMP regions then stall "
            "for whole scheduler slices (a 32x1024 mask measured 29 ms with 2 threads against "
            "0.25 ms with 1 while another process held a core); the NumPy loop is "
            "single-threaded either way.",
            "The loop reference is a tight version of the published code: it converts the "
            "batch to NumPy once, where the published code copies the whole batch between "
            "devices once per cloud.",
            "The dropper is the plain scatter design of issue 13: per-cloud min/max and "
            "counts by segment_csr over ptr, ranks (topk, sample, the min_points guard, "
            "RateMatchedDrop) by one lexicographic sort on (cloud, key), torch.rand for the "
            "uniforms. Its one optimisation: the guard ranks only when some cloud drops more "
            "than n - min_points points (one host read). The random stream differs from the "
            "tuned implementation measured before (2026-11-23).",
            "Every fresh multi-MB tensor page-faults its memory back in on this VM (glibc "
            "returns freed large buffers to the OS); the flat design makes about ten passes "
            "over [P] tensors where the per-cloud loop works on cache-sized slices, which is "
            "where its time goes at 128x2048.",
            "Ratios are loop time / RelDrop time against the loop with the same fill; topk "
            "and sample are other rules (exact counts, selections), compared with the "
            "threshold loop only for scale.",
        ],
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print("\ntraining step:", json.dumps(report["training_step"], indent=1))
    print("targets:", json.dumps(targets, indent=1))
    print(f"wall time {report['wall_s']} s")
    if not (args.no_write or args.quick):
        suffix = "" if args.device == "cpu" else f"_{args.device}"
        title = (
            f"RelDrop vs per-sample NumPy loop ({args.device}, {torch.get_num_threads()} "
            f"thread(s), alpha={ALPHA}, beta={BETA})"
        )
        write_result(f"dropper_speed{suffix}", report, args.out, lambda p: plot(results, p, title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
