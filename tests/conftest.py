"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from reldrop3d.data import default_data_root


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder of the real datasets: ``$RELDROP3D_DATA`` or ``../shared/data``."""
    return default_data_root()


@pytest.fixture(scope="session")
def modelnet40_root(data_root: Path) -> Path:
    """``<data_root>/modelnet40_1024``; skips the test when the real data is missing."""
    root = data_root / "modelnet40_1024"
    if not (root / "train.h5").is_file():
        pytest.skip(f"real ModelNet40 not found at {root}; set RELDROP3D_DATA")
    return root


@pytest.fixture(scope="module")
def one_thread():
    """Small tensors: one thread is faster than two on the shared 2-core CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
