"""Where results go: a folder that is a folder and can be written, checked before any work."""

from __future__ import annotations

import os
from pathlib import Path


def check_output_folder(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is, or can become, a writable folder.

    Raises ``ValueError`` naming the path when it is a file, when a parent of
    it is a file, or when the nearest existing folder above it cannot be
    written. Creates nothing.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{path} cannot be a folder: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{path} cannot be written: {existing} is not writable")
    return path
