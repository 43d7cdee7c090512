"""SyntheticShapes: determinism, splits, part labels, normalisation and the on-disk cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reldrop3d.data import SyntheticShapes
from reldrop3d.data.surface import allocate
from reldrop3d.data.synthetic import SHAPES, dataset, generate

SMALL = {"num_points": 96, "samples_per_class": 2}


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    return SyntheticShapes("train", **SMALL, root=tmp_path_factory.mktemp("synthetic"))


def test_classes_parts_and_shapes(train):
    assert train.num_classes == len(SHAPES) >= 8
    assert len(train) == 2 * train.num_classes
    assert train.up_axis == 2
    assert len(train.part_names) == train.num_parts == sum(len(s.parts) for s in SHAPES)
    assert train.class_parts["table"] == (0, 1, 2)
    assert train.part_names[:3] == ["table/top", "table/leg", "table/shelf"]
    for i in range(len(train)):
        item = train[i]
        assert item.pos.shape == (96, 3) and item.pos.dtype == torch.float32
        assert item.part.shape == (96,) and item.part.dtype == torch.long
        assert set(item.part.tolist()) <= set(train.class_parts[train.classes[item.y.item()]])
        assert "x" not in item


def test_unit_sphere(train):
    pos = train.pos.view(len(train), 96, 3)
    centroid = pos.mean(dim=1)
    radius = (pos - centroid[:, None]).norm(dim=-1).amax(dim=1)
    assert centroid.abs().max() < 1e-5
    assert torch.allclose(radius, torch.ones_like(radius), atol=1e-5)


def test_the_parts_of_a_chair_are_present(train):
    chair = train.classes.index("chair")
    seat, leg, back, _arm = train.class_parts["chair"]
    for i in (train.y == chair).nonzero().flatten().tolist():
        assert {seat, leg, back} <= set(train[i].part.tolist())


def test_deterministic_and_seeded(train, tmp_path):
    same = SyntheticShapes("train", **SMALL, root=tmp_path / "a")
    assert torch.equal(same.pos, train.pos) and torch.equal(same.part, train.part)
    other_seed = SyntheticShapes("train", **SMALL, seed=1, root=tmp_path / "a")
    assert not torch.allclose(other_seed.pos, train.pos)
    test = SyntheticShapes("test", **SMALL, root=tmp_path / "a")
    assert torch.equal(test.y, train.y) and not torch.allclose(test.pos, train.pos)
    assert len(list((tmp_path / "a").glob("*.npz"))) == 3


def test_cache_is_reused(tmp_path, monkeypatch):
    first = SyntheticShapes("val", num_points=32, samples_per_class=1, root=tmp_path)
    (cache,) = tmp_path.glob("*.npz")
    assert cache == first.cache_path and "val_n32_s1_seed0" in cache.name

    def fail(*args, **kwargs):
        raise AssertionError("generate_split must not run when the cache exists")

    monkeypatch.setattr(generate, "generate_split", fail)
    again = SyntheticShapes("val", num_points=32, samples_per_class=1, root=tmp_path)
    assert torch.equal(again.pos, first.pos)
    assert not list(tmp_path.glob("*.tmp"))


def test_normals_are_unit_and_transform_applies(tmp_path):
    ds = SyntheticShapes(
        "test",
        num_points=64,
        samples_per_class=1,
        root=tmp_path,
        use_normals=True,
        transform=lambda d: d.update({"flag": torch.ones(1)}),
    )
    item = ds[0]
    assert item.x.shape == (64, 3) and "flag" in item
    assert torch.allclose(item.x.norm(dim=1), torch.ones(64), atol=1e-5)


def test_defaults(monkeypatch, tmp_path):
    assert dataset.DEFAULT_SAMPLES_PER_CLASS["train"] == 100
    assert dataset.DEFAULT_SAMPLES_PER_CLASS["test"] == 25
    root = dataset.default_synthetic_root()
    assert root.name == "synthetic"
    monkeypatch.setattr(dataset, "is_writable_dir", lambda path: False)
    monkeypatch.setenv("RELDROP3D_CACHE", str(tmp_path))
    assert dataset.default_synthetic_root() == tmp_path / "synthetic"


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        SyntheticShapes("trainval", root=tmp_path)
    with pytest.raises(ValueError, match="samples_per_class.*0"):
        SyntheticShapes(samples_per_class=0, root=tmp_path)
    with pytest.raises(ValueError, match="seed.*-1"):
        SyntheticShapes(seed=-1, root=tmp_path)
    with pytest.raises(TypeError, match="num_points"):
        SyntheticShapes(num_points=None, root=tmp_path)


def test_allocate_is_exact():
    counts = allocate(np.array([1.0, 1.0, 2.0, 1e-3]), 10)
    assert counts.sum() == 10 and counts.tolist()[2] == 5
    assert allocate(np.array([3.0]), 7).tolist() == [7]


@pytest.mark.parametrize(
    "decoy, digest",
    [
        (None, "0f77d4fcf2d4636170bd3a04a5ee5a2a88f78702196f5c8722b0be6ed665c775"),
        ("swap", "f8147f955e5ee97c6398e7491b138d5a5ef91d7cc99aa4fa212c70a280294728"),
    ],
)
def test_generation_is_pinned(decoy, digest):
    """Caches are named by VERSION: generation must not change unless VERSION is bumped."""
    import hashlib

    arrays = generate.generate_split("train", 96, 2, 0, progress=False, decoy=decoy)
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(arrays[key].tobytes())
    assert (h.hexdigest(), dataset.VERSION) == (digest, 1)
