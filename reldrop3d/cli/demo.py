"""``reldrop3d demo``: train without and with RelDrop on SyntheticShapes, compare them."""

from __future__ import annotations

import json
import time
from pathlib import Path

from reldrop3d.cli._args import UserError, check_device, count, device_name, output_folder, positive
from reldrop3d.names import MODELS

ARMS = {"none": "no point dropout", "reldrop": "RelDrop (LRP, alpha = beta = 0.5)"}


def add(sub) -> None:
    """The ``demo`` sub-command."""
    p = sub.add_parser("demo", help="train without and with RelDrop on SyntheticShapes")
    p.add_argument("--out", default="demo")
    p.add_argument("--epochs", type=positive, default=8)
    p.add_argument("--num-points", type=positive, default=512)
    p.add_argument("--model", choices=MODELS, default="pointnet")
    p.add_argument("--seed", type=count, default=0)
    p.add_argument("--device", type=device_name, default="cpu")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args) -> int:
    """Train without and with RelDrop on SyntheticShapes and compare them."""
    output_folder(args.out)
    check_device(args.device)
    from reldrop3d.train import CheckpointError, ConfigError

    try:
        keys = ("epochs", "num_points", "model", "seed", "device")
        result = run_demo(args.out, **{k: getattr(args, k) for k in keys})
    except (ConfigError, CheckpointError) as e:
        raise UserError(f"{e} (the demo continues the runs in --out {args.out})") from None
    print((Path(result["out"]) / "report.md").read_text())
    print(f"wrote {result['out']}/report.md and its plots")
    return 0


def run_demo(
    out: str | Path = "demo",
    epochs: int = 8,
    num_points: int = 512,
    model: str = "pointnet",
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    samples_per_class: int | None = None,
) -> dict:
    """Train ``model`` twice on SyntheticShapes (plain, and with RelDrop), then evaluate both on
    the clean test set and under point removal (most relevant first, and random).

    Writes ``out/report.md`` with the table and ``deletion.png``, ``curves_<arm>.png`` and
    ``relevance.png`` beside it; each arm's run folder is ``out/<arm>`` and a finished
    arm is not trained again. ``samples_per_class`` sizes SyntheticShapes (default: its
    own, 100 per class for training). Returns the table rows.
    """
    from torch_geometric.data import Batch
    from torch_geometric.loader import DataLoader

    from reldrop3d.data import SyntheticShapes
    from reldrop3d.evaluate import deletion_curves, evaluate, plot
    from reldrop3d.relevance import point_relevance
    from reldrop3d.relevance.render import save_relevance_cloud
    from reldrop3d.train import TrainConfig, Trainer
    from reldrop3d.train.checkpoint import load_checkpoint, model_from_checkpoint

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    test_spc = None if samples_per_class is None else max(2, samples_per_class // 4)
    train = SyntheticShapes("train", num_points, samples_per_class)
    test = SyntheticShapes("test", num_points, test_spc)
    rows, deletion = [], {}
    for arm, label in ARMS.items():
        cfg = TrainConfig(
            data="synthetic",
            model=model,
            augment=arm,
            epochs=epochs,
            num_points=num_points,
            min_points=min(32, num_points // 4),
            seed=seed,
            device=device,
            out=str(out / arm),
            samples_per_class=samples_per_class or 0,
        )
        last = out / arm / "last.pt"
        done = last.is_file() and load_checkpoint(last)["epoch"] >= epochs
        started = time.perf_counter()
        if not done:
            if progress:
                print(f"training {model} on SyntheticShapes: {label} ({epochs} epochs)")
            Trainer(cfg, train, test, resume=last.is_file(), progress=progress).fit()
        history = load_checkpoint(last)["history"]
        net, _ = model_from_checkpoint(out / arm / "last.pt", device)
        loader = DataLoader(test, batch_size=64)
        clean = evaluate(net, loader, device)
        curves = deletion_curves(
            net, loader, "lrp", orders=("morf", "random"), seed=seed, device=device
        )
        deletion[arm] = curves
        frac = curves["fractions"]
        half = min(range(len(frac)), key=lambda i: abs(frac[i] - 0.5))
        rows.append(
            {
                "arm": arm,
                "label": label,
                "test_oa": clean["oa"],
                "test_macc": clean["macc"],
                "morf_auc": curves["auc"]["morf"]["accuracy"],
                "random_auc": curves["auc"]["random"]["accuracy"],
                "morf_acc_at_50": curves["curves"]["morf"]["accuracy"][half],
                "random_acc_at_50": curves["curves"]["random"]["accuracy"][half],
                "points_per_cloud_in_training": history[-1]["points_per_cloud"],
                "train_seconds": sum(h["seconds_epoch"] for h in history),
                "reused": done,
            }
        )
        (out / f"curves_{arm}.png").write_bytes((out / arm / "curves.png").read_bytes())
        if progress:
            print(
                f"  {arm}: test OA {clean['oa']:.3f}, MoRF AUC {rows[-1]['morf_auc']:.3f} "
                f"(took {time.perf_counter() - started:.0f} s)"
            )

    plot(
        {ARMS[a]: d for a, d in deletion.items()},
        out / "deletion.png",
        title="Accuracy as points are removed (SyntheticShapes test set)",
    )
    net, _ = model_from_checkpoint(out / "reldrop" / "last.pt", device)
    sample = Batch.from_data_list([test[0]]).to(device)
    relevance = point_relevance(net, sample)
    save_relevance_cloud(
        sample.pos,
        relevance,
        out / "relevance",
        title=f"LRP relevance, {test.classes[int(sample.y)]} (red = relevant)",
    )
    (out / "report.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "report.md").write_text(report_markdown(rows, model, epochs, num_points))
    return {"rows": rows, "out": str(out)}


def report_markdown(rows: list[dict], model: str, epochs: int, num_points: int) -> str:
    head = (
        "| training | test OA | test mAcc | MoRF AUC | random AUC | OA, 50% most relevant "
        "removed | OA, 50% random removed | points seen per cloud | train time |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['label']} | {r['test_oa']:.3f} | {r['test_macc']:.3f} | {r['morf_auc']:.3f} | "
        f"{r['random_auc']:.3f} | {r['morf_acc_at_50']:.3f} | {r['random_acc_at_50']:.3f} | "
        f"{r['points_per_cloud_in_training']:.0f} | {r['train_seconds']:.0f} s |\n"
        for r in rows
    )
    return (
        f"# reldrop3d demo\n\n{model}, {epochs} epochs on SyntheticShapes ({num_points} points "
        f"per cloud), evaluated on its test split. MoRF: points removed most relevant first "
        f"(LRP of the evaluated model), in steps of 5% up to 90%; AUC is the area under "
        f"accuracy against the removed share (higher = more robust).\n\n{head}{body}\n"
        f"![deletion curves](deletion.png)\n\n![relevance](relevance.png)\n\n"
        f"Training curves: [none](curves_none.png), [reldrop](curves_reldrop.png).\n"
    )
