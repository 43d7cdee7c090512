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


def cmd_bench(args) -> int:
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
