"""benchmarks/gpu.sh: valid bash, and without CUDA one line, exit 2 and no file written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"
BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="needs bash")


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


@needs_bash
def test_gpu_script_is_valid_bash():
    out = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


@needs_bash
def test_gpu_script_without_cuda_fails_cleanly(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device: gpu.sh would run its 10 minutes of checks")
    results = tmp_path / "results" / "gpu"
    repo_results = ROOT / "benchmarks" / "results"
    before = tree(repo_results)
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "RELDROP3D_GPU_RESULTS": str(results),
        "CUDA_VISIBLE_DEVICES": "",
    }
    out = subprocess.run(  # from another folder: the script finds the repository itself
        [BASH, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("gpu.sh: error: no CUDA device here ("), lines[0]
    assert out.stdout == ""
    assert tree(tmp_path) == [], "gpu.sh wrote files without a GPU"
    assert tree(repo_results) == before
