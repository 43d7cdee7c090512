"""SyntheticShapes with a decoy: determinism, the shortcut in train and not in test, masks."""

from __future__ import annotations

import pytest
import torch

from reldrop3d.data import SyntheticShapes
from reldrop3d.data.synthetic import generate
from reldrop3d.data.synthetic.generate import (
    DECOY_DISTANCE,
    DECOY_JITTER,
    DECOY_RADIUS,
    decoy_centres,
    decoy_points,
)
from reldrop3d.train import ConfigError, TrainConfig
from reldrop3d.train.datasets import build_split

N, SPC = 96, 3


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("decoy")


@pytest.fixture(scope="module")
def splits(root):
    return {
        "train": SyntheticShapes("train", N, SPC, root=root, decoy=True),
        "test": SyntheticShapes("test", N, SPC, root=root, decoy=True),
        "random": SyntheticShapes("test", N, SPC, root=root, decoy="random"),
    }


def decoy_centroids(ds: SyntheticShapes) -> torch.Tensor:
    """``[M, 3]``: the mean of each cloud's decoy points."""
    pos = ds.pos.view(len(ds), N, 3)
    on = (ds.part.view(len(ds), N) == ds.decoy_part).unsqueeze(-1)
    return (pos * on).sum(1) / on.sum(1)


def nearest_class(points: torch.Tensor, num_classes: int) -> torch.Tensor:
    centres = torch.from_numpy(decoy_centres(num_classes)).float()
    return torch.cdist(points, centres).argmin(1)


def test_modes_per_split(splits):
    assert splits["train"].decoy == "class" and splits["test"].decoy == "swap"
    assert "decoy='swap'" in repr(splits["test"])


def test_decoy_position_is_a_function_of_the_class_in_train_and_not_in_test(splits):
    train, test = splits["train"], splits["test"]
    c = train.num_classes
    # train: the decoy sits at the class's own centre, so position -> class is perfect
    assert torch.equal(train.decoy_class, train.y)
    assert torch.equal(nearest_class(decoy_centroids(train), c), train.y)
    # test ("swap"): it sits at another class's centre, so the same rule is always wrong
    assert (test.decoy_class != test.y).all()
    predicted = nearest_class(decoy_centroids(test), c)
    assert torch.equal(predicted, test.decoy_class)
    assert (predicted == test.y).float().mean() == 0
    # and the swapped classes are spread over the other classes, not a fixed permutation
    pairs = {(int(a), int(b)) for a, b in zip(test.y, test.decoy_class)}
    assert len(pairs) > c


def test_random_mode_places_the_decoy_anywhere_on_the_sphere(splits):
    ds = splits["random"]
    centroid = decoy_centroids(ds)
    objects = ds.pos.view(len(ds), N, 3)[:, :, :].clone()
    on = ds.part.view(len(ds), N) == ds.decoy_part
    object_centre = (objects * ~on.unsqueeze(-1)).sum(1) / (~on).sum(1, keepdim=True)
    dist = (centroid - object_centre).norm(dim=-1)
    assert ((dist - DECOY_DISTANCE).abs() <= DECOY_JITTER + 0.02).all()
    assert torch.equal(nearest_class(centroid, ds.num_classes), ds.decoy_class)
    assert (ds.decoy_class == ds.y).float().mean() < 0.5


def test_items_carry_a_mask_that_is_false_exactly_on_the_decoy(splits):
    ds = splits["train"]
    k = decoy_points(N)
    for i in (0, len(ds) - 1):
        item = ds[i]
        assert item.mask.dtype == torch.bool and item.mask.shape == (N,)
        assert torch.equal(item.mask, item.part != ds.decoy_part)
        assert int((~item.mask).sum()) == k
        # the object keeps its unit-sphere normalisation, the decoy lies outside it
        obj, decoy = item.pos[item.mask], item.pos[~item.mask]
        centre = obj.mean(0)
        assert (obj - centre).norm(dim=-1).max() <= 1 + 1e-5
        assert (decoy - centre).norm(dim=-1).min() >= DECOY_DISTANCE - DECOY_JITTER - DECOY_RADIUS
        # decoy points are shuffled in, not appended
        assert not bool((~item.mask)[-k:].all())


def test_parts_and_names_include_the_decoy(splits):
    ds = splits["train"]
    plain_parts = sum(len(v) for v in ds.class_parts.values())
    assert ds.decoy_part == plain_parts and ds.num_parts == plain_parts + 1
    assert ds.part_names[-1] == "decoy" and len(ds.part_names) == ds.num_parts
    for i in range(len(ds)):
        item = ds[i]
        own = ds.class_parts[ds.classes[item.y.item()]]
        assert set(item.part[item.mask].tolist()) <= set(own)


def test_deterministic_cached_and_seeded(splits, root, tmp_path, monkeypatch):
    train = splits["train"]
    assert train.cache_path.name == f"synthetic_train_n{N}_s{SPC}_seed0_decoy-class_v1.npz"
    again = SyntheticShapes("train", N, SPC, root=tmp_path, decoy="class")
    assert torch.equal(again.pos, train.pos) and torch.equal(again.part, train.part)
    assert torch.equal(again.decoy_class, train.decoy_class)

    def fail(*a, **k):
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(generate, "generate_split", fail)
    cached = SyntheticShapes("test", N, SPC, root=root, decoy=True)
    assert torch.equal(cached.pos, splits["test"].pos)
    monkeypatch.undo()
    other = SyntheticShapes("train", N, SPC, seed=1, root=tmp_path, decoy=True)
    assert not torch.allclose(other.pos, train.pos)


def test_plain_dataset_is_unchanged(root):
    plain = SyntheticShapes("train", N, SPC, root=root)
    assert plain.decoy is None and plain.decoy_class is None
    assert "decoy" not in plain.cache_path.name and "mask" not in plain[0]
    assert plain.num_parts == plain.decoy_part and "decoy" not in plain.part_names


@pytest.mark.parametrize("bad", ["middle", 3])
def test_bad_decoy_is_named(bad, tmp_path):
    with pytest.raises(ValueError, match="decoy must be None, True, False or one of"):
        SyntheticShapes("train", N, SPC, root=tmp_path, decoy=bad)


def test_too_few_points_for_a_decoy_is_named():
    with pytest.raises(ValueError, match="num_points must exceed the 4 points of the decoy"):
        decoy_points(4)


def test_build_split_synthetic_decoy(monkeypatch, root):
    import reldrop3d.data.synthetic.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "default_synthetic_root", lambda: root)
    cfg = TrainConfig(data="synthetic-decoy", num_points=N, samples_per_class=SPC * 4)
    train, test = build_split(cfg.validate(), "train"), build_split(cfg, "test")
    assert train.decoy == "class" and test.decoy == "swap"
    assert len(train) == 10 * SPC * 4 and len(test) == 10 * SPC
    with pytest.raises(ConfigError, match="data 'synthetic-decoy' takes no path"):
        build_split(TrainConfig(data="synthetic-decoy:/x"), "test")
