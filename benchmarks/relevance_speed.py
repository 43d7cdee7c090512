"""What one LRP relevance pass costs, against a plain training step on the same batch.

For each model at batch 32 x 1024 points on this machine: median time of
``point_relevance(method="lrp")`` (the fast path), of the zennit reference,
and of one plain training step (forward, loss, backward, Adam step), and the
peak memory of each, every measurement in a fresh process. Targets (issue 3):
relevance / step <= 1.0 for every model; PointNet++ MSG with normals at
32 x 1024 within 1/20 of the published pipeline's 66 s and under 4 GB.

    python benchmarks/relevance_speed.py [--quick] [--models pointnet dgcnn ...]

Writes benchmarks/results/relevance_speed.json and .png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import (  # noqa: E402
    current_rss_mb,
    machine,
    median_time,
    peak_rss_mb,
    reset_peak_rss,
    run_child,
    write_json,
)

PUBLISHED = {"seconds": 66.0, "gb": 16.0}  # dense PointNet++ MSG + zennit, 32 x 1024 with normals


def child(model_name: str, what: str, batch_size: int, points: int, normals: bool, repeats: int):
    import torch
    from workload import benchmark_batch

    from reldrop3d import models
    from reldrop3d.relevance import point_relevance

    torch.manual_seed(0)
    batch, num_classes, source = benchmark_batch(batch_size, points, normals)
    model = models.build(model_name, num_classes, in_channels=3 if normals else 0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        model.train()
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(batch), batch.y).backward()
        opt.step()

    fns = {
        "step": step,
        "lrp": lambda: point_relevance(model, batch),
        "zennit": lambda: point_relevance(model, batch, fast=False),
        "lrp_chunk8": lambda: point_relevance(model, batch, max_clouds=8),
    }
    import gc

    gc.collect()
    reset_peak_rss()
    base = current_rss_mb()
    seconds = median_time(fns[what], repeats=repeats, warmup=1)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb() - base, "source": source}))


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
    p.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        name, what, b, n, normals, r = args.child
        child(name, what, int(b), int(n), normals == "1", int(r))
        return
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
        "benchmark": "relevance_speed",
        "command": " ".join(["python", "benchmarks/relevance_speed.py", *sys.argv[1:]]),
        "machine": machine(),
        "batch_size": args.batch_size,
        "points": args.points,
        "repeats": args.repeats,
        "published_pipeline": PUBLISHED,
        "rows": rows,
        "targets": targets,
        "targets_met": met,
    }
    path = write_json("relevance_speed" + ("_quick" if args.quick else ""), out)
    plot(rows, path.with_suffix(".png"))
    print(f"targets met: {met}\nwrote {path}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["model"] + (" +n" if r["normals"] else "") for r in rows]
    keys = [k for k in ("lrp", "zennit") if all(k in r for r in rows)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
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
    ax.set_title("Relevance pass cost (32 x 1024 points, CPU)")
    ax.set_ylim(0, 2.4)
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
