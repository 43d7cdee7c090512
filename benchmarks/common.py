"""What the benchmarks share: this checkout on the import path, the machine, the data,
peak memory, fresh processes, JSON out.

Importing this module puts the checkout that holds it first on ``sys.path``,
so that ``python benchmarks/<name>.py`` measures this tree's ``reldrop3d``
even where another one is installed: a script imports ``common`` before
``reldrop3d`` (isort puts it there, ``common`` sorting as a third-party
module). The timings themselves are :mod:`reldrop3d.bench`, the one
implementation, which ``reldrop3d bench`` runs too.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    """What the figures were measured on."""
    import torch_geometric

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torch_geometric": torch_geometric.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


# ---------------------------------------------------------------------------
# data: real ModelNet40 when present, else SyntheticShapes


def benchmark_data(num_points: int = 1024, split: str = "train"):
    """``(dataset, source)``: ModelNet40 (``$RELDROP3D_DATA/modelnet40_1024``) when it is
    there and holds ``num_points`` per cloud, else SyntheticShapes; ``source`` names which,
    for the JSON (on random points PointNet++'s balls are nearly empty: never time on them)."""
    from reldrop3d.data import ModelNet40, SyntheticShapes, default_data_root

    root = default_data_root() / "modelnet40_1024"
    if (root / f"{split}.h5").is_file() and num_points <= 1024:
        return ModelNet40(root, split, num_points=num_points), "modelnet40_1024"
    return SyntheticShapes(split, num_points=num_points), "synthetic"


def benchmark_clouds(num_clouds: int, num_points: int, normals=False, seed=0, data=None):
    """``(CloudList, source)``: the first ``num_clouds`` shuffled clouds of ``data``, a
    ``(dataset, source)`` pair (default: :func:`benchmark_data`'s training split).

    The h5 layout has no normals, so with ``normals=True`` the unit radial
    direction stands in for them (only the input's shape matters for speed
    and memory).
    """
    from reldrop3d.bench import CloudList

    ds, source = data or benchmark_data(num_points)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))
    clouds = [ds[i] for i in idx[:num_clouds].tolist()]
    if normals:
        for d in clouds:
            d.x = torch.nn.functional.normalize(d.pos, dim=-1)
    return CloudList(clouds, ds.num_classes), source


# ---------------------------------------------------------------------------
# timing (the trainer's steps: reldrop3d.bench), memory, fresh processes


def interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, device="cpu", warmup: int = 1, seed=0
) -> dict[str, list[float]]:
    """Seconds of each call of every function, one call each per round in a shuffled order,
    after ``warmup`` untimed calls of each: on a shared machine, load changes then fall on
    all of them alike, and their ratios are taken side by side."""
    from reldrop3d.bench import now

    for fn in fns.values():
        for _ in range(warmup):
            fn()
    order, shuffle = list(fns), random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        shuffle.shuffle(order)
        for name in order:
            start = now(device)
            fns[name]()
            times[name].append(now(device) - start)
    return times


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1, device="cpu") -> float:
    """Median wall time of ``fn`` over ``repeats`` calls after ``warmup`` untimed ones."""
    return statistics.median(interleaved({"fn": fn}, repeats, device, warmup)["fn"])


def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (``VmHWM``, ``VmRSS``) in MB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def peak_memory(device="cpu"):
    """``with peak_memory() as mem: ...``, then ``mem["peak_mb"]``: the peak resident
    memory of this process inside the block above what it held at its start, in MB.

    Resets the kernel's high-water mark on entry (Linux); elsewhere the peak
    counts from the start of the process, so run each measurement in a fresh one
    (:func:`run_child`). On a CUDA ``device`` the memory is the device's instead:
    ``torch.cuda.max_memory_allocated`` (its peak reset on entry) above what was
    allocated at entry, and ``mem["cuda_max_allocated_mb"]`` the peak itself.
    """
    if torch.device(device).type == "cuda":
        yield from _cuda_peak(torch.device(device))
        return
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    base = _status_mb("VmRSS") or _peak_rss_mb()
    mem: dict[str, float] = {}
    try:
        yield mem
    finally:
        mem["peak_mb"] = _peak_rss_mb() - base


def _cuda_peak(device: torch.device):
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    mem: dict[str, float] = {}
    try:
        yield mem
    finally:
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        mem["peak_mb"] = (peak - base) / 2**20
        mem["cuda_max_allocated_mb"] = peak / 2**20


def run_child(script: str, args: list[str], timeout: float = 1800) -> dict:
    """Run ``python script *args`` in a fresh process; it prints one JSON line last."""
    out = subprocess.run(
        [sys.executable, script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_json(name: str, payload: dict, folder: Path = RESULTS) -> Path:
    """``folder/name.json``, written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def write_result(stem: str, payload: dict, folder: Path = RESULTS, plot=None) -> Path:
    """``folder/<stem>.json``: ``payload`` after what produced it (``benchmark``: the
    script's name, ``command``, ``machine``), which ``payload`` may override; with
    ``plot``, ``plot(path)`` draws ``<stem>.png`` beside it."""
    script = Path(sys.argv[0]).stem
    head = {
        "benchmark": script,
        "command": " ".join(["python", f"benchmarks/{script}.py", *sys.argv[1:]]),
        "machine": machine(),
    }
    path = write_json(stem, {**head, **payload}, folder)
    if plot is not None:
        plot(path.with_suffix(".png"))
    print(f"wrote {path}" + (" and .png" if plot is not None else ""))
    return path


def figure(*args, **kwargs):
    """``(fig, axes)`` from matplotlib's ``subplots``, on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def save_figure(fig, path: Path, dpi: int = 120) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
