"""ModelNet-C / ModelNet40-C corruptions: parameter table, point counts, bounds, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from reldrop3d.evaluate import CORRUPTIONS, SUITES, corrupt, corruption_accuracy
from reldrop3d.evaluate._corruptions import PARAMETERS

SIZES = (1024, 700, 300)


def _cloud(n: int, seed: int) -> Data:
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, generator=g)
    pos = pos - pos.mean(0)
    pos = pos / pos.norm(dim=1).max()
    return Data(
        pos=pos,
        y=torch.tensor([seed]),
        part=torch.arange(n) % 5,
        x=torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1),
    )


@pytest.fixture(scope="module")
def batch() -> Batch:
    return Batch.from_data_list([_cloud(n, i) for i, n in enumerate(SIZES)])


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sizes(out: Batch) -> list[int]:
    return (out.ptr[1:] - out.ptr[:-1]).tolist()


def _expected(name: str, level: int, n: int) -> int:
    def scaled(c: float) -> int:
        return round(c * n / 1024)  # Python's round is half-to-even, like torch.round

    p = PARAMETERS[name][level]
    if name == "drop_global":
        return math.floor(n * (1 - p))
    if name == "drop_local":
        return n - scaled(p)
    if name in ("add_global", "add_local"):
        return n + scaled(p)
    if name in ("background_noise", "upsampling"):
        return n + n // int(p)
    if name == "cutout":
        return n - int(p) * scaled(30)
    if name == "density_decrease":
        return n - int(p) * math.floor(0.75 * scaled(100))
    return n


# ----------------------------------------------------------------------------- the table


def test_published_parameter_table():
    p = PARAMETERS
    assert p["jitter"] == (0.01, 0.02, 0.03, 0.04, 0.05)
    assert p["drop_global"] == (0.25, 0.375, 0.5, 0.625, 0.75)
    assert p["drop_local"] == (100, 200, 300, 400, 500)
    assert p["add_global"] == (10, 20, 30, 40, 50)
    assert p["add_local"] == (100, 200, 300, 400, 500)
    assert p["scale"] == (1.6, 1.7, 1.8, 1.9, 2.0)
    assert p["rotate"][0] == pytest.approx(math.pi / 30)
    assert p["rotate"][-1] == pytest.approx(math.pi / 6)
    assert p["rotate"] == pytest.approx([math.pi / 30 * k for k in range(1, 6)])
    assert p["uniform_noise"] == (0.01, 0.02, 0.03, 0.04, 0.05)
    assert p["gaussian_noise"] == (0.01, 0.015, 0.02, 0.025, 0.03)
    assert p["background_noise"] == (45, 40, 35, 30, 20)
    assert p["impulse_noise"] == (30, 25, 20, 15, 10)
    assert p["upsampling"] == (5, 4, 3, 2, 1)
    assert p["shear"] == (0.05, 0.1, 0.15, 0.2, 0.25)
    assert p["cutout"] == (2, 3, 5, 7, 10)
    assert p["density_decrease"] == (1, 2, 3, 4, 5)
    assert CORRUPTIONS == SUITES["modelnet-c"] == (
        "jitter", "drop_global", "drop_local", "add_global", "add_local", "scale", "rotate",
    )  # fmt: skip
    assert set(SUITES["all"]) == set(PARAMETERS) == set(CORRUPTIONS) | set(SUITES["modelnet40-c"])
    assert len(SUITES["modelnet40-c"]) == 8


# ----------------------------------------------------------------------------- counts


@pytest.mark.parametrize("name", sorted(SUITES["all"]))
def test_point_counts_per_level(batch, name):
    for level in range(5):
        out = corrupt(batch, name, level, _gen(level))
        assert _sizes(out) == [_expected(name, level, n) for n in SIZES], (name, level)
        assert out.pos.shape == (sum(_sizes(out)), 3) and out.pos.dtype == torch.float32
        assert out.part.shape == out.batch.shape == (out.pos.size(0),)
        assert torch.equal(out.y, batch.y) and out.num_graphs == 3
        assert torch.isfinite(out.pos).all()
        assert out.get_example(1).pos.shape[0] == _sizes(out)[1]


def test_published_counts_at_1024_points(batch):
    """At 1024 points the scaled counts are the published absolute ones."""
    one = batch.get_example(0)
    for level in range(5):
        k = level + 1
        assert corrupt(one, "drop_local", level, _gen()).pos.size(0) == 1024 - 100 * k
        assert corrupt(one, "add_local", level, _gen()).pos.size(0) == 1024 + 100 * k
        assert corrupt(one, "add_global", level, _gen()).pos.size(0) == 1024 + 10 * k
        cut = (2, 3, 5, 7, 10)[level]
        assert corrupt(one, "cutout", level, _gen()).pos.size(0) == 1024 - 30 * cut
        assert corrupt(one, "density_decrease", level, _gen()).pos.size(0) == 1024 - 75 * k


def test_absolute_counts_with_reference_points_none(batch):
    out = corrupt(batch, "drop_local", 1, _gen(), reference_points=None)
    assert _sizes(out) == [n - 200 for n in SIZES]
    out = corrupt(batch, "add_global", 4, _gen(), reference_points=None)
    assert _sizes(out) == [n + 50 for n in SIZES]
    small = Data(pos=torch.randn(50, 3))
    out = corrupt(small, "drop_local", 4, _gen(), reference_points=None)
    assert out.pos.size(0) == 1  # keeps one


# ----------------------------------------------------------------------------- bounds


def _added(out: Batch) -> torch.Tensor:
    return out.part < 0


@pytest.mark.parametrize("level", [0, 4])
def test_add_global_and_add_local_stay_in_the_unit_ball(batch, level):
    for name in ("add_global", "add_local"):
        out = corrupt(batch, name, level, _gen(3))
        new = _added(out)
        assert int(new.sum()) == sum(_sizes(out)) - sum(SIZES)
        assert out.pos[new].norm(dim=1).max() <= 1 + 1e-6
        assert (out.x[new] == 0).all()  # created points: zero normals, part -1


def test_add_local_points_cluster_around_cloud_points(batch):
    out = corrupt(batch, "add_local", 2, _gen(4))
    new = out.pos[_added(out)]
    inside = new.norm(dim=1) < 0.9  # far from the inversion of points outside the ball
    nearest = torch.cdist(new[inside], batch.pos).min(dim=1).values
    assert nearest.median() < 0.125 * 2  # within about one sigma of some point


def test_jitter_magnitude(batch):
    for level in range(5):
        out = corrupt(batch, "jitter", level, _gen(level))
        delta = out.pos - batch.pos
        sigma = 0.01 * (level + 1)
        assert delta.std().item() == pytest.approx(sigma, rel=0.05)
        assert abs(delta.mean().item()) < sigma * 0.05


def test_gaussian_noise_is_clipped_and_uniform_noise_bounded(batch):
    out = corrupt(batch, "gaussian_noise", 4, _gen())
    assert out.pos.abs().max() <= 1
    inner = batch.pos.abs().max(1).values < 0.9
    assert (out.pos - batch.pos)[inner].std().item() == pytest.approx(0.03, rel=0.05)
    out = corrupt(batch, "uniform_noise", 4, _gen())
    _assert_box_normalised(out)


def _assert_box_normalised(out: Batch) -> None:
    for i in range(out.num_graphs):
        pos = out.get_example(i).pos
        high, low = pos.max(0).values, pos.min(0).values
        assert torch.allclose((high + low) / 2, torch.zeros(3), atol=1e-5)
        assert (high - low).max().item() == pytest.approx(2.0, abs=1e-5)


@pytest.mark.parametrize("name", ["background_noise", "impulse_noise", "upsampling", "shear"])
def test_modelnet40_c_box_normalisation(batch, name):
    _assert_box_normalised(corrupt(batch, name, 2, _gen()))


def test_scale_bounds_and_unit_sphere(batch):
    for level in range(5):
        out = corrupt(batch, "scale", level, _gen(level))
        s = 1.6 + 0.1 * level
        for i in range(len(SIZES)):
            src, dst = batch.get_example(i).pos, out.get_example(i).pos
            assert dst.mean(0).abs().max() < 1e-5
            assert dst.norm(dim=1).max().item() == pytest.approx(1.0, abs=1e-5)
            # dst = (src * s_axis - c) / m: per-axis affine; the factors' ratio is at most S^2
            centred = src - src.mean(0)
            factor = (centred * dst).sum(0) / centred.square().sum(0)
            assert torch.allclose(centred * factor, dst, atol=1e-4)
            assert (factor.max() / factor.min()).item() <= s * s + 1e-4


def _euler(r: torch.Tensor) -> torch.Tensor:
    """(alpha, beta, gamma) of ``R = Rz(gamma) Ry(beta) Rx(alpha)``."""
    return torch.stack(
        [
            torch.atan2(r[2, 1], r[2, 2]),
            -torch.asin(r[2, 0].clamp(-1, 1)),
            torch.atan2(r[1, 0], r[0, 0]),
        ]
    )


def test_rotate_is_a_bounded_rotation_of_each_cloud(batch):
    for level in range(5):
        out = corrupt(batch, "rotate", level, _gen(level))
        bound = math.pi / 30 * (level + 1)
        for i in range(3):
            src, dst = batch.get_example(i).pos.double(), out.get_example(i).pos.double()
            r = torch.linalg.lstsq(src, dst).solution  # dst = src @ R
            assert torch.allclose(r.T @ r, torch.eye(3, dtype=r.dtype), atol=1e-5)
            assert torch.det(r).item() == pytest.approx(1.0, abs=1e-5)
            assert _euler(r).abs().max() <= bound + 1e-5


def test_shear_matrix_structure(batch):
    for level in range(5):
        out = corrupt(batch, "shear", level, _gen(level))
        c = 0.05 * (level + 1)
        for i in range(3):
            src = batch.get_example(i).pos.double()
            dst = out.get_example(i).pos.double()
            ones = torch.ones(src.size(0), 1, dtype=src.dtype)
            sol = torch.linalg.lstsq(torch.cat([src, ones], 1), dst).solution
            m = sol[:3] / sol[0, 0]  # undo the normalisation's scale
            assert torch.allclose(m.diagonal(), torch.ones(3, dtype=m.dtype), atol=1e-4)
            assert m[0, 1].abs() < 1e-4 and m[2, 1].abs() < 1e-4
            factors = torch.stack([m[0, 2], m[1, 0], m[1, 2], m[2, 0]]).abs()
            assert (factors >= c - 0.05 - 1e-4).all() and (factors <= c + 0.05 + 1e-4).all()


def _is_subset_of_own_cloud(out: Batch, src: Batch) -> bool:
    for i in range(src.num_graphs):
        a, b = out.get_example(i), src.get_example(i)
        d = torch.cdist(a.pos, b.pos, compute_mode="donot_use_mm_for_euclid_dist")
        best = d.min(dim=1)
        if best.values.max() > 1e-6 or not torch.equal(a.part, b.part[best.indices]):
            return False
        if best.indices.unique().numel() != a.pos.size(0):
            return False
    return True


@pytest.mark.parametrize("name", ["drop_global", "drop_local", "cutout", "density_decrease"])
def test_dropping_keeps_a_subset_of_each_own_cloud(batch, name):
    out = corrupt(batch, name, 3, _gen())
    assert _is_subset_of_own_cloud(out, batch)
    assert torch.equal(out.y, batch.y)


def test_drop_local_removes_local_clusters(batch):
    """The removed points are much closer together than as many random points."""
    one = batch.get_example(0)
    local, spread = [], []
    for seed in range(10):
        kept = corrupt(one, "drop_local", 0, _gen(seed))
        exact = "donot_use_mm_for_euclid_dist"
        removed = torch.cdist(one.pos, kept.pos, compute_mode=exact).min(1).values > 1e-6
        assert int(removed.sum()) == 100
        local.append(torch.cdist(one.pos[removed], one.pos[removed]).mean())
        other = torch.randperm(1024, generator=_gen(seed))[:100]
        spread.append(torch.cdist(one.pos[other], one.pos[other]).mean())
    assert torch.stack(local).mean() < 0.7 * torch.stack(spread).mean()


def test_upsampling_copies_carry_their_point_attributes(batch):
    out = corrupt(batch, "upsampling", 0, _gen())
    assert (out.part >= 0).all()  # copies take their source's part


# ----------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("name", sorted(SUITES["all"]))
def test_same_seed_same_result(batch, name):
    a, b = corrupt(batch, name, 2, _gen(7)), corrupt(batch, name, 2, _gen(7))
    assert torch.equal(a.pos, b.pos) and torch.equal(a.batch, b.batch)
    c = corrupt(batch, name, 2, _gen(8))
    assert c.pos.shape != a.pos.shape or not torch.equal(a.pos, c.pos)


def test_input_is_not_modified(batch):
    before = batch.pos.clone()
    for name in SUITES["all"]:
        corrupt(batch, name, 4, _gen())
    assert torch.equal(batch.pos, before)


# ----------------------------------------------------------------------------- forms


@pytest.mark.parametrize("name", sorted(SUITES["all"]))
def test_dense_matches_batch(batch, name):
    """Padded dense input + mask gives the same clouds as the PyG batch, with the same seed."""
    dense = torch.zeros(3, max(SIZES), 3)
    mask = torch.zeros(3, max(SIZES), dtype=torch.bool)
    for i, n in enumerate(SIZES):
        dense[i, :n] = batch.get_example(i).pos
        mask[i, :n] = True
    points, valid = corrupt(dense, name, 1, _gen(5), mask=mask)
    flat = corrupt(batch, name, 1, _gen(5))
    assert points.shape[:2] == valid.shape and points.size(-1) == 3
    assert valid.sum(1).tolist() == _sizes(flat)
    assert torch.equal(points[valid], flat.pos)
    assert (points[~valid] == 0).all()
    packed = torch.arange(valid.size(1)).unsqueeze(0) < valid.sum(1, keepdim=True)
    assert torch.equal(valid, packed)  # each cloud's points come first in its row


def test_dense_extra_channels_follow_and_single_cloud():
    cloud = _cloud(200, 1)
    dense = torch.cat([cloud.pos, cloud.x], dim=1)  # [N, 6]
    out, valid = corrupt(dense, "drop_global", 0, _gen())
    assert out.shape == (200, 6) and valid.shape == (200,) and int(valid.sum()) == 150
    kept = out[valid]
    match = torch.cdist(kept[:, :3], cloud.pos, compute_mode="donot_use_mm_for_euclid_dist")
    match = match.argmin(1)
    assert torch.equal(kept[:, 3:], cloud.x[match])
    out, valid = corrupt(dense.unsqueeze(0), "add_global", 4, _gen())
    assert out.shape[2] == 6 and int(valid.sum()) == 200 + round(50 * 200 / 1024)
    single = corrupt(cloud, "rotate", 2, _gen())
    assert isinstance(single, Data) and single.pos.shape == (200, 3)
    assert torch.equal(single.part, cloud.part)


def test_errors_name_the_argument(batch):
    with pytest.raises(ValueError, match="name"):
        corrupt(batch, "fog", 0)
    with pytest.raises(ValueError, match="level"):
        corrupt(batch, "jitter", 5)
    with pytest.raises(ValueError, match="level"):
        corrupt(batch, "rotate", True)
    with pytest.raises(TypeError, match="points"):
        corrupt([1, 2, 3], "jitter", 0)
    with pytest.raises(TypeError, match="mask"):
        corrupt(torch.zeros(2, 4, 3), "jitter", 0, mask=torch.ones(2, 4))
    with pytest.raises(TypeError, match="generator"):
        corrupt(batch, "jitter", 0, generator=0)
    with pytest.raises(ValueError, match="reference_points"):
        corrupt(batch, "drop_local", 0, reference_points=0)


class _Constant(torch.nn.Module):
    """Class 0 for every cloud."""

    num_classes = len(SIZES)

    def forward(self, batch) -> torch.Tensor:
        return torch.eye(len(SIZES))[:1].expand(batch.num_graphs, -1)


def test_corruption_accuracy_resolves_suites_and_names(batch):
    loader = [batch]

    def names(spec) -> list[str]:
        result = corruption_accuracy(_Constant(), loader, spec, levels=[0], clean=False)
        return list(result["corruptions"])

    assert names("modelnet-c") == list(CORRUPTIONS)
    assert names("jitter, cutout") == ["jitter", "cutout"] == names(["jitter", "cutout"])
    assert len(names("all")) == 15
    assert names({"mine": lambda points, level, generator: points}) == ["mine"]
    for bad in ("nope", "", []):
        with pytest.raises(ValueError, match="corruptions"):
            corruption_accuracy(_Constant(), loader, bad)


@pytest.mark.parametrize("name", sorted(SUITES["all"]))
def test_batch_of_one_equals_the_cloud(batch, name):
    cloud = batch.get_example(1)
    alone = corrupt(cloud, name, 3, _gen(9))
    batched = corrupt(Batch.from_data_list([cloud]), name, 3, _gen(9))
    assert torch.equal(alone.pos, batched.pos) and torch.equal(alone.part, batched.part)
