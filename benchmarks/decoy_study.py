"""Shortcut learning on SyntheticShapes with a decoy: which training fixes it?

Every training object carries a small sphere (the decoy, 1/16 of its points)
at a position that gives its class away; every test object carries one at
the position of *another* class (``SyntheticShapes(decoy=True)``, see
``reldrop3d/data/synthetic/generate.py``). A model that learned the shortcut
is wrong on that de-confounded test split. Arms (PointNet, same data, seed,
schedule and augmentation; only the named change):

- ``no-decoy``: reference, trained on the same objects without decoys;
- ``baseline``: cross-entropy only;
- ``reldrop``: RelDrop (LRP relevance, alpha = beta = 0.5, points removed);
- ``random``: random point dropout (PointNet++'s, up to 87.5 %);
- ``energy``, ``rrr``, ``cyborg``: cross-entropy + lambda * guidance loss
  on the input x gradient attribution of the true class, against the
  per-point masks (decoy = not allowed), masks on every training cloud;
- ``energy-10``, ``energy-1``: energy with masks on a fixed 10 % / 1 % of
  the training clouds (the rest train with cross-entropy only);
- ``energy-lrp``: energy on the (parameter-differentiable) LRP relevance;
- ``energy-lam1``: energy with lambda 1 instead of 10 (sensitivity);
- ``energy+reldrop``: energy guidance and RelDrop together.

Guidance lambda is 10 (``--lam``) unless an arm says otherwise.

Reported per arm, for the model after the last epoch (``best.pt`` is chosen
on the test split, so it is not used): accuracy on the de-confounded test
split ("swap"), on the same test objects with the decoy at their own class's
position ("iid", the confounded distribution the model was trained on) and
without a decoy ("clean"); how often the prediction is the class the decoy
points to ("fooled"); the share of positive relevance on the decoy points
(LRP and input x gradient of the predicted class, mean
over the swap split); training time (training steps only, no evaluation).

    python benchmarks/decoy_study.py            # full study, ~1 h on 2 shared CPU cores
    python benchmarks/decoy_study.py --quick    # smoke run (writes *_quick.*)

Each arm is a Trainer run folder ``benchmarks/runs/decoy[_quick]/<arm>``;
a finished arm is not trained again, an interrupted one resumes from its
``last.pt``. Writes ``benchmarks/results/decoy_study.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import RESULTS, figure, machine, save_figure, write_json

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    settings: dict = field(default_factory=dict)


ARMS = [
    Arm("no-decoy", "reference: trained without decoys", {"data": "synthetic"}),
    Arm("baseline", "no guidance, no dropout", {"augment": "none"}),
    Arm("reldrop", "RelDrop (LRP, alpha = beta = 0.5)", {"augment": "reldrop"}),
    Arm("random", "random point dropout", {"augment": "random", "fill": "first"}),
    Arm("energy", "energy, IxG, masks on 100%", {"guidance": "energy"}),
    Arm("rrr", "RRR, IxG, masks on 100%", {"guidance": "rrr"}),
    Arm("cyborg", "CYBORG, IxG, masks on 100%", {"guidance": "cyborg"}),
    Arm("energy-10", "energy, IxG, masks on 10%", {"guidance": "energy", "guidance_fraction": 0.1}),
    Arm("energy-1", "energy, IxG, masks on 1%", {"guidance": "energy", "guidance_fraction": 0.01}),
    Arm(
        "energy-lrp", "energy, LRP, masks on 100%", {"guidance": "energy", "guidance_method": "lrp"}
    ),
    Arm(
        "energy-lam1", "energy, IxG, masks on 100%", {"guidance": "energy", "guidance_lambda": 1.0}
    ),
    Arm(
        "energy+reldrop",
        "energy, IxG, 100%, + RelDrop",
        {"guidance": "energy", "augment": "reldrop"},
    ),
]

FULL = {"num_points": 128, "samples_per_class": 60, "test_per_class": 30, "epochs": 40}
QUICK = {"num_points": 64, "samples_per_class": 6, "test_per_class": 3, "epochs": 2}


def build_splits(sizes: dict) -> dict:
    from reldrop3d.data import SyntheticShapes

    n, test = sizes["num_points"], sizes["test_per_class"]
    return {
        "train": SyntheticShapes("train", n, sizes["samples_per_class"], decoy=True),
        "train_plain": SyntheticShapes("train", n, sizes["samples_per_class"]),
        "swap": SyntheticShapes("test", n, test, decoy="swap"),
        "iid": SyntheticShapes("test", n, test, decoy="class"),
        "clean": SyntheticShapes("test", n, test),
    }


def train_arm(arm: Arm, sizes: dict, splits: dict, runs: Path, lam: float, progress: bool):
    """Train (or resume, or skip) one arm; returns its metrics history."""
    from reldrop3d.train import TrainConfig, Trainer, TrainingError
    from reldrop3d.train.checkpoint import load_checkpoint

    out = runs / arm.name
    settings = {"augment": "none", **arm.settings}
    if "guidance" in settings:
        settings.setdefault("guidance_lambda", lam)
    data = settings.pop("data", "synthetic-decoy")
    train = splits["train_plain" if data == "synthetic" else "train"]
    cfg = TrainConfig(
        data=data,
        model="pointnet",
        epochs=sizes["epochs"],
        batch_size=32,
        num_points=sizes["num_points"],
        min_points=16,
        samples_per_class=sizes["samples_per_class"],
        scheduler="cosine",
        out=str(out),
        eval_batch_size=128,
        **settings,
    )
    last = out / "last.pt"
    done = last.is_file() and load_checkpoint(last)["epoch"] >= cfg.epochs
    error = None
    if not done:
        resume = last.is_file()
        try:
            Trainer(cfg, train, splits["swap"], resume=resume, progress=progress).fit()
        except TrainingError as e:  # e.g. a non-finite loss: keep the last good epoch
            error = str(e)
    history = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return history, cfg.guidance_lambda if cfg.guidance != "none" else None, error


def evaluate_arm(arm: Arm, runs: Path, splits: dict) -> dict:
    """Accuracies, fooled rate and decoy relevance shares of an arm's last model."""
    import torch
    from torch_geometric.loader import DataLoader

    from reldrop3d.evaluate import attribution_report
    from reldrop3d.train.checkpoint import model_from_checkpoint

    model, _ = model_from_checkpoint(runs / arm.name / "last.pt")
    model.eval()
    out = {}
    for name in ("swap", "iid", "clean"):
        ds = splits[name]
        preds = []
        with torch.no_grad():
            for batch in DataLoader(ds, batch_size=128):
                preds.append(model(batch).argmax(-1))
        pred = torch.cat(preds)
        out[f"acc_{name}"] = float((pred == ds.y).float().mean())
        if name == "swap":
            out["fooled"] = float((pred == ds.decoy_class).float().mean())
    ds = splits["swap"]
    for key, method in (("lrp_pred", "lrp"), ("ixg_pred", "input_x_gradient")):
        report = attribution_report(
            model, DataLoader(ds, batch_size=64), method, target="pred",
            energy_parts=[ds.decoy_part], num_parts=ds.num_parts,
        )  # fmt: skip
        out[f"decoy_share_{key}"] = report["overall"]["part_energy"]
    return out


def summarise(arm: Arm, history: list[dict], lam, error, scores: dict) -> dict:
    train_s = sum(r["seconds_epoch"] - r["seconds_eval"] for r in history)
    return {
        "arm": arm.name,
        "label": arm.label,
        "settings": arm.settings,
        "lambda": lam,
        "error": error,
        "epochs": len(history),
        "train_acc": history[-1]["train_acc"],
        **scores,
        "train_seconds": train_s,
        "seconds_per_epoch": train_s / max(1, len(history)),
        "wall_seconds": sum(r["seconds_epoch"] for r in history),
        "curve_acc_swap": [r["test_oa"] for r in history],
        "annotated_per_epoch": history[-1].get("guided_per_epoch"),
    }


def markdown(rows: list[dict], meta: dict) -> str:
    s = meta["sizes"]
    lines = [
        "# Decoy study: shortcut learning on SyntheticShapes with a decoy",
        "",
        f"PointNet, {s['num_points']} points per cloud ({meta['decoy_points']} on the decoy), "
        f"{s['samples_per_class']} training objects per class (10 classes), {s['epochs']} "
        f"epochs, batch 32, Adam 1e-3 with a cosine schedule, random scale and shift; "
        f"guidance lambda {meta['lambda']} unless noted. Test: {s['test_per_class']} objects "
        "per class. "
        f"Model after the last epoch. {meta['threads']} torch thread(s) on a shared "
        f"{meta['machine']['cores']}-core CPU; all arms together "
        f"{meta['minutes_all_arms']:.1f} min (training and per-epoch evaluation).",
        "",
        "| arm | lambda | acc swap (de-confounded) | acc iid (decoy at own class) "
        "| acc clean (no decoy) | fooled by decoy | decoy share LRP (pred) "
        "| decoy share IxG (pred) | train min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lam = "" if r["lambda"] is None else f"{r['lambda']:g}"
        failed = f" **stopped: {r['error']}**" if r["error"] else ""
        lines.append(
            f"| {r['arm']} ({r['label']}){failed} | {lam} | {r['acc_swap']:.3f} | "
            f"{r['acc_iid']:.3f} | {r['acc_clean']:.3f} | {r['fooled']:.3f} | "
            f"{r['decoy_share_lrp_pred']:.3f} | "
            f"{r['decoy_share_ixg_pred']:.3f} | {r['train_seconds'] / 60:.1f} |"
        )
    lines += [
        "",
        f"Chance accuracy 0.1; the decoy holds {meta['decoy_points']}/{s['num_points']} = "
        f"{meta['decoy_points'] / s['num_points']:.3f} of the points. 'fooled' = prediction "
        "equals the class whose position the decoy occupies. Decoy share = mean over the "
        "swap split of the share of a cloud's positive relevance on decoy points.",
        "",
    ]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, meta: dict) -> None:
    import matplotlib
    import numpy as np

    names = [r["arm"] for r in rows]
    x = np.arange(len(rows))
    fig, axes = figure(2, 2, figsize=(13, 8.5))
    ax = axes[0, 0]
    width = 0.27
    for i, (key, label) in enumerate(
        [
            ("acc_swap", "swap (de-confounded)"),
            ("acc_iid", "iid (decoy = own class)"),
            ("acc_clean", "clean (no decoy)"),
        ]
    ):
        ax.bar(x + (i - 1) * width, [r[key] for r in rows], width, label=label)
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.18)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(fontsize=8, ncol=3, loc="upper center")
    ax.set_title("accuracy of the last model")

    ax = axes[0, 1]
    ax.bar(x - 0.2, [r["decoy_share_lrp_pred"] for r in rows], 0.4, label="LRP, predicted class")
    ax.bar(x + 0.2, [r["decoy_share_ixg_pred"] for r in rows], 0.4, label="IxG, predicted class")
    ax.axhline(
        meta["decoy_points"] / meta["sizes"]["num_points"],
        color="grey",
        lw=0.8,
        ls=":",
        label="share of points",
    )
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("share of positive relevance on the decoy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("where the model looks (swap split)")

    ax = axes[1, 0]
    colours = matplotlib.colormaps["tab20"]
    for i, r in enumerate(rows):
        epochs = range(1, len(r["curve_acc_swap"]) + 1)
        style = "--" if r["settings"].get("guidance") is None else "-"
        ax.plot(epochs, r["curve_acc_swap"], style, color=colours(i % 20), label=r["arm"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy, swap split")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("de-confounded accuracy during training")

    ax = axes[1, 1]
    ax.bar(x, [r["train_seconds"] / 60 for r in rows], color="tab:gray")
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("training minutes")
    ax.set_title(f"training time ({meta['threads']} thread(s), shared CPU)")
    save_figure(fig, path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, *_quick outputs")
    p.add_argument("--arms", nargs="*", default=None, help="subset of arms (default: all)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--num-points", type=int, default=None)
    p.add_argument("--samples-per-class", type=int, default=None)
    p.add_argument("--lam", type=float, default=10.0, help="guidance lambda (default 10)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--runs", type=Path, default=None, help="run folders (default benchmarks/runs/)")
    p.add_argument("--name", default=None, help="output name (default decoy_study[_quick])")
    p.add_argument("--progress", action="store_true", help="show the trainers' progress bars")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    sizes = dict(QUICK if args.quick else FULL)
    for key in ("epochs", "num_points", "samples_per_class"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    name = args.name or ("decoy_study_quick" if args.quick else "decoy_study")
    runs = args.runs or ROOT / "runs" / ("decoy_quick" if args.quick else "decoy")
    arms = [a for a in ARMS if args.arms is None or a.name in args.arms]
    unknown = set(args.arms or ()) - {a.name for a in ARMS}
    if unknown:
        p.error(f"unknown arm(s) {sorted(unknown)}; known: {[a.name for a in ARMS]}")

    from reldrop3d.data.synthetic.generate import decoy_points

    started = time.perf_counter()
    splits = build_splits(sizes)
    rows = []
    for arm in arms:
        t = time.perf_counter()
        history, lam, error = train_arm(arm, sizes, splits, runs, args.lam, args.progress)
        row = summarise(arm, history, lam, error, evaluate_arm(arm, runs, splits))
        rows.append(row)
        print(
            f"{arm.name:>11}: swap {row['acc_swap']:.3f}  iid {row['acc_iid']:.3f}  "
            f"clean {row['acc_clean']:.3f}  fooled {row['fooled']:.3f}  "
            f"decoy LRP {row['decoy_share_lrp_pred']:.3f}  "
            f"train {row['train_seconds'] / 60:.1f} min  ({time.perf_counter() - t:.0f} s now)",
            flush=True,
        )
    meta = {
        "sizes": sizes,
        "decoy_points": decoy_points(sizes["num_points"]),
        "lambda": args.lam,
        "threads": args.threads,
        "machine": machine(),
        "minutes_all_arms": sum(r["wall_seconds"] for r in rows) / 60,
        "minutes_this_invocation": (time.perf_counter() - started) / 60,
        "runs": str(runs),
        "note": (
            "minutes_all_arms sums the arms' epochs (training + per-epoch test evaluation) "
            "from their metrics.jsonl; minutes_this_invocation counts this process (arms "
            "already finished are only evaluated). train_seconds excludes evaluation. The "
            "CPU was shared with other jobs, so times are indicative."
        ),
    }
    payload = {"meta": meta, "arms": rows}
    write_json(name, payload)
    (RESULTS / f"{name}.md").write_text(markdown(rows, meta))
    plot(rows, RESULTS / f"{name}.png", meta)
    print(f"wrote {RESULTS / name}.json, .md and .png")
    return 0 if all(math.isfinite(r["acc_swap"]) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
