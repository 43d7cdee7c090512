"""Command line: ``reldrop3d info | train | eval | compare | explain | bench | demo``.

Each sub-command is a thin layer over the library, in a module of its own
(:mod:`.train`, :mod:`.evaluate` for ``eval`` and ``explain``, :mod:`.compare`,
:mod:`.demo`). Arguments are parsed before torch is imported, so ``--help``
and argument errors come back at once. User and environment errors (bad
options, missing or damaged files, a folder that cannot be written, a device
that is not there) print one line, ``reldrop3d: error: ...``, and exit with
status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reldrop3d.cli import compare, demo, evaluate, train
from reldrop3d.cli._args import ArgumentParser, UserError, check_device, device_name, positive
from reldrop3d.names import MODELS

__all__ = ["UserError", "build_parser", "main"]


def cmd_info(args) -> int:
    """Versions, devices, and the datasets this machine can see."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from reldrop3d import __version__
    from reldrop3d.data import default_data_root

    print(f"reldrop3d {__version__}, python {platform.python_version()}, {platform.machine()}")
    for name in ("torch", "torch_geometric", "torch_scatter", "zennit", "open3d"):
        try:
            print(f"{name} {version(name.replace('_', '-'))}")
        except PackageNotFoundError:
            print(f"{name} missing")
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    print(
        f"devices: cpu ({torch.get_num_threads()} torch threads){f', {cuda} cuda' if cuda else ''}"
    )
    root = default_data_root()
    found = (root / "modelnet40_1024" / "train.h5").exists()
    print(f"data root (RELDROP3D_DATA): {root}")
    print(f"  modelnet40_1024: {'found' if found else 'not found'}")
    print("  synthetic: built on first use (reldrop3d.data.SyntheticShapes)")
    return 0


def cmd_bench(args) -> int:
    """A quick measurement of what RelDrop costs per step on this machine."""
    check_device(args.device)
    from reldrop3d.bench import run_bench

    r = run_bench(args.model, args.batch_size, args.num_points, args.device, args.repeats)
    print(f"{r['model']}, {r['batch_size']} x {r['num_points']} points on {r['device']}:")
    print(f"  plain training step  {r['plain_step']:8.3f} s")
    print(f"  LRP relevance        {r['relevance']:8.3f} s  ({r['relevance_over_step']:.2f}x)")
    print(f"  RelDrop dropper      {r['drop'] * 1e3:8.3f} ms ({100 * r['drop_over_step']:.2f}%)")
    print(
        f"  full RelDrop step    {r['reldrop_step']:8.3f} s  ({r['reldrop_step_over_step']:.2f}x)"
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
    train.add(sub)
    evaluate.add(sub)
    compare.add(sub)
    p = sub.add_parser("bench", help="what RelDrop costs per step here (about a minute)")
    p.add_argument("--model", choices=MODELS, default="pointnet")
    p.add_argument("--batch-size", type=positive, default=32)
    p.add_argument("--num-points", type=positive, default=1024)
    p.add_argument("--device", type=device_name, default="cpu")
    p.add_argument("--repeats", type=positive, default=3)
    p.set_defaults(func=cmd_bench)
    demo.add(sub)
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
