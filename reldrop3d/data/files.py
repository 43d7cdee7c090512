"""Dataset files: where they live, reading them, and caching what is derived from them.

Readers return numpy arrays and raise :class:`FileNotFoundError` or :class:`ValueError`
naming the file (and the item) when it is missing, corrupt or malformed. Caches are
written through a temporary file and :func:`os.replace`, so no reader sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


# ----------------------------------------------------------------------------- places
def repository_root() -> Path:
    """The folder that holds the ``reldrop3d`` package (the repository root in a checkout)."""
    return Path(__file__).resolve().parents[2]


def default_data_root() -> Path:
    """Folder of the real datasets (e.g. ``modelnet40_1024/``): ``$RELDROP3D_DATA`` when set,
    otherwise ``<repository>/../shared/data``; it need not exist."""
    env = os.environ.get("RELDROP3D_DATA")
    return Path(env).expanduser() if env else repository_root().parent / "shared" / "data"


def user_cache_dir(*parts: str) -> Path:
    """``$RELDROP3D_CACHE/<parts...>`` (default ``~/.cache/reldrop3d``); not created here."""
    base = os.environ.get("RELDROP3D_CACHE") or Path.home() / ".cache" / "reldrop3d"
    return Path(base).expanduser().joinpath(*parts)


def is_writable_dir(path: Path) -> bool:
    """True when ``path`` is a folder meant to be written: writable and with a write bit set
    (root passes :func:`os.access` on a read-only ``r-x`` shared folder, which stays alone)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    writable_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return stat.S_ISDIR(mode) and bool(mode & writable_bits) and os.access(path, os.W_OK)


def cached_beside(
    source: Path, name: str, key: str, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """:func:`cached_npz` of ``<key>.npz`` in ``<source>/.reldrop3d_cache`` when ``source`` is
    writable, else in ``user_cache_dir(name, <source name>-<hash of its absolute path>)``."""
    folder = source / ".reldrop3d_cache"
    if is_writable_dir(source):
        try:
            folder.mkdir(exist_ok=True)
        except OSError:
            pass
    if not is_writable_dir(folder):
        folder = user_cache_dir(name, f"{source.name}-{fingerprint(str(source.resolve()))}")
    return cached_npz(folder / f"{key}.npz", build)


def cached_npz(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` cache ``path``, or ``build()``'s, written there atomically.
    An unreadable cache is rebuilt; one that cannot be written is skipped."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        pass
    arrays, tmp = build(), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; caches are shared like any data file
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)  # already gone after os.replace
    return arrays


def fingerprint(*texts: str) -> str:
    """12 hex digits of the SHA-1 of ``texts``, to name a cache after what it was built from."""
    return hashlib.sha1("\0".join(texts).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- readers
def read_names(path: Path) -> list[str]:
    """Non-empty, stripped lines of a text file (a class-name or file list)."""
    if not path.is_file():
        raise FileNotFoundError(f"expected the file {path}, which does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the text file {path}: {err}") from err
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_h5(path: Path, keys: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """``{key: array}`` of the datasets ``keys`` (all required) and ``optional`` of an HDF5 file."""
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


def h5_clouds(
    path: Path,
    classes: Sequence[str],
    num_points: int | None,
    use_normals: bool,
    part_ranges: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Read and check one HDF5 file of clouds, keeping the first ``num_points`` of each.

    Reads ``data [M, N, 3]``, ``label [M(, 1)]`` (indices into ``classes``), ``normal
    [M, N, 3]`` if ``use_normals``, ``pid [M, N]`` part ids if ``part_ranges`` is given
    (:func:`check_parts`) and ``name [M]`` if present. Returns ``pos [M, n, 3]``, ``y [M]``
    and, where read, ``normals [M, n, 3]``, ``part [M, n]``, ``names [M]``.
    """
    parts = part_ranges is not None
    arrays = read_h5(path, ["data", "label", *(["pid"] if parts else [])], ["name", "normal"])
    data = arrays["data"]
    if data.ndim != 3 or data.shape[2] != 3:
        raise ValueError(f"'data' in {path} must have shape [M, N, 3], got {data.shape}")
    labels = arrays["label"].reshape(-1)
    if labels.shape[0] != data.shape[0]:
        raise ValueError(
            f"'label' in {path} must hold one label per cloud ({data.shape[0]}), "
            f"got {labels.shape[0]}"
        )
    n = check_enough_points(num_points, data.shape[1], path)
    out = {"pos": data[:, :n], "y": check_labels(labels, len(classes), path)}
    check_finite(out["pos"], path)
    if use_normals:
        if "normal" not in arrays:
            raise ValueError(f"use_normals=True but {path} stores no 'normal' dataset")
        out["normals"] = arrays["normal"][:, :n]
        if out["normals"].shape != out["pos"].shape:
            raise ValueError(
                f"'normal' in {path} must have shape {out['pos'].shape}, got {out['normals'].shape}"
            )
        check_finite(out["normals"], path, "normals")
    if parts:
        if arrays["pid"].shape != data.shape[:2]:
            raise ValueError(
                f"'pid' in {path} must have shape {data.shape[:2]}, got {arrays['pid'].shape}"
            )
        out["part"] = arrays["pid"][:, :n]
        check_parts(out["part"], out["y"], part_ranges, classes, path)
    if "name" in arrays:
        out["names"] = np.array(
            [s.decode() if isinstance(s, bytes) else str(s) for s in arrays["name"]]
        )
    return out


def h5_shards(
    listings: Sequence[Path],
    classes: Sequence[str],
    num_points: int | None,
    use_normals: bool,
    part_ranges: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """:func:`h5_clouds` of every shard named in the ``listings``, concatenated in order; a
    name is looked up by its base name in the folder of its listing."""
    shards = []
    for listing in listings:
        entries = read_names(listing)
        if not entries:
            raise ValueError(f"the shard list {listing} is empty; expected HDF5 file names")
        for entry in entries:
            path = listing.parent / Path(entry).name
            if not path.is_file():
                raise FileNotFoundError(
                    f"{listing} lists {entry!r}, but {path} does not exist (looked up by base name)"
                )
            shards.append(h5_clouds(path, classes, num_points, use_normals, part_ranges))
    return {key: np.concatenate([s[key] for s in shards]) for key in shards[0]}


def read_points_txt(
    path: Path, columns: int, *, delimiter: str | None = None, max_rows: int | None = None
) -> np.ndarray:
    """A numeric text file of points, one a line, as ``[n, columns]`` float32 (``delimiter=None``
    splits on whitespace; ``max_rows`` reads only the first lines)."""
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
    """An OFF mesh as ``(vertices [V, 3] float64, triangles [T, 3] int64)``; polygons are
    fan-triangulated, and ``#`` comments and ModelNet's fused header ``OFF<nv> <nf> <ne>``
    accepted."""
    if not path.is_file():
        raise FileNotFoundError(f"expected the OFF file {path}, which does not exist")
    try:
        lines = [ln.split("#", 1)[0].strip() for ln in path.read_text().splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines[0].startswith("OFF"):
            raise ValueError(f"first line must start with 'OFF', got {lines[0][:20]!r}")
        counts, body = lines[0][3:].split(), lines[1:]
        if not counts:
            counts, body = body[0].split(), body[1:]
        nv, nf = int(counts[0]), int(counts[1])
        vertices = np.array([ln.split()[:3] for ln in body[:nv]], dtype=np.float64)
        faces = [ln.split() for ln in body[nv : nv + nf]]
        if vertices.shape != (nv, 3) or len(faces) != nf:
            raise ValueError(f"header announces {nv} vertices and {nf} faces, file is shorter")
        tris: list[list[int]] = []
        for f in faces:
            n, idx = int(f[0]), [int(i) for i in f[1 : 1 + int(f[0])]]
            if len(idx) != n or n < 3:
                raise ValueError(f"malformed face line {' '.join(f)!r}")
            tris.extend([idx[0], idx[k], idx[k + 1]] for k in range(1, n - 1))
        triangles = np.array(tris, dtype=np.int64).reshape(-1, 3)
    except (IndexError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot parse OFF file {path}: {err}") from err
    if triangles.size and (triangles.min() < 0 or triangles.max() >= nv):
        raise ValueError(f"OFF file {path} has face indices outside [0, {nv})")
    return vertices, triangles


# ----------------------------------------------------------------------------- content checks
def check_enough_points(num_points: int | None, stored: int, source: Path | str) -> int:
    """Points to keep per cloud: ``num_points`` (``None``: all ``stored``), at most ``stored``."""
    if num_points is None:
        return stored
    if num_points > stored:
        raise ValueError(
            f"num_points={num_points} is larger than the {stored} points per cloud stored in "
            f"{source}; pick num_points <= {stored} (upsampling is not done by the loader)"
        )
    return num_points


def check_finite(points: np.ndarray, source: Path | str, what: str = "coordinates") -> None:
    """Raise if ``points [M, N, C]`` (one cloud an item) holds NaN or inf, naming the item."""
    finite = np.isfinite(points).reshape(points.shape[0], -1).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        more = f" (and {bad.size - 1} more items)" if bad.size > 1 else ""
        raise ValueError(
            f"non-finite (NaN or inf) {what} in {source}: item {int(bad[0])}{more}; "
            "expected finite values"
        )


def check_labels(labels: np.ndarray, num_classes: int, source: Path | str) -> np.ndarray:
    """``labels`` as int64, each checked to be an integer in ``[0, num_classes)``."""
    labels = np.asarray(labels)
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"labels in {source} must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"label out of range in {source}: item {i} has label {int(labels.flat[i])}, "
            f"expected 0 <= label < {num_classes} ({bad.size} bad items in all)"
        )
    return labels


def check_parts(
    part: np.ndarray,
    y: np.ndarray,
    part_ranges: np.ndarray,
    classes: Sequence[str],
    source: Path | str,
) -> None:
    """Raise if a part id of ``part [M, N]`` lies outside its cloud's class range, ``part_ranges
    [y[i], 0] <= part < part_ranges[y[i], 1]`` for cloud ``i`` (``part_ranges [C, 2]``)."""
    lo, hi = part_ranges[y, 0][:, None], part_ranges[y, 1][:, None]
    bad = np.argwhere((part < lo) | (part >= hi))
    if len(bad):
        i, j = bad[0]
        raise ValueError(
            f"part id out of range in {source}: item {i} (category {classes[y[i]]}) has part "
            f"id {int(part[i, j])}, expected {lo[i, 0]} <= part < {hi[i, 0]} "
            f"({len(bad)} bad points in all)"
        )
