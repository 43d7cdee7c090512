"""What RelDrop costs per training step, against a plain step, for each model.

For PointNet, PointNet++ SSG and DGCNN at batch 32 x 1024 points on this
machine (real ModelNet40 when present): the median time of a plain training
step, of the relevance pass, of the dropper, and of a full RelDrop step
(``--reldrop-every 1``, and ``--reldrop-every 5`` in steady state, where
about a fifth of the clouds of a batch are re-explained), all through
:class:`reldrop3d.train.Trainer`'s own step with the default augmentation
(timed by :mod:`reldrop3d.bench`, as ``reldrop3d bench`` times it); and the
peak memory of a plain and of a RelDrop step. Each (model, mode) runs in a
fresh process. With ``--device cuda`` the same on a GPU, the peak memory
being the device's (``torch.cuda.max_memory_allocated``). Targets (issue 7):
RelDrop step <= 2.0x plain with K=1, <= 1.3x with K=5, the dropper under 1%
of the step.

    python benchmarks/step_cost.py [--quick] [--models pointnet ...] [--batches 4]
    python benchmarks/step_cost.py --device cuda --out benchmarks/results/gpu

Writes benchmarks/results/step_cost.json and .png (``step_cost_cuda`` with
``--device cuda``; ``--out`` another folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import (
    RESULTS,
    benchmark_clouds,
    figure,
    peak_memory,
    run_child,
    save_figure,
    write_result,
)

from reldrop3d.bench import MODES, step_trainer, time_phases, time_steps


def child(
    model: str, mode: str, batch_size: int, points: int, batches: int, out: str, device="cpu"
) -> None:
    clouds, source = benchmark_clouds(batches * batch_size, points)
    trainer, timed, epoch = step_trainer(model, mode, clouds, batch_size, out, device)
    result = {"source": source, "model": model, "mode": mode}
    with peak_memory(device) as mem:
        result.update(time_steps(trainer, timed, epoch))
    result["peak_mb"] = mem["peak_mb"]
    if mode == "reldrop1":  # the two phases alone, on the same batches
        result.update(time_phases(trainer, timed))
    print(json.dumps(result))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", nargs="+", default=["pointnet", "pointnet2", "dgcnn"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--batches", type=int, default=5, help="batches per mode (1 is warm-up)")
    p.add_argument("--quick", action="store_true", help="8 x 256 points, 3 batches")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON and PNG")
    p.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        m, mode, b, n, k, out, device = args.child
        child(m, mode, int(b), int(n), int(k), out, device)
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("step_cost.py: error: --device cuda: no CUDA device here")
    if args.quick:
        args.batch_size, args.points, args.batches = 8, 256, 3

    import tempfile

    from tqdm import tqdm

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in tqdm(args.models, desc="models"):
            row = {"model": model}
            for mode in MODES:
                r = run_child(
                    __file__,
                    [
                        "--child",
                        model,
                        mode,
                        str(args.batch_size),
                        str(args.points),
                        str(args.batches),
                        f"{tmp}/{model}",
                        args.device,
                    ],
                )
                row[mode] = r
            plain = row["plain"]["step"]
            row["ratio_reldrop1"] = row["reldrop1"]["step"] / plain
            row["ratio_reldrop5"] = row["reldrop5"]["step"] / plain
            row["ratio_relevance"] = row["reldrop1"]["relevance"] / plain
            row["drop_share_of_step"] = row["reldrop1"]["drop"] / row["reldrop1"]["step"]
            rows.append(row)
            print(
                f"{model:10s} plain {plain:7.3f}s {row['plain']['peak_mb']:6.0f}MB | relevance "
                f"{row['reldrop1']['relevance']:7.3f}s ({row['ratio_relevance']:.2f}x) | drop "
                f"{row['reldrop1']['drop'] * 1e3:6.2f}ms ({100 * row['drop_share_of_step']:.2f}%"
                f" of step) | RelDrop K=1 {row['reldrop1']['step']:7.3f}s "
                f"({row['ratio_reldrop1']:.2f}x) {row['reldrop1']['peak_mb']:6.0f}MB | K=5 "
                f"{row['reldrop5']['step']:7.3f}s ({row['ratio_reldrop5']:.2f}x)",
                flush=True,
            )
    targets = {"reldrop1_max": 2.0, "reldrop5_max": 1.3, "drop_share_max": 0.01}
    met = {
        "reldrop1": all(r["ratio_reldrop1"] <= 2.0 for r in rows),
        "reldrop5": all(r["ratio_reldrop5"] <= 1.3 for r in rows),
        "drop_share": all(r["drop_share_of_step"] < 0.01 for r in rows),
    }
    out = {
        **({} if args.device == "cpu" else {"device": args.device}),
        "batch_size": args.batch_size,
        "points": args.points,
        "batches_per_mode": args.batches,
        "note": "median over the timed steps; each (model, mode) in a fresh process; RelDrop "
        "with alpha = beta = 0.5, threshold mode, fill remove, LRP relevance, default "
        "augmentation (random scale and shift) in every mode",
        "rows": rows,
        "targets": targets,
        "targets_met": met,
    }
    print(f"targets met: {met}")
    stem = "step_cost" + ("" if args.device == "cpu" else f"_{args.device}")
    stem += "_quick" if args.quick else ""
    where = f"{args.batch_size} x {args.points} points, {args.device.upper()}"
    write_result(stem, out, args.out, plot=lambda p: plot(rows, p, where))


def plot(rows: list[dict], path: Path, where: str = "32 x 1024 points, CPU") -> None:
    fig, ax = figure(figsize=(7, 3.6))
    keys = [
        ("ratio_relevance", "relevance pass"),
        ("ratio_reldrop1", "RelDrop step, K=1"),
        ("ratio_reldrop5", "RelDrop step, K=5"),
    ]
    width = 0.8 / len(keys)
    for i, (key, label) in enumerate(keys):
        ax.bar(
            [j + i * width for j in range(len(rows))], [r[key] for r in rows], width, label=label
        )
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="plain step")
    ax.set_xticks([j + width for j in range(len(rows))], [r["model"] for r in rows])
    ax.set_ylabel("time / plain training step")
    ax.set_title(f"RelDrop cost per training step ({where})")
    ax.set_ylim(0, max(1.6, ax.get_ylim()[1] * 1.25))
    ax.legend(loc="upper center", ncol=4, fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
