"""Command line: ``reldrop3d info | train | eval | compare | explain | bench | demo``.

Each sub-command is a thin layer over the library. Arguments are parsed
before torch is imported, so ``--help`` and argument errors come back at
once. User and environment errors (bad options, missing or damaged files, a
folder that cannot be written, a device that is not there) print one line,
``reldrop3d: error: ...``, and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from reldrop3d.names import (
    DROP_MODES,
    FILLS,
    GUIDANCE_LOSSES,
    GUIDANCE_METHODS,
    LRP_SEEDS,
    MODELS,
    RELEVANCE_METHODS,
)


class UserError(Exception):
    """An error in what the user asked for: printed as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors on one line in the form of every other error."""

    def error(self, message: str):
        self.exit(2, f"reldrop3d: error: {message} (see {self.prog} --help)\n")


def device_name(value: str) -> str:
    """``--device``: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (checked before torch loads)."""
    from reldrop3d.train.config import DEVICE_PATTERN

    if not re.fullmatch(DEVICE_PATTERN, value):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {value!r}")
    return value


def check_device(name: str) -> None:
    """Raise :class:`UserError` if the device ``name`` is not on this machine."""
    import torch

    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            raise UserError(f"--device {name}: this machine has {count} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name}: MPS is not available on this machine")


def count(value: str) -> int:
    """A non-negative integer argument."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {n}")
    return n


def positive(value: str) -> int:
    """A positive integer argument."""
    n = count(value)
    if n == 0:
        raise argparse.ArgumentTypeError("expected a number >= 1, got 0")
    return n


def output_folder(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder results can be written to; :class:`UserError` if it cannot be."""
    from reldrop3d._outputs import check_output_folder

    try:
        return check_output_folder(path)
    except ValueError as e:
        raise UserError(f"{flag}: {e}") from None


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
    "model": " | ".join(MODELS),
    "augment": "point dropout: reldrop | reldrop-rate (as many points as RelDrop drops in "
    "each cloud, chosen at random: the control for which points) | random | none",
    "alpha": "RelDrop randomness in [0, 1]",
    "beta": "RelDrop drop ratio in [0, 1]",
    "mode": "RelDrop rule: " + " | ".join(DROP_MODES),
    "fill": "what dropped points become: " + " | ".join(FILLS),
    "min_points": "points every cloud keeps",
    "max_ratio": "largest drop ratio of --augment random",
    "relevance": " | ".join(RELEVANCE_METHODS),
    "relevance_seed": "LRP seed: " + " | ".join(LRP_SEEDS) + " (logit: relevance sums to the "
    "true-class logit; one: to 1, as published)",
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
    "device": "cpu | cuda | cuda:N | mps",
    "out": "run folder",
    "eval_batch_size": "clouds per evaluation batch",
    "test_every": "evaluate on the test split every K epochs and after the last (0: after the "
    "last only); it only monitors, nothing is chosen on it",
    "samples_per_class": "SyntheticShapes size (0: its default)",
    "train_fraction": "train on a class-stratified share of the training split (at least one "
    "cloud per class), fixed by --seed",
    "val_fraction": "hold out this stratified share of the training clouds for validation; "
    "best.pt is the epoch of best validation accuracy (0: no validation, no best.pt)",
    "guidance": "explanation guidance loss: none | "
    + " | ".join(GUIDANCE_LOSSES)
    + " (needs masks: --data synthetic-decoy)",
    "guidance_lambda": "weight of the guidance loss added to the cross-entropy",
    "guidance_method": "attribution the guidance loss sees: " + " | ".join(GUIDANCE_METHODS),
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
            kind = device_name if key == "device" else type(default)
            p.add_argument(flag, dest=key, type=kind, default=None, help=text)


def given_train_values(args: argparse.Namespace) -> dict:
    """The settings the user gave: the ``--config`` file's keys, then the flags set."""
    from reldrop3d.train.config import read_toml

    values = read_toml(args.config) if args.config else {}
    values.update({k: getattr(args, k) for k in TRAIN_HELP if getattr(args, k) is not None})
    if "scale" in values:
        values["scale"] = list(values["scale"])
    return values


def resolve_train_config(args: argparse.Namespace):
    """Defaults, then the --config file, then the flags given on the command line.

    With ``--resume``: the saved run's configuration, where only the keys in
    ``RESUMABLE`` may take new values; any other given value that differs from
    the saved one is an error naming it. The run folder is always ``--out``.
    """
    from reldrop3d.train.config import RESUMABLE, ConfigError, TrainConfig, resume_conflicts

    try:
        given = given_train_values(args)
        if not args.resume:
            return TrainConfig.from_dict(given, source=args.config or "flags").validate()
        from reldrop3d.train import CheckpointError
        from reldrop3d.train.checkpoint import load_checkpoint
        from reldrop3d.train.trainer import RESUME_KEYS

        out = given.get("out", TrainConfig.out)
        try:
            saved = load_checkpoint(f"{out}/last.pt", required=RESUME_KEYS)["config"]
        except CheckpointError as e:
            raise UserError(f"--resume: {e}") from None
        conflicts = resume_conflicts(saved, given)
        if conflicts:
            key, old, new = conflicts[0]
            raise UserError(
                f"--{key.replace('_', '-')} {new!r} differs from the run in {out}, which was "
                f"trained with {old!r}; on --resume only --"
                + ", --".join(k.replace("_", "-") for k in RESUMABLE)
                + " may change"
            )
        known = set(TrainConfig.keys())
        values = {k: v for k, v in saved.items() if k in known}
        values.update(given)
        values["out"] = out
        return TrainConfig.from_dict(values, source=f"{out}/last.pt").validate()
    except ConfigError as e:
        raise UserError(str(e)) from None
    except TypeError as e:
        raise UserError(f"bad value in {args.config or 'flags'}: {e}") from None


def cmd_train(args: argparse.Namespace) -> int:
    """Train a model; see ``reldrop3d train --help``."""
    cfg = resolve_train_config(args)
    from reldrop3d.train import CheckpointError, ConfigError, Interrupted, Trainer, TrainingError

    try:
        trainer = Trainer(cfg, resume=args.resume, overwrite=args.overwrite)
    except (ConfigError, CheckpointError, ValueError, OSError) as e:
        # bad data files, a folder that holds a run, a device that is not there
        raise UserError(str(e)) from None
    try:
        summary = trainer.fit()
    except (CheckpointError, OSError) as e:
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
    best, last = summary["best"], summary["last"]
    if os.environ.get("RANK", "0") != "0":  # under torchrun, rank 0 reports
        return 0
    chosen = (
        f"; best validation OA {best['val_oa']:.4f} at epoch {best['epoch']} (best.pt)"
        if best["epoch"] > 0
        else ""
    )
    print(
        f"done: {summary['epochs']} epochs, test OA {last['test_oa']:.4f} after the last"
        f"{chosen}; files in {summary['out']}"
    )
    return 0


def _checkpoint_and_data(args):
    """The model of ``--checkpoint`` and the test split of ``--data`` (default: the run's data).

    Only the test split is read, so a folder that holds nothing else serves.
    """
    check_device(args.device)
    from reldrop3d.train import CheckpointError, ConfigError, TrainConfig
    from reldrop3d.train.checkpoint import model_from_checkpoint
    from reldrop3d.train.datasets import build_split

    try:
        model, state = model_from_checkpoint(args.checkpoint, args.device)
        saved = state["config"]
        cfg = TrainConfig.from_dict({k: v for k, v in saved.items() if k in TrainConfig.keys()})
        if args.data:
            cfg.data = args.data
        test = build_split(cfg.validate(), "test")
    except (CheckpointError, ConfigError, ValueError, OSError) as e:
        raise UserError(str(e)) from None
    if test.num_classes != state["num_classes"]:
        raise UserError(
            f"checkpoint {args.checkpoint} has {state['num_classes']} classes but "
            f"data {cfg.data!r} has {test.num_classes}"
        )
    return model, state, cfg, test


def cmd_eval(args: argparse.Namespace) -> int:
    """Accuracy, corruption robustness, point-removal curves and relevance spread."""
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent / "eval"
    output_folder(out)
    model, state, cfg, test = _checkpoint_and_data(args)
    from reldrop3d.evaluate.run import evaluate_checkpoint, load_reference, test_subset

    reference = None
    if args.reference:
        try:
            reference = load_reference(args.reference)
        except (FileNotFoundError, ValueError) as e:
            raise UserError(str(e)) from None
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
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None
    print(result["markdown"])
    rows = [(n, r) for n, r in result["clean"]["per_class"].items() if r["count"] > 0]
    print("| class | accuracy | correct / count |\n|---|---|---|")
    for name, row in rows:
        print(f"| {name} | {row['accuracy']:.3f} | {row['correct']} / {row['count']} |")
    print(f"wrote {out}/eval.json, eval.md and plots")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Per-class accuracy differences between two runs, and the classes that lose."""
    if args.out:
        output_folder(args.out)
    from reldrop3d.evaluate.compare import compare_runs

    try:
        result = compare_runs(args.run_a, args.run_b, args.threshold, args.out)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise UserError(str(e)) from None
    print(result["markdown"])
    if args.out:
        print(f"wrote {args.out}/compare.md, compare.json and {len(result['plots'])} plot(s)")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Relevance of one test cloud as colours: a .ply and a .png."""
    output_folder(Path(args.out).parent, "--out (its folder)")
    model, _, _, test = _checkpoint_and_data(args)
    if not 0 <= args.index < len(test):
        raise UserError(f"--index must be in [0, {len(test)}), got {args.index}")
    from torch_geometric.data import Batch

    from reldrop3d.relevance import point_relevance
    from reldrop3d.relevance.render import save_relevance_cloud

    data = Batch.from_data_list([test[args.index]]).to(args.device)
    target = None if args.target == "label" else "pred"
    relevance = point_relevance(model, data, target=target, method=args.method)
    name = test.classes[int(data.y)]
    try:
        ply, png = save_relevance_cloud(
            data.pos, relevance, args.out, title=f"{args.method} relevance: {name} #{args.index}"
        )
    except OSError as e:
        raise UserError(f"--out {args.out}: {e.strerror or e}") from None
    print(f"wrote {ply} and {png}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Train without and with RelDrop on SyntheticShapes and compare them."""
    output_folder(args.out)
    check_device(args.device)
    from reldrop3d.demo import run_demo
    from reldrop3d.train import CheckpointError, ConfigError

    try:
        result = run_demo(
            args.out,
            epochs=args.epochs,
            num_points=args.num_points,
            model=args.model,
            seed=args.seed,
            device=args.device,
        )
    except (ConfigError, CheckpointError) as e:
        raise UserError(f"{e} (the demo continues the runs in --out {args.out})") from None
    print((Path(result["out"]) / "report.md").read_text())
    print(f"wrote {result['out']}/report.md and its plots")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """A quick measurement of what RelDrop costs per step on this machine."""
    check_device(args.device)
    from reldrop3d.bench import run_bench

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
    parser = ArgumentParser(
        prog="reldrop3d",
        description="Relevance-driven Input Dropout for 3D point-cloud classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("info", help="versions, devices and visible datasets")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("train", help="train a classifier with RelDrop (or a baseline)")
    p.add_argument("--config", help="TOML file with the same keys as the flags (flags win)")
    from reldrop3d.train.config import RESUMABLE

    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last.pt up to --epochs; the run's own "
        "settings apply, and only "
        + ", ".join("--" + k.replace("_", "-") for k in RESUMABLE)
        + " may differ from them",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start afresh in an --out that already holds a run, deleting its files",
    )
    add_train_flags(p)
    p.set_defaults(func=cmd_train)

    def checkpoint_flags(p):
        p.add_argument("--checkpoint", required=True, help="a run's last.pt or best.pt")
        p.add_argument("--data", help="data to evaluate on (default: the run's own)")
        p.add_argument("--device", type=device_name, default="cpu", help="cpu | cuda[:N] | mps")

    p = sub.add_parser("eval", help="accuracy, corruptions, point removal, relevance spread")
    checkpoint_flags(p)
    p.add_argument(
        "--corruptions",
        help="modelnet-c | modelnet40-c | all | NAME,NAME,... (generated), or modelnet-c:PATH "
        "(the official ModelNet-C files: PATH/clean.h5 and PATH/<corruption>_<level>.h5)",
    )
    p.add_argument(
        "--deletion", action="store_true", help="MoRF / LeRF / random point-removal curves and AUCs"
    )
    p.add_argument(
        "--iterative", action="store_true", help="recompute relevance after each removal step"
    )
    p.add_argument("--attribution", action="store_true", help="relevance spread and part shares")
    p.add_argument(
        "--method",
        choices=RELEVANCE_METHODS,
        default="lrp",
        help="relevance method for --deletion/--attribution",
    )
    p.add_argument("--reference", help="run (or eval.json) whose corruption results mCE divides by")
    p.add_argument(
        "--limit", type=count, default=0, help="evaluate a fixed random subset of N clouds (0: all)"
    )
    p.add_argument("--batch-size", type=positive, default=32)
    p.add_argument("--seed", type=count, default=0)
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
    p.add_argument("--index", type=count, default=0, help="test cloud index")
    p.add_argument("--method", choices=RELEVANCE_METHODS, default="lrp")
    p.add_argument("--target", choices=("label", "pred"), default="label")
    p.add_argument("--out", required=True, help="output file stem (.ply and .png)")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("bench", help="what RelDrop costs per step here (about a minute)")
    p.add_argument("--model", choices=MODELS, default="pointnet")
    p.add_argument("--batch-size", type=positive, default=32)
    p.add_argument("--num-points", type=positive, default=1024)
    p.add_argument("--device", type=device_name, default="cpu")
    p.add_argument("--repeats", type=positive, default=3)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="train without and with RelDrop on SyntheticShapes")
    p.add_argument("--out", default="demo")
    p.add_argument("--epochs", type=positive, default=8)
    p.add_argument("--num-points", type=positive, default=512)
    p.add_argument("--model", choices=MODELS, default="pointnet")
    p.add_argument("--seed", type=count, default=0)
    p.add_argument("--device", type=device_name, default="cpu")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"reldrop3d: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"reldrop3d: {args.command} interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
