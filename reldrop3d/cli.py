"""Command line: ``reldrop3d info | train | eval | compare | explain | bench | demo``.

Each sub-command is a thin layer over the library; user errors (bad
options, missing files) print one line and exit with status 2, without a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


class UserError(Exception):
    """An error in what the user asked for: printed as one line, exit status 2."""


def cmd_info(args: argparse.Namespace) -> int:
    """Versions, devices, and the datasets this machine can see."""
    import platform

    import torch
    import torch_geometric
    import zennit  # noqa: F401  (imported to prove it loads)

    from reldrop3d import __version__

    print(f"reldrop3d {__version__}")
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{torch.get_num_threads()} torch threads"
    )
    print(f"torch {torch.__version__}, torch_geometric {torch_geometric.__version__}")
    try:
        import torch_scatter

        print(f"torch_scatter {torch_scatter.__version__}")
    except ImportError as e:  # pragma: no cover - environment problem
        print(f"torch_scatter missing: {e}")
    try:
        from importlib.metadata import version

        print(f"zennit {version('zennit')}, open3d {version('open3d')} (imported only when needed)")
    except Exception:  # pragma: no cover
        pass
    cuda = torch.cuda.is_available()
    print(f"devices: cpu{', ' + str(torch.cuda.device_count()) + ' cuda' if cuda else ''}")
    try:
        from reldrop3d.data import default_data_root

        root = default_data_root()
        mn = root / "modelnet40_1024"
        print(f"data root (RELDROP3D_DATA): {root}")
        print(f"  modelnet40_1024: {'found' if (mn / 'train.h5').exists() else 'not found'}")
    except ImportError:
        pass
    print("  synthetic: built on first use (reldrop3d.data.SyntheticShapes)")
    return 0


TRAIN_HELP = {
    "data": "synthetic | synthetic-decoy | modelnet40[:PATH] | shapenet[:PATH]",
    "model": "pointnet | pointnet2 | pointnet2-msg | dgcnn",
    "augment": "point dropout: reldrop | random | none",
    "alpha": "RelDrop randomness in [0, 1]",
    "beta": "RelDrop drop ratio in [0, 1]",
    "mode": "RelDrop rule: threshold | topk | sample",
    "fill": "what dropped points become: remove | zero | first",
    "min_points": "points every cloud keeps",
    "max_ratio": "largest drop ratio of --augment random",
    "relevance": "lrp | gradient | input_x_gradient | saliency_map | feature_norm | random",
    "relevance_seed": "LRP seed: logit (relevance sums to the true-class logit) | one (published)",
    "relevance_max_clouds": "explain at most this many clouds at a time (0: the whole batch; "
    "less memory, e.g. 8 for PointNet++ MSG on a CPU)",
    "reldrop_every": "recompute a sample's relevance every K epochs (cached in between)",
    "epochs": "train up to this many epochs",
    "batch_size": "clouds per batch",
    "lr": "Adam learning rate",
    "weight_decay": "Adam weight decay",
    "scheduler": "step (x0.7 every 20 epochs) | cosine | none",
    "num_points": "points per cloud",
    "use_normals": "feed normals as extra channels",
    "scale": "random scale range LOW HIGH",
    "shift": "random shift magnitude",
    "jitter": "Gaussian jitter sigma (0: off)",
    "rotate": "random rotation about the up axis",
    "seed": "random seed",
    "device": "cpu | cuda | cuda:N",
    "out": "run folder",
    "eval_batch_size": "clouds per evaluation batch",
    "samples_per_class": "SyntheticShapes size (0: its default)",
    "guidance": "explanation guidance loss: none | energy | rrr | cyborg (needs masks: "
    "--data synthetic-decoy)",
    "guidance_lambda": "weight of the guidance loss added to the cross-entropy",
    "guidance_method": "attribution the guidance loss sees: input_x_gradient | gradient | lrp",
    "guidance_fraction": "share of training clouds whose mask is used (a fixed subset), (0, 1]",
}


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig key; unset flags stay None so a --config file can fill them."""
    from reldrop3d.train.config import TrainConfig

    defaults = TrainConfig()
    for key, help_text in TRAIN_HELP.items():
        flag = "--" + key.replace("_", "-")
        default = getattr(defaults, key)
        text = f"{help_text} (default: {default})"
        if isinstance(default, bool):
            p.add_argument(
                flag, dest=key, action=argparse.BooleanOptionalAction, default=None, help=text
            )
        elif isinstance(default, list):
            p.add_argument(
                flag,
                dest=key,
                type=float,
                nargs=2,
                default=None,
                help=text,
                metavar=("LOW", "HIGH"),
            )
        else:
            p.add_argument(flag, dest=key, type=type(default), default=None, help=text)


def resolve_train_config(args: argparse.Namespace):
    """Defaults, then the --config file, then the flags given on the command line."""
    from reldrop3d.train.config import ConfigError, TrainConfig, read_toml

    values = {}
    try:
        if args.config:
            values.update(read_toml(args.config))
        values.update({k: getattr(args, k) for k in TRAIN_HELP if getattr(args, k) is not None})
        if "scale" in values:
            values["scale"] = list(values["scale"])
        return TrainConfig.from_dict(values, source=args.config or "flags").validate()
    except ConfigError as e:
        raise UserError(str(e)) from None
    except TypeError as e:
        raise UserError(f"bad value in {args.config or 'flags'}: {e}") from None


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model; see ``reldrop3d train --help``."""
    from reldrop3d.train import CheckpointError, ConfigError, Interrupted, Trainer, TrainingError
    from reldrop3d.train.checkpoint import load_checkpoint
    from reldrop3d.train.config import TrainConfig

    cfg = resolve_train_config(args)
    if args.resume:
        from pathlib import Path

        path = Path(cfg.out) / "last.pt"
        try:
            saved = TrainConfig.from_dict(load_checkpoint(path)["config"])
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
        # the run's own settings, with a new epoch budget or device if given
        if args.epochs is not None:
            saved.epochs = args.epochs
        if args.device is not None:
            saved.device = args.device
        cfg = saved
    try:
        trainer = Trainer(cfg, resume=args.resume)
        summary = trainer.fit()
    except (ConfigError, CheckpointError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    except TrainingError as e:
        print(f"reldrop3d train: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(
            f"reldrop3d train: {e}; saved {cfg.out}/last.pt (continue with --resume)",
            file=sys.stderr,
        )
        return 130
    best = summary["best"]
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return 0
    print(
        f"done: {summary['epochs']} epochs, best test OA {best['test_oa']:.4f} "
        f"(epoch {best['epoch']}), files in {summary['out']}"
    )
    return 0


def _checkpoint_and_data(args):
    """The model of ``--checkpoint`` and the test split of ``--data`` (default: the run's data)."""
    from reldrop3d.train import CheckpointError, ConfigError, TrainConfig
    from reldrop3d.train.checkpoint import model_from_checkpoint
    from reldrop3d.train.datasets import build_datasets

    try:
        model, state = model_from_checkpoint(args.checkpoint, args.device)
        cfg = TrainConfig.from_dict(state["config"])
        if args.data:
            cfg.data = args.data
        cfg.validate()
        _, test = build_datasets(cfg)
    except (CheckpointError, ConfigError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    except ValueError as e:
        raise UserError(str(e)) from None
    if test.num_classes != state["num_classes"]:
        raise UserError(
            f"checkpoint {args.checkpoint} has {state['num_classes']} classes but "
            f"data {cfg.data!r} has {test.num_classes}"
        )
    return model, state, cfg, test


def cmd_eval(args: argparse.Namespace) -> int:
    """Accuracy, corruption robustness, point-removal curves and relevance spread."""
    from pathlib import Path

    from reldrop3d.evaluate.run import evaluate_checkpoint, load_reference, test_subset

    model, state, cfg, test = _checkpoint_and_data(args)
    reference = None
    if args.reference:
        try:
            reference = load_reference(args.reference)
        except (FileNotFoundError, ValueError) as e:
            raise UserError(str(e)) from None
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent / "eval"
    try:
        result = evaluate_checkpoint(
            model,
            test_subset(test, args.limit, args.seed),
            corruptions=args.corruptions,
            deletion=args.deletion,
            iterative=args.iterative,
            attribution=args.attribution,
            method=args.method,
            reference=reference,
            out=out,
            batch_size=args.batch_size,
            seed=args.seed,
            device=args.device,
            label=Path(args.checkpoint).resolve().parent.name,
        )
    except ValueError as e:
        raise UserError(str(e)) from None
    print(result["markdown"])
    per_class = result["clean"]["per_class"]
    print("| class | accuracy | correct / count |\n|---|---|---|")
    for name, row in per_class.items():
        acc = "n/a" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        print(f"| {name} | {acc} | {row['correct']} / {row['count']} |")
    print(f"wrote {out}/eval.json, eval.md and plots")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Per-class accuracy differences between two runs, and the classes that lose."""
    from reldrop3d.evaluate.compare import compare_runs

    try:
        result = compare_runs(args.run_a, args.run_b, args.threshold, args.out)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None
    print(result["markdown"])
    if args.out:
        print(f"wrote {args.out}/compare.md, compare.json and {len(result['plots'])} plot(s)")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Relevance of one test cloud as colours: a .ply and a .png."""
    from torch_geometric.data import Batch

    from reldrop3d.relevance import point_relevance
    from reldrop3d.relevance.render import save_relevance_cloud

    model, _, _, test = _checkpoint_and_data(args)
    if not 0 <= args.index < len(test):
        raise UserError(f"--index must be in [0, {len(test)}), got {args.index}")
    data = Batch.from_data_list([test[args.index]]).to(args.device)
    target = None if args.target == "label" else "pred"
    relevance = point_relevance(model, data, target=target, method=args.method)
    name = test.classes[int(data.y)]
    ply, png = save_relevance_cloud(
        data.pos, relevance, args.out, title=f"{args.method} relevance: {name} #{args.index}"
    )
    print(f"wrote {ply} and {png}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Train without and with RelDrop on SyntheticShapes and compare them."""
    from reldrop3d.demo import run_demo

    result = run_demo(
        args.out,
        epochs=args.epochs,
        num_points=args.num_points,
        model=args.model,
        seed=args.seed,
        device=args.device,
    )
    from pathlib import Path

    print((Path(result["out"]) / "report.md").read_text())
    print(f"wrote {result['out']}/report.md and its plots")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """A quick measurement of what RelDrop costs per step on this machine."""
    from reldrop3d.bench import run_bench

    if args.model not in ("pointnet", "pointnet2", "pointnet2-msg", "dgcnn"):
        raise UserError(
            f"--model must be pointnet, pointnet2, pointnet2-msg or dgcnn; got {args.model!r}"
        )
    r = run_bench(args.model, args.batch_size, args.num_points, args.device, args.repeats)
    print(
        f"{r['model']}, {r['batch_size']} x {r['num_points']} points on {r['device']} "
        f"(medians of {args.repeats}):"
    )
    print(f"  plain training step  {r['plain_step']:8.3f} s")
    print(f"  LRP relevance        {r['relevance']:8.3f} s  ({r['relevance_over_step']:.2f}x step)")
    print(
        f"  RelDrop dropper      {r['drop'] * 1e3:8.3f} ms ({100 * r['drop_over_step']:.2f}% "
        f"of a step)"
    )
    print(
        f"  full RelDrop step    {r['reldrop_step']:8.3f} s  ({r['reldrop_step_over_step']:.2f}x "
        f"step)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reldrop3d",
        description="Relevance-driven Input Dropout for 3D point-cloud classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("info", help="versions, devices and visible datasets")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train a classifier with RelDrop (or a baseline)")
    p.add_argument("--config", help="TOML file with the same keys as the flags (flags win)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt up to --epochs",
    )
    add_train_flags(p)
    p.set_defaults(func=cmd_train)

    def checkpoint_flags(p):
        p.add_argument("--checkpoint", required=True, help="a run's best.pt or last.pt")
        p.add_argument("--data", help="data to evaluate on (default: the run's own)")
        p.add_argument("--device", default="cpu")

    p = sub.add_parser("eval", help="accuracy, corruptions, point removal, relevance spread")
    checkpoint_flags(p)
    p.add_argument("--corruptions", help="modelnet-c | modelnet40-c | all | NAME,NAME,...")
    p.add_argument(
        "--deletion", action="store_true", help="MoRF / LeRF / random point-removal curves and AUCs"
    )
    p.add_argument(
        "--iterative", action="store_true", help="recompute relevance after each removal step"
    )
    p.add_argument("--attribution", action="store_true", help="relevance spread and part shares")
    p.add_argument("--method", default="lrp", help="relevance method for --deletion/--attribution")
    p.add_argument("--reference", help="run (or eval.json) whose corruption results mCE divides by")
    p.add_argument("--limit", type=int, default=0, help="evaluate a fixed random subset")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output folder (default: <run>/eval)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="two runs side by side: per-class accuracy, evaluations")
    p.add_argument("run_a", help="run folder, eval folder or JSON (the baseline)")
    p.add_argument("run_b", help="run folder, eval folder or JSON")
    p.add_argument(
        "--threshold", type=float, default=0.02, help="name classes losing more than this"
    )
    p.add_argument("--out", help="folder for compare.md, compare.json and the plots")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("explain", help="one cloud's relevance as a coloured .ply and .png")
    checkpoint_flags(p)
    p.add_argument("--index", type=int, default=0, help="test cloud index")
    p.add_argument("--method", default="lrp")
    p.add_argument("--target", choices=("label", "pred"), default="label")
    p.add_argument("--out", required=True, help="output file stem (.ply and .png)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("bench", help="what RelDrop costs per step here (about a minute)")
    p.add_argument("--model", default="pointnet")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-points", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="train without and with RelDrop on SyntheticShapes")
    p.add_argument("--out", default="demo")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--num-points", type=int, default=512)
    p.add_argument("--model", default="pointnet")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"reldrop3d {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"reldrop3d {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
