"""Command line: ``reldrop3d info | train | eval | explain | demo | compare | bench``.

Each sub-command is a thin layer over the library; user errors (bad
options, missing files) print one line and exit with status 2, without a
traceback.
"""

from __future__ import annotations

import argparse
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
    "data": "synthetic | modelnet40[:PATH] | shapenet[:PATH]",
    "model": "pointnet | pointnet2 | pointnet2-msg | dgcnn",
    "augment": "point dropout: reldrop | random | none",
    "alpha": "RelDrop randomness in [0, 1]",
    "beta": "RelDrop drop ratio in [0, 1]",
    "mode": "RelDrop rule: threshold | topk | sample",
    "fill": "what dropped points become: remove | zero | first",
    "min_points": "points every cloud keeps",
    "max_ratio": "largest drop ratio of --augment random",
    "relevance": "lrp | gradient | input_x_gradient | saliency_map | feature_norm | random",
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
            p.add_argument(flag, dest=key, action=argparse.BooleanOptionalAction, default=None,
                           help=text)
        elif isinstance(default, list):
            p.add_argument(flag, dest=key, type=float, nargs=2, default=None, help=text,
                           metavar=("LOW", "HIGH"))
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
        print(f"reldrop3d train: {e}; saved {cfg.out}/last.pt (continue with --resume)",
              file=sys.stderr)
        return 130
    best = summary["best"]
    print(f"done: {summary['epochs']} epochs, best test OA {best['test_oa']:.4f} "
          f"(epoch {best['epoch']}), files in {summary['out']}")
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
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.pt up to --epochs")
    add_train_flags(p)
    p.set_defaults(func=cmd_train)
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
