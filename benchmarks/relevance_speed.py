"""What one LRP relevance pass costs, against a plain training step on the same data.

For each model at batch 32 x 1024 points on this machine (real ModelNet40
when present): median time of ``point_relevance(method="lrp")`` (the fast
path), of the zennit reference, and of one plain training step (the
trainer's, as in ``benchmarks/step_cost.py``: augmentation, forward, loss,
backward, Adam step), and the peak memory of each, every measurement in a
fresh process. With ``--device cuda`` the same on a GPU, the peak memory being
the device's (``torch.cuda.max_memory_allocated``). Targets (issue 3):
relevance / step <= 1.0 for every model; PointNet++ MSG with normals at
32 x 1024 within 1/20 of the published pipeline's 66 s and under 4 GB.

    python benchmarks/relevance_speed.py [--quick] [--models pointnet dgcnn ...]
    python benchmarks/relevance_speed.py --device cuda --out benchmarks/results/gpu

Writes benchmarks/results/relevance_speed.json and .png (``relevance_speed_cuda``
with ``--device cuda``; ``--out`` another folder).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import (
    RESULTS,
    benchmark_clouds,
    figure,
    median_seconds,
    peak_memory,
    run_child,
    save_figure,
    write_result,
)

PUBLISHED = {"seconds": 66.0, "gb": 16.0}  # dense PointNet++ MSG + zennit, 32 x 1024 with normals


def child(
    model_name: str,
    what: str,
    batch_size: int,
    points: int,
    normals: bool,
    repeats: int,
    device: str = "cpu",
):
    """One measurement in this (fresh) process on ``device``: the trainer's plain step on
    ``repeats + 1`` batches (the first warms up), or a relevance pass ``repeats`` times on
    the first batch."""
    import torch
    from torch_geometric.data import Batch

    from reldrop3d import models
    from reldrop3d.bench import step_trainer, time_steps
    from reldrop3d.relevance import point_relevance

    clouds, source = benchmark_clouds(batch_size * (repeats + 1), points, normals)
    with tempfile.TemporaryDirectory() as tmp:
        if what == "step":
            trainer, batches, epoch = step_trainer(
                model_name, "plain", clouds, batch_size, tmp, device, use_normals=normals
            )
            with peak_memory(device) as mem:
                seconds = time_steps(trainer, batches, epoch)["step"]
        else:
            torch.manual_seed(0)
            model = models.build(model_name, clouds.num_classes, in_channels=3 if normals else 0)
            model = model.to(device)
            batch = Batch.from_data_list(clouds[:batch_size]).to(device)
            explain = {
                "lrp": lambda: point_relevance(model, batch),
                "zennit": lambda: point_relevance(model, batch, fast=False),
                "lrp_chunk8": lambda: point_relevance(model, batch, max_clouds=8),
            }[what]
            with peak_memory(device) as mem:
                seconds = median_seconds(explain, repeats, device=device)
    print(json.dumps({"seconds": seconds, "peak_mb": mem["peak_mb"], "source": source}))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--models", nargs="+", default=["pointnet", "pointnet2", "pointnet2-msg", "dgcnn"]
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-zennit", action="store_true", help="skip the (slow) zennit reference")
    p.add_argument("--quick", action="store_true", help="8 x 256 points, 1 repeat: a smoke run")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--out", type=Path, default=RESULTS, help="folder for JSON and PNG")
    p.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        name, what, b, n, normals, r, device = args.child
        child(name, what, int(b), int(n), normals == "1", int(r), device)
        return
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            sys.exit("relevance_speed.py: error: --device cuda: no CUDA device here")
    if args.quick:
        args.batch_size, args.points, args.repeats = 8, 256, 1

    from tqdm import tqdm

    cases = [(m, False) for m in args.models]
    if "pointnet2-msg" in args.models:
        cases.append(("pointnet2-msg", True))  # the published pipeline's setting
    whats = ["step", "lrp"] + ([] if args.no_zennit else ["zennit"])
    chunk_cases = {("pointnet2-msg", True)}  # the memory target: also in chunks of 8 clouds
    rows = []
    for name, normals in tqdm(cases, desc="models"):
        row = {"model": name, "normals": normals}
        for what in whats + (["lrp_chunk8"] if (name, normals) in chunk_cases else []):
            r = run_child(
                __file__,
                [
                    "--child",
                    name,
                    what,
                    str(args.batch_size),
                    str(args.points),
                    "1" if normals else "0",
                    str(args.repeats),
                    args.device,
                ],
            )
            row[what] = r
            row["source"] = r["source"]
        row["lrp_over_step"] = row["lrp"]["seconds"] / row["step"]["seconds"]
        if "zennit" in row:
            row["zennit_over_step"] = row["zennit"]["seconds"] / row["step"]["seconds"]
        rows.append(row)
        tag = f"{name}{' +normals' if normals else ''}"
        print(
            f"{tag:22s} step {row['step']['seconds']:7.3f}s {row['step']['peak_mb']:7.0f}MB | "
            f"lrp {row['lrp']['seconds']:7.3f}s {row['lrp']['peak_mb']:7.0f}MB "
            f"({row['lrp_over_step']:.2f}x step)"
            + (
                f" | zennit {row['zennit']['seconds']:7.3f}s {row['zennit']['peak_mb']:7.0f}MB "
                f"({row['zennit_over_step']:.2f}x)"
                if "zennit" in row
                else ""
            ),
            flush=True,
        )

    full_size = args.batch_size == 32 and args.points == 1024
    targets = {"lrp_over_step_max": 1.0}
    met = {"lrp_over_step": all(r["lrp_over_step"] <= 1.0 for r in rows)}
    msg = next((r for r in rows if r["model"] == "pointnet2-msg" and r["normals"]), None)
    if msg is not None and full_size:
        targets.update(msg_seconds_max=PUBLISHED["seconds"] / 20, msg_gb_max=4.0)
        met["msg_time"] = msg["lrp"]["seconds"] <= PUBLISHED["seconds"] / 20
        met["msg_memory"] = msg["lrp"]["peak_mb"] / 1024 < 4.0
        met["msg_memory_in_chunks_of_8"] = msg["lrp_chunk8"]["peak_mb"] / 1024 < 4.0
    out = {
        **({} if args.device == "cpu" else {"device": args.device}),
        "batch_size": args.batch_size,
        "points": args.points,
        "repeats": args.repeats,
        "published_pipeline": PUBLISHED,
        "rows": rows,
        "targets": targets,
        "targets_met": met,
    }
    print(f"targets met: {met}")
    stem = "relevance_speed" + ("" if args.device == "cpu" else f"_{args.device}")
    stem += "_quick" if args.quick else ""
    where = f"{args.batch_size} x {args.points} points, {args.device.upper()}"
    write_result(stem, out, args.out, plot=lambda path: plot(rows, path, where))


def plot(rows: list[dict], path: Path, where: str = "32 x 1024 points, CPU") -> None:
    labels = [r["model"] + (" +n" if r["normals"] else "") for r in rows]
    keys = [k for k in ("lrp", "zennit") if all(k in r for r in rows)]
    fig, ax = figure(figsize=(7, 3.5))
    width = 0.8 / len(keys)
    for i, k in enumerate(keys):
        ax.bar(
            [j + i * width for j in range(len(rows))],
            [r[k]["seconds"] / r["step"]["seconds"] for r in rows],
            width,
            label={"lrp": "reldrop3d LRP", "zennit": "zennit hooks"}[k],
        )
    ax.axhline(1.0, color="k", lw=0.8, ls="--", label="one training step")
    ax.set_xticks([j + width * (len(keys) - 1) / 2 for j in range(len(rows))], labels)
    ax.set_ylabel("time / plain training step")
    ax.set_title(f"Relevance pass cost ({where})")
    ax.set_ylim(0, 2.4)
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    main()
