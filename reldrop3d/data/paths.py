"""Where datasets and caches live, and how cache files are written.

* :func:`default_data_root`: the folder holding the real datasets, from the
  environment variable ``RELDROP3D_DATA`` (default ``../shared/data`` next to
  the repository).
* :func:`user_cache_dir`: ``$RELDROP3D_CACHE`` or ``~/.cache/reldrop3d``, the
  fallback for caches that cannot live next to their data.
* :func:`is_writable_dir` and :func:`atomic_save_npz`: caches are only written
  into folders that are meant to be written (not merely writable by root),
  and always through a temporary file and :func:`os.replace`, so a reader
  never sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

ENV_DATA = "RELDROP3D_DATA"
ENV_CACHE = "RELDROP3D_CACHE"


def repository_root() -> Path:
    """The folder that holds the ``reldrop3d`` package (the repository root in a checkout)."""
    import reldrop3d

    return Path(reldrop3d.__file__).resolve().parents[1]


def default_data_root() -> Path:
    """Folder holding the real datasets (e.g. ``modelnet40_1024/``).

    ``$RELDROP3D_DATA`` when set, otherwise ``<repository>/../shared/data``.
    The folder need not exist; loaders raise :class:`FileNotFoundError` when
    they are pointed at a missing one.
    """
    env = os.environ.get(ENV_DATA)
    if env:
        return Path(env).expanduser()
    return repository_root().parent / "shared" / "data"


def user_cache_dir(*parts: str) -> Path:
    """``$RELDROP3D_CACHE/<parts...>`` (default ``~/.cache/reldrop3d``); not created here."""
    base = os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "reldrop3d"
    return Path(base).expanduser().joinpath(*parts)


def is_writable_dir(path: Path) -> bool:
    """True when ``path`` is a folder that is meant to be written.

    Besides :func:`os.access`, at least one write bit must be set: root passes
    ``os.access`` on a read-only (``r-x``) shared folder, which must still be
    left alone.
    """
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    writable_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return stat.S_ISDIR(mode) and bool(mode & writable_bits) and os.access(path, os.W_OK)


def ensure_writable_dir(path: Path) -> bool:
    """Create ``path`` (with parents) if needed; True when it can then be written."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return is_writable_dir(path)


def cache_dir_for(source: Path, name: str) -> Path:
    """A writable cache folder for data derived from the read-only-or-not folder ``source``.

    ``<source>/.reldrop3d_cache`` when ``source`` is writable, otherwise
    ``user_cache_dir(name, <hash of source's absolute path>)``. Created here.
    """
    local = source / ".reldrop3d_cache"
    if is_writable_dir(source) and ensure_writable_dir(local):
        return local
    digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:12]
    fallback = user_cache_dir(name, f"{source.name}-{digest}")
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def atomic_save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (``.npz``) via a temporary file and :func:`os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; caches are shared like any data file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_npz(path: Path) -> dict[str, np.ndarray] | None:
    """Read a cache written by :func:`atomic_save_npz`; ``None`` when absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None


def cached_npz(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Load the ``.npz`` cache ``path``, or ``build()`` the arrays and write it atomically.

    A cache that cannot be written (read-only disk) is skipped: it only costs time.
    """
    arrays = load_npz(path)
    if arrays is None:
        arrays = build()
        try:
            atomic_save_npz(path, arrays)
        except OSError:
            pass
    return arrays
