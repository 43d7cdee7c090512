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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reldrop3d",
        description="Relevance-driven Input Dropout for 3D point-cloud classifiers.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("info", help="versions, devices and visible datasets")
    p.set_defaults(func=cmd_info)
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
