"""Argument and content checks shared by the dataset loaders.

Every check raises a :class:`ValueError` or :class:`TypeError` whose message
names the argument (or the file), the expected value and the value received.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def check_split(split: str, allowed: Sequence[str]) -> str:
    """Return ``split`` if it is one of ``allowed``."""
    if not isinstance(split, str) or split not in allowed:
        raise ValueError(f"split must be one of {tuple(allowed)}, got {split!r}")
    return split


def check_num_points(num_points: int | None, *, allow_none: bool = True) -> int | None:
    """Return ``num_points`` if it is a positive int (or ``None`` when allowed)."""
    if num_points is None and allow_none:
        return None
    if isinstance(num_points, bool) or not isinstance(num_points, (int, np.integer)):
        expected = "a positive int or None" if allow_none else "a positive int"
        raise TypeError(f"num_points must be {expected}, got {type(num_points).__name__}")
    if num_points < 1:
        raise ValueError(f"num_points must be a positive int, got {num_points}")
    return int(num_points)


def check_transform(transform: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """Return ``transform`` if it is callable or ``None``."""
    if transform is not None and not callable(transform):
        raise TypeError(
            f"transform must be a callable Data -> Data or None, got {type(transform).__name__}"
        )
    return transform


def check_enough_points(num_points: int | None, stored: int, source: Path | str) -> int:
    """Number of points to keep per cloud: ``num_points`` (or all) if ``stored`` allows it."""
    if num_points is None:
        return stored
    if num_points > stored:
        raise ValueError(
            f"num_points={num_points} is larger than the {stored} points per cloud stored in "
            f"{source}; pick num_points <= {stored} (upsampling is not done by the loader)"
        )
    return num_points


def check_finite(points: np.ndarray, source: Path | str, what: str = "coordinates") -> None:
    """Raise if ``points`` (``[M, N, C]``, one cloud per item) holds NaN or inf.

    The message names ``source`` (the file) and the first offending item index.
    """
    finite = np.isfinite(points).reshape(points.shape[0], -1).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        more = f" (and {bad.size - 1} more items)" if bad.size > 1 else ""
        raise ValueError(
            f"non-finite (NaN or inf) {what} in {source}: item {int(bad[0])}{more}; "
            "expected finite values"
        )


def check_labels(
    labels: np.ndarray, num_classes: int, source: Path | str, what: str = "label"
) -> np.ndarray:
    """Return ``labels`` as int64 after checking each lies in ``[0, num_classes)``."""
    labels = np.asarray(labels)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{what}s in {source} must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{what} out of range in {source}: item {i} has {what} {int(labels.flat[i])}, "
            f"expected 0 <= {what} < {num_classes} ({bad.size} bad items in all)"
        )
    return labels


def read_names(path: Path) -> list[str]:
    """Non-empty, stripped lines of a text file (a class-name or file list)."""
    if not path.is_file():
        raise FileNotFoundError(f"expected the file {path}, which does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the text file {path}: {err}") from err
    return [line.strip() for line in text.splitlines() if line.strip()]
