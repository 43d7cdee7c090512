"""The ModelNet40 study: when does RelDrop help, and is it the relevance that helps?

Arms, on the same seeds (a seed fixes the training subset, the validation
split, the initial weights and the batch order of every arm):

- ``none``: no point dropout;
- ``random``: PointNet++ random input dropout (max ratio 0.875);
- ``reldrop``: RelDrop, threshold rule, alpha = beta = 0.5, LRP of the true
  class, dropped points removed;
- ``reldrop-zero``: the same with the published fill (dropped points set to 0);
- ``reldrop-rate``: the rate-matched control: in every cloud as many points as
  ``reldrop``'s rule drops there (from the same LRP relevance), chosen
  uniformly at random, removed. ``reldrop`` minus ``reldrop-rate`` is the
  effect of *which* points are dropped;
- ``reldrop-ixg``: RelDrop with input x gradient relevance instead of LRP.

Per run, the model after the last epoch is evaluated on the test split
(nothing is chosen on it): clean overall and mean class accuracy, the clean
accuracy on its own training clouds (for the train-test gap), accuracy under
the seven ModelNet-C corruptions at five levels (generated with the run's
seed, so paired arms see the same corrupted clouds) with mCE against the
``none`` arm of the same seed, MoRF and random-removal AUCs with the model's
own LRP, the MoRF AUC under one fixed removal order for every arm (the LRP
order of the ``none`` model of the same seed), relevance entropy and the
share of points holding half of the relevance. The summary gives mean and
standard deviation over seeds and, for ``reldrop`` against ``none``,
``random`` and ``reldrop-rate``, the paired difference with a 95% confidence
interval (Student t over seeds) and the number of seeds it won.

Presets:
  lowdata  PointNet on a class-stratified 10% of the training split (10% of that
           held out for validation), 256 points, 100 epochs, cosine schedule to
           zero, the epochs chosen beforehand on the none arm's training and
           validation curves; 5 seeds, the full test split. About 2 hours of
           training and 1.4 of evaluation (measured) on a 2-core CPU with --jobs 2; resumable.
  cpu      the earlier 7-epoch study (PointNet, 512 points, 2 seeds, a 512-cloud
           test subset): too short for a regulariser to matter; kept as what it is.
  paper    the published schedule (PointNet++ SSG, 1,024 points, 100 epochs), for a GPU.
  gpu-full lowdata's training settings on the whole training split (10% still held out
           for validation), none and reldrop, one seed, 20 epochs: the study part of
           benchmarks/gpu.sh (minutes on one GPU); writes to benchmarks/results/gpu/.
  quick    a smoke run of the whole pipeline (minutes): not a result.

Every arm and seed is a run folder under --runs (training resumes from its
last.pt; an evaluated run keeps its study_eval.json), so the study can be
stopped and continued in several sittings. ``--stage train`` only trains,
``--stage report`` only evaluates what is trained and writes the report.

    python benchmarks/modelnet40_study.py --preset lowdata [--jobs 2] [--stage train|report|all]

Writes benchmarks/results/modelnet40_<preset>.json, .md and PNG plots (a preset with a
``results`` key: in that subfolder; ``--results`` another folder).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import RESULTS, machine, write_json

RELDROP = {"augment": "reldrop", "alpha": 0.5, "beta": 0.5, "mode": "threshold"}
ARMS = {
    "none": {"augment": "none"},
    "random": {"augment": "random", "max_ratio": 0.875, "fill": "first"},
    "reldrop": {**RELDROP, "fill": "remove"},
    "reldrop-zero": {**RELDROP, "fill": "zero"},
    "reldrop-rate": {**RELDROP, "augment": "reldrop-rate", "fill": "remove"},
    "reldrop-ixg": {**RELDROP, "fill": "remove", "relevance": "input_x_gradient"},
}
# the comparisons the study is built for: reldrop against each of these, paired by seed
PAIRED = ("none", "random", "reldrop-rate")

PRESETS = {
    "lowdata": {
        "train": {
            "model": "pointnet",
            "num_points": 256,
            "epochs": 100,
            "scheduler": "cosine",
            "train_fraction": 0.1,
            "val_fraction": 0.1,
            "test_every": 0,
        },
        "seeds": [0, 1, 2, 3, 4],
        "arms": ["none", "random", "reldrop", "reldrop-zero", "reldrop-rate"],
        "test_limit": 0,
        "cut": "PointNet instead of PointNet++ and 256 instead of 1,024 points (CPU: 512 "
        "points at 150 epochs needed about 6.5 hours of both cores for training alone); "
        "100 epochs, the shortest schedule tried after which the none arm of seed 0 "
        "trains above 0.98 with a flat validation curve (60 epochs ended at 0.978); "
        "10% of the training split on purpose (the regime where a regulariser matters)",
    },
    "cpu": {
        "train": {"model": "pointnet", "num_points": 512, "epochs": 7},
        "seeds": [0, 1],
        "arms": ["none", "random", "reldrop", "reldrop-zero"],
        "test_limit": 512,
        "cut": "PointNet instead of PointNet++; 512 instead of 1,024 points; 7 instead of "
        "100 epochs (no learning-rate decay happens); 2 seeds; evaluation on a fixed "
        "random 512-cloud subset of the 2,468 test clouds",
    },
    "paper": {
        "train": {"model": "pointnet2", "num_points": 1024, "epochs": 100},
        "seeds": [0, 1, 2],
        "arms": ["none", "random", "reldrop", "reldrop-zero", "reldrop-rate"],
        "test_limit": 0,
        "cut": "none",
    },
    "gpu-full": {
        "train": {
            "model": "pointnet",
            "num_points": 512,
            "epochs": 20,
            "scheduler": "cosine",
            "train_fraction": 1.0,
            "val_fraction": 0.1,
            "test_every": 0,
        },
        "seeds": [0],
        "arms": ["none", "reldrop"],
        "test_limit": 0,
        "results": "gpu",
        "cut": "lowdata's training settings (PointNet, 512 points, batch 32, Adam 1e-3, "
        "weight decay 1e-4, cosine to zero) on the whole training split (10% held out for "
        "validation); 20 epochs instead of the CPU study's 100, to fit benchmarks/gpu.sh's "
        "10 minutes on one GPU; one seed, so no interval",
    },
    "quick": {
        "train": {
            "model": "pointnet",
            "num_points": 128,
            "epochs": 2,
            "scheduler": "cosine",
            "train_fraction": 0.03,
            "val_fraction": 0.2,
            "test_every": 0,
        },
        "seeds": [0, 1],
        "arms": ["none", "random", "reldrop", "reldrop-rate"],
        "test_limit": 96,
        "cut": "smoke run of the pipeline: not a result",
    },
}
# two-sided 95% quantiles of Student's t by degrees of freedom
T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


# ----------------------------------------------------------------------------- runs


def run_config(preset: dict, arm: str, seed: int, root: Path, device: str, data: Path):
    from reldrop3d.train import TrainConfig

    return TrainConfig(
        data="modelnet40",  # under $RELDROP3D_DATA, which main() checks
        seed=seed,
        device=device,
        out=str(root / f"{arm}_s{seed}"),
        **preset["train"],
        **ARMS[arm],
    )


def train_run(job: tuple) -> str:
    """Train (or resume, or skip) one arm and seed; runs in a worker process."""
    preset, arm, seed, root, device, data, threads = job
    import torch

    torch.set_num_threads(threads)
    from reldrop3d.train import Trainer
    from reldrop3d.train.checkpoint import load_checkpoint

    cfg = run_config(preset, arm, seed, root, device, data)
    last = Path(cfg.out) / "last.pt"
    if last.is_file() and load_checkpoint(last)["epoch"] >= cfg.epochs:
        return f"{arm}_s{seed}: trained"
    started = time.perf_counter()
    Trainer(cfg, resume=last.is_file(), progress=False).fit()
    return f"{arm}_s{seed}: trained in {(time.perf_counter() - started) / 60:.1f} min"


def evaluate_run(job: tuple) -> str:
    """Evaluate one trained run once (kept as study_eval.json); runs in a worker process."""
    preset, arm, seed, root, device, data, threads = job
    import torch

    torch.set_num_threads(threads)
    from torch_geometric.loader import DataLoader

    from reldrop3d.data import ModelNet40, random_subset
    from reldrop3d.evaluate import (
        CORRUPTIONS,
        attribution_report,
        corruption_accuracy,
        deletion_curves,
        evaluate,
    )
    from reldrop3d.relevance import point_relevance
    from reldrop3d.train.checkpoint import load_checkpoint, model_from_checkpoint
    from reldrop3d.train.trainer import training_split

    cfg = run_config(preset, arm, seed, root, device, data)
    out = Path(cfg.out)
    result_file = out / "study_eval.json"
    if result_file.is_file():
        return f"{arm}_s{seed}: evaluated"
    started = time.perf_counter()
    state = load_checkpoint(out / "last.pt")
    model, _ = model_from_checkpoint(out / "last.pt", device)
    reference, _ = model_from_checkpoint(root / f"none_s{seed}" / "last.pt", device)
    num_points = preset["train"]["num_points"]
    test = random_subset(ModelNet40(data, "test", num_points=num_points), preset["test_limit"])
    loader = DataLoader(test, batch_size=64)
    train, _ = training_split(ModelNet40(data, "train", num_points=num_points), cfg)

    def none_order(_model, batch):  # the removal order of the none model, for every arm
        return point_relevance(reference, batch)

    res = {
        "arm": arm,
        "seed": seed,
        "epochs": state["epoch"],
        "history": state["history"],
        "train_seconds": sum(h["seconds_epoch"] for h in state["history"]),
        "points_per_cloud_in_training": statistics.fmean(
            h["points_per_cloud"] for h in state["history"]
        ),
        "train_clean": evaluate(model, DataLoader(train, batch_size=64), device),
        "clean": evaluate(model, loader, device),
        "corruptions": corruption_accuracy(model, loader, CORRUPTIONS, seed=seed, device=device),
        "deletion": deletion_curves(
            model, loader, "lrp", orders=("morf", "random"), seed=seed, device=device
        ),
        "deletion_none_order": deletion_curves(
            model, loader, none_order, orders=("morf",), seed=seed, device=device
        ),
        "attribution": attribution_report(model, loader, "lrp", device=device),
    }
    res["eval_seconds"] = time.perf_counter() - started
    for key in ("train_clean",):  # the per-class table of the training clouds is not used
        res[key].pop("per_class", None)
    result_file.write_text(json.dumps(res) + "\n")
    return f"{arm}_s{seed}: evaluated in {res['eval_seconds'] / 60:.1f} min"


def run_jobs(fn, jobs: list[tuple], workers: int) -> None:
    if workers <= 1:
        for job in jobs:
            print("  " + fn(job), flush=True)
        return
    with ProcessPoolExecutor(workers) as pool:
        for message in pool.map(fn, jobs):
            print("  " + message, flush=True)


# ----------------------------------------------------------------------------- statistics


def mean_sd(values: list[float]) -> dict:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return {"mean": None, "sd": None, "n": 0}
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd, "n": len(values), "values": values}


def paired(a: list[float], b: list[float], higher_is_better: bool = True) -> dict:
    """``a - b`` paired by seed: mean, sd, 95% t interval, and seeds where ``a`` is better."""
    diffs = [x - y for x, y in zip(a, b) if x is not None and y is not None]
    n = len(diffs)
    if n == 0:
        return {"mean": None, "n": 0}
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs) if n > 1 else 0.0
    t = T95.get(n - 1) or T95[max(k for k in T95 if k <= max(n - 1, 1))]
    ci = [mean - t * sd / math.sqrt(n), mean + t * sd / math.sqrt(n)] if n > 1 else None
    wins = sum((d > 0) if higher_is_better else (d < 0) for d in diffs)
    return {"mean": mean, "sd": sd, "ci95": ci, "n": n, "wins": wins, "diffs": diffs}


def measures(r: dict, ref: dict) -> dict:
    """The figures of one run (``ref``: the none run of the same seed)."""
    from reldrop3d.evaluate import robustness_summary

    corr = r["corruptions"]["corruptions"]
    robust = robustness_summary(r["corruptions"], ref["corruptions"])
    return {
        "clean_oa": r["clean"]["oa"],
        "clean_macc": r["clean"]["macc"],
        "train_oa": r["train_clean"]["oa"],
        "gap": r["train_clean"]["oa"] - r["clean"]["oa"],
        "mean_corruption_oa": r["corruptions"]["mean_oa"],
        "mce_vs_none": robust["mce"],
        "drop_local_oa": corr["drop_local"]["mean_oa"],
        "drop_global_oa": corr["drop_global"]["mean_oa"],
        "morf_auc": r["deletion"]["auc"]["morf"]["accuracy"],
        "random_auc": r["deletion"]["auc"]["random"]["accuracy"],
        "morf_auc_none_order": r["deletion_none_order"]["auc"]["morf"]["accuracy"],
        "entropy": r["attribution"]["overall"]["entropy"],
        "mass_50": r["attribution"]["overall"]["mass_50"],
        "points_per_cloud": r["points_per_cloud_in_training"],
        "train_minutes": r["train_seconds"] / 60,
        **{f"{c}_oa": v["mean_oa"] for c, v in corr.items()},
    }


LOWER_IS_BETTER = {"mce_vs_none", "gap"}


def summarise(results: dict, arms: list[str], seeds: list[int]) -> dict:
    per_run = {(a, s): measures(results[(a, s)], results[("none", s)]) for a in arms for s in seeds}
    keys = list(next(iter(per_run.values())))
    summary = {a: {k: mean_sd([per_run[(a, s)][k] for s in seeds]) for k in keys} for a in arms}
    comparisons = {}
    if "reldrop" in arms:
        for other in [o for o in PAIRED if o in arms]:
            comparisons[f"reldrop - {other}"] = {
                k: paired(
                    [per_run[("reldrop", s)][k] for s in seeds],
                    [per_run[(other, s)][k] for s in seeds],
                    higher_is_better=k not in LOWER_IS_BETTER,
                )
                for k in keys
                if k not in ("train_minutes",)
            }
    return {"arms": summary, "paired": comparisons}


def per_class_changes(results: dict, arms: list[str], seeds: list[int]) -> dict:
    """Per-class test accuracy change against ``none``, paired by seed, for every arm.

    A class counts as changed beyond the seed noise when the 95% t interval of
    its paired change excludes zero.
    """
    names = list(results[("none", seeds[0])]["clean"]["per_class"])
    out = {}
    for arm in arms:
        if arm == "none":
            continue
        rows = []
        for name in names:
            a = [results[(arm, s)]["clean"]["per_class"][name]["accuracy"] for s in seeds]
            b = [results[("none", s)]["clean"]["per_class"][name]["accuracy"] for s in seeds]
            if any(v is None for v in a + b):
                continue
            p = paired(a, b)
            count = results[("none", seeds[0])]["clean"]["per_class"][name]["count"]
            beyond = p["ci95"] is not None and (p["ci95"][0] > 0 or p["ci95"][1] < 0)
            rows.append(
                {
                    "class": name,
                    "count": count,
                    "delta": p["mean"],
                    "sd": p["sd"],
                    "ci95": p["ci95"],
                    "beyond_noise": beyond,
                }
            )
        out[arm] = sorted(rows, key=lambda r: r["delta"])
    return out


def convergence(results: dict, seeds: list[int], epochs: int) -> dict:
    """The none arm's last fifth: final training accuracy and the validation slope."""
    rows = []
    for s in seeds:
        h = results[("none", s)]["history"]
        tail = h[-max(2, epochs // 5) :]
        xs = [r["epoch"] for r in tail]
        ys = [r.get("val_oa") for r in tail]
        slope = None
        if None not in ys:
            mx, my = statistics.fmean(xs), statistics.fmean(ys)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum(
                (x - mx) ** 2 for x in xs
            )
        rows.append(
            {
                "seed": s,
                "train_clean_oa": results[("none", s)]["train_clean"]["oa"],
                "train_acc_last_epoch": h[-1]["train_acc"],
                "val_oa_last_fifth": mean_sd(ys),
                "val_oa_slope_per_epoch_last_fifth": slope,
            }
        )
    return {"epochs": epochs, "seeds": rows}


# ----------------------------------------------------------------------------- report


def fmt(x: dict, digits: int = 3) -> str:
    if x.get("mean") is None:
        return "n/a"
    return (
        f"{x['mean']:.{digits}f} ± {x['sd']:.{digits}f}"
        if x["n"] > 1
        else f"{x['mean']:.{digits}f}"
    )


def fmt_paired(p: dict, digits: int = 3) -> str:
    if p.get("mean") is None:
        return "n/a"
    if p["ci95"] is None:  # one seed: no interval
        return f"{p['mean']:+.{digits}f}, {p['wins']}/{p['n']}"
    lo, hi = p["ci95"]
    return f"{p['mean']:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}], {p['wins']}/{p['n']}"


ROWS = [
    ("clean overall accuracy", "clean_oa"),
    ("clean mean class accuracy", "clean_macc"),
    ("train accuracy (clean, own training clouds)", "train_oa"),
    ("train-test gap", "gap"),
    ("mean OA over the 7 ModelNet-C corruptions", "mean_corruption_oa"),
    ("mCE vs none (lower is better)", "mce_vs_none"),
    ("drop_local OA (mean of 5 levels)", "drop_local_oa"),
    ("drop_global OA (mean of 5 levels)", "drop_global_oa"),
    ("MoRF AUC, own LRP", "morf_auc"),
    ("MoRF AUC, the none model's LRP order", "morf_auc_none_order"),
    ("random-removal AUC", "random_auc"),
    ("relevance entropy (higher: wider)", "entropy"),
    ("share of points holding 50% of relevance", "mass_50"),
    ("points per cloud seen in training", "points_per_cloud"),
    ("training time (min)", "train_minutes"),
]


def markdown(summary: dict, changes: dict, conv: dict | None, meta: dict) -> str:
    arms = list(summary["arms"])
    out = [
        f"Preset `{meta['preset']}`: {meta['what_was_cut']}. Mean ± standard deviation over "
        f"seeds {meta['seeds']}; the model after the last epoch, on "
        f"{meta['test_clouds']} test clouds.",
        "",
        "| measure | " + " | ".join(arms) + " |",
        "|---" * (len(arms) + 1) + "|",
    ]
    for label, key in ROWS:
        digits = 1 if key in ("train_minutes", "points_per_cloud") else 3
        cells = [fmt(summary["arms"][a][key], digits) for a in arms]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    if summary["paired"]:
        names = list(summary["paired"])
        out += [
            "",
            "Paired differences (same seed): mean [95% t interval], seeds won.",
            "",
            "| measure | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for label, key in ROWS:
            if key == "train_minutes":
                continue
            cells = [fmt_paired(summary["paired"][n][key]) for n in names]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    corr = [
        k[:-3]
        for k in summary["arms"][arms[0]]
        if k.endswith("_oa")
        and k[:-3]
        in ("scale", "jitter", "rotate", "drop_global", "drop_local", "add_global", "add_local")
    ]
    out += [
        "",
        "| corruption (mean OA over levels) | " + " | ".join(arms) + " |",
        "|---" * (len(arms) + 1) + "|",
    ]
    for c in corr:
        out.append(
            f"| {c} | " + " | ".join(fmt(summary["arms"][a][f"{c}_oa"]) for a in arms) + " |"
        )
    for arm, rows in changes.items():
        moved = [r for r in rows if r["beyond_noise"]]
        text = ", ".join(f"{r['class']} {r['delta']:+.3f} (n={r['count']})" for r in moved)
        out += [
            "",
            f"Classes whose accuracy `{arm}` changes beyond the seed noise (paired 95% "
            f"interval excludes 0): {text or 'none'}.",
        ]
    if conv:
        out += [
            "",
            f"Convergence of the none arm at {conv['epochs']} epochs: "
            + "; ".join(
                f"seed {r['seed']}: clean train OA {r['train_clean_oa']:.3f}, "
                f"validation OA over the last fifth {fmt(r['val_oa_last_fifth'])} "
                f"(slope {r['val_oa_slope_per_epoch_last_fifth']:+.5f}/epoch)"
                for r in conv["seeds"]
            )
            + ".",
        ]
    return "\n".join(out) + "\n"


def plots(results: dict, summary: dict, changes: dict, seeds: list[int], stem: Path) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = list(summary["arms"])
    paths = []

    def save(fig, suffix):
        fig.tight_layout()
        paths.append(stem.with_name(f"{stem.name}_{suffix}.png"))
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)

    from reldrop3d.evaluate import CORRUPTIONS

    corr = ["clean", *CORRUPTIONS]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(arms)
    for i, arm in enumerate(arms):
        vals = [summary["arms"][arm]["clean_oa" if c == "clean" else f"{c}_oa"] for c in corr]
        ax.bar(
            [j + i * width for j in range(len(corr))],
            [v["mean"] for v in vals],
            width,
            yerr=[v["sd"] for v in vals],
            label=arm,
            capsize=2,
        )
    ax.set_xticks([j + width * (len(arms) - 1) / 2 for j in range(len(corr))], corr, rotation=20)
    ax.set_ylabel("overall accuracy (mean ± sd over seeds)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncol=len(arms))
    ax.set_title("ModelNet40: accuracy clean and under ModelNet-C corruptions")
    save(fig, "corruptions")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, key, title in (
        (axes[0], "deletion", "each model's own LRP order"),
        (axes[1], "deletion_none_order", "the none model's LRP order"),
    ):
        for i, arm in enumerate(arms):
            orders = ("morf", "random") if key == "deletion" else ("morf",)
            for order in orders:
                curves = [results[(arm, s)][key]["curves"][order]["accuracy"] for s in seeds]
                frac = results[(arm, seeds[0])][key]["fractions"]
                mean = [statistics.fmean(c[k] for c in curves) for k in range(len(frac))]
                ax.plot(
                    frac,
                    mean,
                    "-" if order == "morf" else ":",
                    color=f"C{i}",
                    label=f"{arm} {order}",
                )
        ax.set_xlabel("fraction of points removed")
        ax.set_title(f"most relevant first: {title}", fontsize=10)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("accuracy (mean over seeds)")
    axes[0].legend(fontsize=7)
    save(fig, "morf")

    rows = changes.get("reldrop", [])
    if rows:
        fig, ax = plt.subplots(figsize=(11, 3.8))
        with_ci = all(r["ci95"] is not None for r in rows)
        ax.bar(
            range(len(rows)),
            [r["delta"] for r in rows],
            yerr=[
                [r["delta"] - r["ci95"][0] for r in rows],
                [r["ci95"][1] - r["delta"] for r in rows],
            ]
            if with_ci
            else None,
            color=["C3" if r["delta"] < 0 else "C2" for r in rows],
            capsize=1.5,
        )
        ax.set_xticks(
            range(len(rows)),
            [r["class"] + ("*" if r["beyond_noise"] else "") for r in rows],
            rotation=90,
            fontsize=7,
        )
        ax.axhline(0, color="k", lw=0.6)
        ax.set_ylabel("accuracy: reldrop - none")
        ax.set_title(
            "Per-class test accuracy change with RelDrop (mean, 95% t interval over "
            "seeds; * beyond the seed noise)",
            fontsize=10,
        )
        save(fig, "per_class")

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for s in seeds:
        h = results[("none", s)]["history"]
        ep = [r["epoch"] for r in h]
        ax.plot(
            ep,
            [r["train_acc"] for r in h],
            color="C0",
            alpha=0.6,
            label="training (augmented)" if s == seeds[0] else None,
        )
        if h[0].get("val_oa") is not None:
            ax.plot(
                ep,
                [r["val_oa"] for r in h],
                color="C1",
                alpha=0.6,
                label="validation" if s == seeds[0] else None,
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("none arm, every seed: the epoch budget", fontsize=10)
    save(fig, "convergence")
    return paths


# ----------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="lowdata")
    p.add_argument("--stage", choices=("train", "report", "all"), default="all")
    p.add_argument("--device", default="cpu")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (CPU: one thread each)")
    p.add_argument("--arms", help="comma-separated subset of the preset's arms")
    p.add_argument("--seeds", help="comma-separated subset of the preset's seeds")
    p.add_argument(
        "--runs",
        default=str(Path(__file__).resolve().parent / "runs"),
        help="folder of the resumable runs",
    )
    p.add_argument(
        "--results",
        type=Path,
        help="folder of the report (default benchmarks/results, or the preset's subfolder of it)",
    )
    args = p.parse_args()
    preset = PRESETS[args.preset]
    results_dir = args.results or RESULTS / preset.get("results", "")
    arms = args.arms.split(",") if args.arms else preset["arms"]
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else preset["seeds"]
    unknown = [a for a in arms if a not in ARMS]
    if unknown or "none" not in arms:
        sys.exit(f"--arms must include none and name known arms ({', '.join(ARMS)}); got {arms}")

    from reldrop3d.data import default_data_root

    data = default_data_root() / "modelnet40_1024"
    if not (data / "train.h5").is_file():
        sys.exit(f"ModelNet40 not found at {data}; set RELDROP3D_DATA")
    root = Path(args.runs) / f"modelnet40_{args.preset}"
    root.mkdir(parents=True, exist_ok=True)
    threads = 1 if args.jobs > 1 else max(1, os.cpu_count() or 1)
    started = time.perf_counter()
    # seed-major: the none run of a seed (the reference of its evaluation) comes first
    jobs = [(preset, a, s, root, args.device, data, threads) for s in seeds for a in arms]
    if args.stage != "report":
        print(f"training {len(jobs)} runs in {root}", flush=True)
        run_jobs(train_run, jobs, args.jobs)
    if args.stage == "train":
        return
    from reldrop3d.train.checkpoint import load_checkpoint

    def trained(run: Path) -> bool:
        last = run / "last.pt"
        return last.is_file() and load_checkpoint(last)["epoch"] >= preset["train"]["epochs"]

    untrained = [f"{a}_s{s}" for s in seeds for a in arms if not trained(root / f"{a}_s{s}")]
    if untrained:
        sys.exit(f"--stage report: not trained yet: {', '.join(untrained)}")
    print("evaluating", flush=True)
    run_jobs(evaluate_run, jobs, args.jobs)
    results = {
        (a, s): json.loads((root / f"{a}_s{s}" / "study_eval.json").read_text())
        for s in seeds
        for a in arms
    }
    summary = summarise(results, arms, seeds)
    changes = per_class_changes(results, arms, seeds)
    conv = convergence(results, seeds, preset["train"]["epochs"])
    from reldrop3d.train import TrainConfig

    meta = {
        "benchmark": "modelnet40_study",
        "preset": args.preset,
        "settings": {
            **TrainConfig(**preset["train"]).to_dict(),
            "test_limit": preset["test_limit"],
        },
        "what_was_cut": preset["cut"],
        "arms": {a: ARMS[a] for a in arms},
        "seeds": seeds,
        "test_clouds": results[("none", seeds[0])]["clean"]["num_samples"],
        "command": " ".join(["python", "benchmarks/modelnet40_study.py", *sys.argv[1:]]),
        "machine": machine(),
        "device": args.device,
        "wall_seconds_this_call": time.perf_counter() - started,
        "train_hours_all_runs": sum(r["train_seconds"] for r in results.values()) / 3600,
        "eval_hours_all_runs": sum(r["eval_seconds"] for r in results.values()) / 3600,
    }
    for key in ("out", "seed", "device"):
        meta["settings"].pop(key, None)
    payload = {
        **meta,
        "summary": summary,
        "per_class_vs_none": changes,
        "convergence": conv,
        "runs": {
            f"{a}_s{s}": {k: v for k, v in r.items() if k != "history"}
            for (a, s), r in results.items()
        },
        "none_histories": {s: results[("none", s)]["history"] for s in seeds},
    }
    name = f"modelnet40_{args.preset}"
    path = write_json(name, payload, results_dir)
    md = markdown(summary, changes, conv, meta)
    path.with_suffix(".md").write_text(md)
    pngs = plots(results, summary, changes, seeds, results_dir / name)
    print(md)
    print(f"wrote {path}, {path.with_suffix('.md')} and {', '.join(p.name for p in pngs)}")


if __name__ == "__main__":
    main()
