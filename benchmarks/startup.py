"""How fast the command line answers: ``reldrop3d --help`` against ``import torch``.

The command line parses its arguments before it imports torch, PyG and
zennit, so ``--help`` and argument errors should cost a fraction of what
importing torch alone costs. Each pair of commands runs in turn, in fresh
processes, and the ratio is taken pair by pair (medians of ``--repeats``).

    python benchmarks/startup.py [--repeats 7]

Writes benchmarks/results/startup.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import ROOT, write_result

COMMANDS = {
    "reldrop3d --help": [sys.executable, "-m", "reldrop3d", "--help"],
    "reldrop3d train --help": [sys.executable, "-m", "reldrop3d", "train", "--help"],
    "reldrop3d train --model resnet (an argument error)": [
        sys.executable,
        "-m",
        "reldrop3d",
        "train",
        "--model",
        "resnet",
    ],
    "python -c 'import torch'": [sys.executable, "-c", "import torch"],
}
BASE = "python -c 'import torch'"


def seconds(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    for argv in COMMANDS.values():  # warm the file cache
        seconds(argv)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeats):
        for name, argv in COMMANDS.items():
            times[name].append(seconds(argv))
    rows = {}
    for name in COMMANDS:
        ratios = [a / b for a, b in zip(times[name], times[BASE])]
        rows[name] = {
            "median_seconds": statistics.median(times[name]),
            "median_ratio_to_import_torch": statistics.median(ratios),
        }
        print(
            f"{name:55s} {rows[name]['median_seconds']:6.3f} s  "
            f"{rows[name]['median_ratio_to_import_torch']:5.2f}x import torch"
        )
    path = write_result(
        "startup",
        {
            "repeats": args.repeats,
            "results": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
