"""``reldrop3d train``: one flag per :class:`~reldrop3d.train.TrainConfig` key, resume rules."""

from __future__ import annotations

import argparse
import os
import sys

from reldrop3d.cli._args import UserError, device_name
from reldrop3d.names import (
    DROP_MODES,
    FILLS,
    GUIDANCE_LOSSES,
    GUIDANCE_METHODS,
    LRP_SEEDS,
    MODELS,
    RELEVANCE_METHODS,
)

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


def add(sub) -> None:
    """The ``train`` sub-command."""
    from reldrop3d.train.config import RESUMABLE

    p = sub.add_parser("train", help="train a classifier with RelDrop (or a baseline)")
    p.add_argument("--config", help="TOML file with the same keys as the flags (flags win)")
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
