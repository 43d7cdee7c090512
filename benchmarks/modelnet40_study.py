"""The ModelNet40 study: what RelDrop buys against no dropout and random point dropout.

Arms, on the same seeds: ``none`` (no point dropout), ``random`` (PointNet++
random input dropout, max ratio 0.875, dropped points replaced by the first
kept one), ``reldrop`` (alpha = beta = 0.5, threshold rule, points removed)
and, when the preset allows, ``reldrop-zero`` (the published fill: dropped
points set to zero). Per arm, as mean and spread over seeds: clean overall and
mean class accuracy, accuracy under each ModelNet-C corruption (mean over its
five levels) with mCE and RmCE against the no-dropout arm of the same seed,
the MoRF/LeRF/random areas under the accuracy curve for LRP relevance,
relevance spread, and training time; per-class gains and losses of RelDrop
against no dropout.

Presets:
  cpu    PointNet, 512 points, 7 epochs, 2 seeds, 3 arms, evaluation on a fixed
         random 512-cloud subset of the test set: about 2 hours on a 2-core CPU.
  paper  the published schedule: PointNet++ SSG, 1,024 points, 100 epochs,
         batch 32, 3 seeds, 4 arms, the whole test set (for a GPU).

Every arm and seed is a resumable run folder under benchmarks/runs/, and its
evaluation is kept beside it, so an interrupted study continues where it
stopped. Hyper-parameters are the published ones (Adam 1e-3, weight decay
1e-4, step schedule, random scale and shift); nothing is tuned on the test set.

    python benchmarks/modelnet40_study.py --preset cpu [--device cuda] [--quick]

Writes benchmarks/results/modelnet40_<preset>.json, .md and PNG plots.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RESULTS, machine, write_json  # noqa: E402

ARMS = {
    "none": {"augment": "none"},
    "random": {"augment": "random", "max_ratio": 0.875, "fill": "first"},
    "reldrop": {"augment": "reldrop", "alpha": 0.5, "beta": 0.5, "mode": "threshold",
                "fill": "remove"},
    "reldrop-zero": {"augment": "reldrop", "alpha": 0.5, "beta": 0.5, "mode": "threshold",
                     "fill": "zero"},
}

PRESETS = {
    "cpu": {"model": "pointnet", "num_points": 512, "epochs": 7, "seeds": [0, 1],
            "arms": ["none", "random", "reldrop", "reldrop-zero"], "test_limit": 512,
            "cut": "PointNet instead of PointNet++; 512 instead of 1,024 points; 7 instead of "
                   "100 epochs (no learning-rate decay happens); 2 seeds; "
                   "evaluation on a fixed random 512-cloud subset of the 2,468 test clouds"},
    "paper": {"model": "pointnet2", "num_points": 1024, "epochs": 100, "seeds": [0, 1, 2],
              "arms": ["none", "random", "reldrop", "reldrop-zero"], "test_limit": 0,
              "cut": "none"},
    "quick": {"model": "pointnet", "num_points": 256, "epochs": 1, "seeds": [0],
              "arms": ["none", "random", "reldrop"], "test_limit": 64,
              "cut": "smoke run: not a result", "samples": 640},
}


def run_arm(preset: dict, arm: str, seed: int, root: Path, device: str, data_path: Path) -> dict:
    """Train (or resume, or skip) one arm and seed; evaluate it once; return its results."""
    import torch
    from torch.utils.data import Subset
    from torch_geometric.loader import DataLoader

    from reldrop3d.data import ModelNet40
    from reldrop3d.evaluate import (
        CORRUPTIONS,
        attribution_report,
        corruption_accuracy,
        deletion_curves,
        evaluate,
    )
    from reldrop3d.evaluate.run import test_subset
    from reldrop3d.train import TrainConfig, Trainer
    from reldrop3d.train.checkpoint import load_checkpoint, model_from_checkpoint

    out = root / f"{arm}_s{seed}"
    result_file = out / "study_eval.json"
    if result_file.is_file():
        return json.loads(result_file.read_text())
    cfg = TrainConfig(data=f"modelnet40:{data_path}", model=preset["model"],
                      epochs=preset["epochs"], num_points=preset["num_points"], seed=seed,
                      device=device, out=str(out), **ARMS[arm])
    train = ModelNet40(data_path, "train", num_points=preset["num_points"])
    test = ModelNet40(data_path, "test", num_points=preset["num_points"])
    if preset.get("samples"):  # the smoke preset trains on a slice
        keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
        sub = Subset(train, keep[: preset["samples"]].tolist())
        sub.classes, sub.num_classes, sub.sizes = train.classes, train.num_classes, train.sizes
        train = sub
    last = out / "last.pt"
    if not (last.is_file() and load_checkpoint(last)["epoch"] >= preset["epochs"]):
        Trainer(cfg, train, test, resume=last.is_file()).fit()
    state = load_checkpoint(last)
    model, _ = model_from_checkpoint(last, device)
    subset = test_subset(test, preset["test_limit"], seed=0)  # the same clouds for every run
    loader = DataLoader(subset, batch_size=32)
    t = time.perf_counter()
    res = {
        "arm": arm,
        "seed": seed,
        "epochs": state["epoch"],
        "train_seconds": sum(h["seconds_epoch"] for h in state["history"]),
        "train_seconds_relevance": sum(h["seconds_relevance"] for h in state["history"]),
        "points_per_cloud_in_training": state["history"][-1]["points_per_cloud"],
        "history": state["history"],
        "clean": evaluate(model, loader, device),
        "corruptions": corruption_accuracy(model, loader, CORRUPTIONS, seed=seed, device=device),
        "deletion": deletion_curves(model, loader, "lrp", seed=seed, device=device),
        "attribution": attribution_report(model, loader, "lrp", device=device),
    }
    res["eval_seconds"] = time.perf_counter() - t
    result_file.write_text(json.dumps(res) + "\n")
    return res


def mean_sd(values: list[float]) -> dict:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return {"mean": None, "sd": None, "n": 0}
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values)}


def summarise(results: dict[tuple[str, int], dict], arms: list[str], seeds: list[int]) -> dict:
    from reldrop3d.evaluate import robustness_summary

    summary = {}
    corruptions = list(next(iter(results.values()))["corruptions"]["corruptions"])
    for arm in arms:
        runs = [results[(arm, s)] for s in seeds]
        ref = [results[("none", s)] for s in seeds]
        robust = [robustness_summary(r["corruptions"], n["corruptions"]) for r, n in zip(runs, ref)]
        summary[arm] = {
            "clean_oa": mean_sd([r["clean"]["oa"] for r in runs]),
            "clean_macc": mean_sd([r["clean"]["macc"] for r in runs]),
            "corruption_oa": {c: mean_sd([r["corruptions"]["corruptions"][c]["mean_oa"]
                                          for r in runs]) for c in corruptions},
            "mean_corruption_oa": mean_sd([r["corruptions"]["mean_oa"] for r in runs]),
            "mce_vs_none": mean_sd([s["mce"] for s in robust]),
            "rmce_vs_none": mean_sd([s["rmce"] for s in robust]),
            "morf_auc": mean_sd([r["deletion"]["auc"]["morf"]["accuracy"] for r in runs]),
            "lerf_auc": mean_sd([r["deletion"]["auc"]["lerf"]["accuracy"] for r in runs]),
            "random_auc": mean_sd([r["deletion"]["auc"]["random"]["accuracy"] for r in runs]),
            "entropy": mean_sd([r["attribution"]["overall"]["entropy"] for r in runs]),
            "mass_50": mean_sd([r["attribution"]["overall"]["mass_50"] for r in runs]),
            "mass_90": mean_sd([r["attribution"]["overall"]["mass_90"] for r in runs]),
            "train_minutes": mean_sd([r["train_seconds"] / 60 for r in runs]),
            "points_per_cloud": mean_sd([r["points_per_cloud_in_training"] for r in runs]),
        }
    return summary


def per_class_deltas(results, seeds, arm="reldrop", base="none") -> list[dict]:
    names = list(results[(base, seeds[0])]["clean"]["per_class"])
    rows = []
    for name in names:
        a = [results[(base, s)]["clean"]["per_class"][name]["accuracy"] for s in seeds]
        b = [results[(arm, s)]["clean"]["per_class"][name]["accuracy"] for s in seeds]
        if any(v is None for v in a + b):
            continue
        rows.append({"class": name, "none": statistics.fmean(a), arm: statistics.fmean(b),
                     "delta": statistics.fmean(b) - statistics.fmean(a),
                     "count": results[(base, seeds[0])]["clean"]["per_class"][name]["count"]})
    return sorted(rows, key=lambda r: r["delta"])


def fmt(x: dict, digits: int = 3) -> str:
    if x["mean"] is None:
        return "n/a"
    return f"{x['mean']:.{digits}f} ± {x['sd']:.{digits}f}" if x["n"] > 1 else \
        f"{x['mean']:.{digits}f}"


def markdown(summary: dict, deltas: list[dict], meta: dict) -> str:
    arms = list(summary)
    rows = [("clean OA", "clean_oa"), ("clean mean class acc.", "clean_macc"),
            ("mean OA over corruptions", "mean_corruption_oa"), ("mCE vs none", "mce_vs_none"),
            ("RmCE vs none", "rmce_vs_none"), ("MoRF AUC (LRP)", "morf_auc"),
            ("LeRF AUC (LRP)", "lerf_auc"), ("random-removal AUC", "random_auc"),
            ("relevance entropy", "entropy"), ("points for 50% of relevance", "mass_50"),
            ("points for 90% of relevance", "mass_90"), ("points per cloud in training",
                                                         "points_per_cloud"),
            ("training time (min)", "train_minutes")]
    out = ["| measure | " + " | ".join(arms) + " |", "|---" * (len(arms) + 1) + "|"]
    for label, key in rows:
        digits = 1 if key in ("train_minutes", "points_per_cloud") else 3
        out.append(f"| {label} | " + " | ".join(fmt(summary[a][key], digits) for a in arms) + " |")
    corr = list(summary[arms[0]]["corruption_oa"])
    out += ["", "| corruption (mean OA over levels) | " + " | ".join(arms) + " |",
            "|---" * (len(arms) + 1) + "|"]
    for c in corr:
        out.append(f"| {c} | " + " | ".join(fmt(summary[a]["corruption_oa"][c]) for a in arms)
                   + " |")
    losers = [d for d in deltas if d["delta"] < 0][:8]
    winners = [d for d in reversed(deltas) if d["delta"] > 0][:8]
    out += ["", "Classes RelDrop loses most on (mean over seeds, test subset): "
            + (", ".join(f"{d['class']} {d['delta']:+.3f} (n={d['count']})" for d in losers)
               or "none"),
            "", "Classes it gains most on: "
            + (", ".join(f"{d['class']} {d['delta']:+.3f} (n={d['count']})" for d in winners)
               or "none")]
    return "\n".join(out) + "\n"


def plots(results, summary, deltas, seeds, stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary)
    paths = []
    # accuracy under corruption per arm
    corr = ["clean", *summary[arms[0]]["corruption_oa"]]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        vals = [summary[arm]["clean_oa"]] + [summary[arm]["corruption_oa"][c] for c in corr[1:]]
        ax.bar([j + i * width for j in range(len(corr))], [v["mean"] for v in vals], width,
               yerr=[v["sd"] for v in vals], label=arm, capsize=2)
    ax.set_xticks([j + width * (len(arms) - 1) / 2 for j in range(len(corr))], corr,
                  rotation=20)
    ax.set_ylabel("overall accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=len(arms))
    ax.set_title("ModelNet40: accuracy clean and under ModelNet-C corruptions")
    fig.tight_layout()
    paths.append(stem.with_name(stem.name + "_corruptions.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    # MoRF curves per arm (mean over seeds)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, arm in enumerate(arms):
        for order, style in (("morf", "-"), ("random", ":")):
            curves = [results[(arm, s)]["deletion"]["curves"][order]["accuracy"] for s in seeds]
            frac = results[(arm, seeds[0])]["deletion"]["fractions"]
            mean = [statistics.fmean(c[k] for c in curves) for k in range(len(frac))]
            ax.plot(frac, mean, style, color=f"C{i}", label=f"{arm} {order}")
    ax.set_xlabel("fraction of points removed")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("ModelNet40: removing the most relevant (LRP) / random points")
    fig.tight_layout()
    paths.append(stem.with_name(stem.name + "_morf.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    # per-class deltas
    fig, ax = plt.subplots(figsize=(10, 3.6))
    ax.bar(range(len(deltas)), [d["delta"] for d in deltas],
           color=["C3" if d["delta"] < 0 else "C2" for d in deltas])
    ax.set_xticks(range(len(deltas)), [d["class"] for d in deltas], rotation=90, fontsize=7)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("accuracy: reldrop - none")
    ax.set_title("Per-class accuracy change with RelDrop (mean over seeds)")
    fig.tight_layout()
    paths.append(stem.with_name(stem.name + "_per_class.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    p.add_argument("--device", default="cpu")
    p.add_argument("--runs", default=str(Path(__file__).resolve().parent / "runs"),
                   help="folder of the resumable runs")
    args = p.parse_args()
    preset = PRESETS[args.preset]

    from reldrop3d.data import default_data_root

    data_path = default_data_root() / "modelnet40_1024"
    if not (data_path / "train.h5").is_file():
        sys.exit(f"ModelNet40 not found at {data_path}; set RELDROP3D_DATA")
    root = Path(args.runs) / f"modelnet40_{args.preset}"
    started = time.perf_counter()
    results = {}
    for seed in preset["seeds"]:
        for arm in preset["arms"]:
            print(f"== {arm}, seed {seed}", flush=True)
            results[(arm, seed)] = run_arm(preset, arm, seed, root, args.device, data_path)
            r = results[(arm, seed)]
            print(f"   clean OA {r['clean']['oa']:.4f}, mOA {r['corruptions']['mean_oa']:.4f}, "
                  f"MoRF AUC {r['deletion']['auc']['morf']['accuracy']:.4f}", flush=True)
    summary = summarise(results, preset["arms"], preset["seeds"])
    deltas = per_class_deltas(results, preset["seeds"])
    meta = {
        "benchmark": "modelnet40_study",
        "preset": args.preset,
        "settings": {k: v for k, v in preset.items() if k != "cut"},
        "what_was_cut": preset["cut"],
        "arms": {a: ARMS[a] for a in preset["arms"]},
        "command": " ".join(["python", "benchmarks/modelnet40_study.py", *sys.argv[1:]]),
        "machine": machine(),
        "device": args.device,
        "wall_seconds_this_call": time.perf_counter() - started,
    }
    payload = {**meta, "summary": summary, "per_class_reldrop_vs_none": deltas,
               "runs": {f"{a}_s{s}": {k: v for k, v in r.items() if k != "history"}
                        for (a, s), r in results.items()}}
    path = write_json(f"modelnet40_{args.preset}", payload)
    md = markdown(summary, deltas, meta)
    path.with_suffix(".md").write_text(md)
    pngs = plots(results, summary, deltas, preset["seeds"], RESULTS / f"modelnet40_{args.preset}")
    print(md)
    print(f"wrote {path}, {path.with_suffix('.md')} and {', '.join(p.name for p in pngs)}")


if __name__ == "__main__":
    main()
