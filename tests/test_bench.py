"""reldrop3d.bench: the timings behind ``reldrop3d bench`` and ``benchmarks/step_cost.py``."""

import importlib
from pathlib import Path

import pytest

from reldrop3d.bench import CloudList, step_trainer, time_phases, time_steps
from reldrop3d.data import SyntheticShapes, random_subset

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def shapes(count: int, num_points: int = 48) -> CloudList:
    data = SyntheticShapes("train", num_points, samples_per_class=3)
    return CloudList(random_subset(data, count), data.num_classes)


def test_reldrop5_is_timed_in_the_epoch_after_the_one_that_fills_the_cache(tmp_path):
    clouds = shapes(20)
    trainer, batches, epoch = step_trainer("pointnet", "reldrop5", clouds, 4, tmp_path / "run")
    assert epoch == 1 and len(batches) == 5
    r = time_steps(trainer, batches, epoch)
    assert r["steps_timed"] == 5 and 0 < r["share_explained"] < 1
    assert not (tmp_path / "run").exists()  # out is checked, never written


def test_the_other_modes_warm_up_on_the_first_batch_and_time_the_phases(tmp_path):
    clouds = shapes(12)
    trainer, batches, epoch = step_trainer("pointnet", "reldrop1", clouds, 4, tmp_path)
    assert epoch == 0 and len(batches) == 2
    assert "share_explained" not in time_steps(trainer, batches, epoch)
    phases = time_phases(trainer, batches, drop_repeats=2)
    assert phases["relevance"] > 0 and phases["drop"] > 0
    assert 32 <= phases["points_after_drop"] <= 48  # min_points 32 of 48


@pytest.mark.parametrize(
    "script", sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "common")
)
def test_every_benchmark_script_imports(script, monkeypatch):
    """A benchmark imports what it times from the package; a renamed helper breaks it here."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module(script)
    assert callable(module.main)
