"""What every command shares: the one-line error, argument types, device and folder checks.

Nothing here imports torch at module level: arguments are parsed (and
refused) before the stack loads.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path


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
