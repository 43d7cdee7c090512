"""Readers for the file formats of the point-cloud datasets.

Each reader turns one file into numpy arrays and, when the file is missing,
corrupt, truncated or malformed, raises :class:`FileNotFoundError` or
:class:`ValueError` naming the file, so a bad shard of a large dataset is
easy to find.

* :func:`read_h5`: named datasets of an HDF5 file.
* :func:`read_points_txt`: a numeric text file, one point per line.
* :func:`read_off`: an OFF triangle mesh, tolerating ModelNet's fused
  ``OFF<nv> <nf> <ne>`` header line (which open3d's reader rejects).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def read_h5(path: Path, keys: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """Read the datasets ``keys`` (all required) and ``optional`` (if present) of an HDF5 file.

    Returns:
        ``{key: array}``, in full, for every key found.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be opened or read (corrupt, truncated, not
            HDF5), or lacks one of ``keys``; the message names ``path``.
    """
    import h5py

    if not path.is_file():
        raise FileNotFoundError(f"expected the HDF5 file {path}, which does not exist")
    out: dict[str, np.ndarray] = {}
    try:
        with h5py.File(path, "r") as f:
            found = sorted(f.keys())
            for key in [*keys, *optional]:
                if key in f:
                    out[key] = f[key][()]
    except (OSError, KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"cannot read HDF5 file {path} (corrupt or truncated?): {err}") from err
    missing = [k for k in keys if k not in out]
    if missing:
        raise ValueError(
            f"HDF5 file {path} lacks the dataset(s) {missing}; expected {list(keys)}, found {found}"
        )
    return out


def read_points_txt(
    path: Path,
    columns: int,
    *,
    delimiter: str | None = None,
    max_rows: int | None = None,
) -> np.ndarray:
    """Read a numeric text file of points, one per line, into ``[n, columns]`` float32.

    Args:
        path: the file.
        columns: expected number of values per line.
        delimiter: value separator (``None``: any whitespace).
        max_rows: read at most this many lines (the rest of the file is skipped).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a table of ``columns`` numbers per line.
    """
    if not path.is_file():
        raise FileNotFoundError(f"expected the point file {path}, which does not exist")
    try:
        table = np.loadtxt(path, delimiter=delimiter, dtype=np.float32, max_rows=max_rows, ndmin=2)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot parse point file {path}: {err}") from err
    if table.shape[0] == 0 or table.shape[1] != columns:
        raise ValueError(
            f"point file {path} must hold {columns} values per line, got a table of shape "
            f"{table.shape}"
        )
    return table


def read_off(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an OFF mesh into ``(vertices [V, 3] float64, triangles [T, 3] int64)``.

    Polygons with more than three corners are fan-triangulated. Comments
    (``#``) and the fused header ``OFF<nv> <nf> <ne>`` found in ModelNet are
    accepted.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a well-formed OFF mesh.
    """
    if not path.is_file():
        raise FileNotFoundError(f"expected the OFF file {path}, which does not exist")
    try:
        lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
        lines = [ln for ln in lines if ln]
        head = lines[0]
        if not head.startswith("OFF"):
            raise ValueError(f"first line must start with 'OFF', got {head[:20]!r}")
        counts = head[3:].split()
        body = lines[1:]
        if not counts:
            counts, body = body[0].split(), body[1:]
        nv, nf = int(counts[0]), int(counts[1])
        vertices = np.array([ln.split()[:3] for ln in body[:nv]], dtype=np.float64)
        faces = [ln.split() for ln in body[nv : nv + nf]]
        if vertices.shape != (nv, 3) or len(faces) != nf:
            raise ValueError(f"header announces {nv} vertices and {nf} faces, file is shorter")
        triangles = _triangulate(faces)
    except (IndexError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot parse OFF file {path}: {err}") from err
    if triangles.size and (triangles.min() < 0 or triangles.max() >= nv):
        raise ValueError(f"OFF file {path} has face indices outside [0, {nv})")
    return vertices, triangles


def _triangulate(faces: list[list[str]]) -> np.ndarray:
    """Fan-triangulate OFF face lines ``n i0 i1 ... i_{n-1} [colour]`` into ``[T, 3]``."""
    if all(len(f) >= 4 and f[0] == "3" for f in faces):
        return np.array([f[1:4] for f in faces], dtype=np.int64).reshape(-1, 3)
    tris: list[list[int]] = []
    for f in faces:
        n = int(f[0])
        idx = [int(i) for i in f[1 : 1 + n]]
        if len(idx) != n or n < 3:
            raise ValueError(f"malformed face line {' '.join(f)!r}")
        tris.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, n - 1))
    return np.array(tris, dtype=np.int64).reshape(-1, 3)
