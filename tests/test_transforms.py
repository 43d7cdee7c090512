"""Transforms on one Data and on a Batch of uneven clouds."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import Compose

from reldrop3d.data.transforms import (
    JitterClouds,
    RotateClouds,
    ScaleClouds,
    ShiftClouds,
    normalize_unit_sphere,
    rotate,
)

SIZES = (5, 1, 12, 30)


def cloud(n: int, seed: int, label: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(n, 3, generator=g) * 2 - 1
    normals = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
    return Data(pos=pos, x=normals, y=torch.tensor([label]), part=torch.arange(n))


def batch(sizes=SIZES) -> Batch:
    return Batch.from_data_list([cloud(n, seed=i, label=i) for i, n in enumerate(sizes)])


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


RANDOM = [
    lambda g: ScaleClouds(generator=g),
    lambda g: ScaleClouds(anisotropic=False, generator=g),
    lambda g: ShiftClouds(generator=g),
    lambda g: RotateClouds(generator=g),
    lambda g: RotateClouds(axis=0, max_angle=0.5, generator=g),
    lambda g: JitterClouds(generator=g),
]
NAMES = ["scale", "scale-iso", "shift", "rotate", "rotate-x", "jitter"]


@pytest.mark.parametrize("make", RANDOM, ids=NAMES)
@pytest.mark.parametrize("kind", ["data", "batch"])
def test_shapes_kept_input_untouched_and_seeded(make, kind):
    data = cloud(10, 0) if kind == "data" else batch()
    before = data.clone()
    out = make(gen(1))(data)
    assert type(out) is type(data)
    for key in ("pos", "x", "y", "part"):
        assert out[key].shape == data[key].shape and torch.equal(data[key], before[key])
    assert torch.equal(out.part, data.part) and torch.equal(out.y, data.y)
    if kind == "batch":
        assert torch.equal(out.batch, data.batch) and torch.equal(out.ptr, data.ptr)
    assert torch.equal(make(gen(1))(data).pos, out.pos)  # same seed, same output
    assert torch.isfinite(out.pos).all()


@pytest.mark.parametrize("make", RANDOM, ids=NAMES)
def test_different_seeds_differ(make):
    data = batch()
    assert not torch.equal(make(gen(1))(data).pos, make(gen(2))(data).pos)


def test_scale_is_per_cloud():
    same = cloud(20, 0)
    b = Batch.from_data_list([same, same.clone(), same.clone()])
    out = ScaleClouds(anisotropic=False, generator=gen())(b)
    ratio = (out.pos / b.pos).view(3, 20, 3)
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), atol=1e-5)  # one s per cloud
    s = ratio[:, 0, 0]
    assert len(set(s.tolist())) == 3 and ((s >= 0.8) & (s <= 1.25)).all()
    aniso = (ScaleClouds(generator=gen())(b).pos / b.pos).view(3, 20, 3)
    assert torch.allclose(aniso, aniso[:, :1].expand_as(aniso), atol=1e-5)  # one s per axis
    assert aniso[:, 0].unique().numel() == 9


def test_anisotropic_scale_keeps_normals_normal_to_the_surface():
    g = gen(3)
    u, v = torch.randn(2, 50, 1, generator=g)
    a, b = torch.tensor([1.0, 0.5, -0.2]), torch.tensor([0.0, 1.0, 2.0])
    pos = u * a + v * b  # a plane through the origin
    normal = torch.nn.functional.normalize(torch.linalg.cross(a, b), dim=0).expand(50, 3)
    out = ScaleClouds(0.5, 2.0, generator=g)(Data(pos=pos, x=normal))
    assert torch.allclose(out.x.norm(dim=1), torch.ones(50), atol=1e-5)
    assert (out.x * out.pos).sum(dim=1).abs().max() < 1e-4


def test_shift_is_per_cloud_and_bounded():
    b = batch()
    out = ShiftClouds(max_shift=0.2, generator=gen())(b)
    offset = out.pos - b.pos
    per_cloud = offset[b.ptr[:-1]]
    assert torch.allclose(offset, per_cloud[b.batch], atol=1e-6)
    assert per_cloud.abs().max() <= 0.2 and per_cloud.unique(dim=0).shape[0] == len(SIZES)
    assert torch.equal(out.x, b.x)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_rotation_preserves_norms_and_rotates_normals(axis):
    b = batch()
    b.x = torch.nn.functional.normalize(b.pos, dim=1)  # normals pointing along the points
    out = RotateClouds(axis=axis, generator=gen())(b)
    assert torch.allclose(out.pos.norm(dim=1), b.pos.norm(dim=1), atol=1e-5)
    assert torch.allclose(out.pos[:, axis], b.pos[:, axis])
    assert torch.allclose(out.x, torch.nn.functional.normalize(out.pos, dim=1), atol=1e-5)
    # one angle per cloud: the in-plane angle change is constant within a cloud
    a, c = (axis + 1) % 3, (axis + 2) % 3
    delta = torch.atan2(out.pos[:, c], out.pos[:, a]) - torch.atan2(b.pos[:, c], b.pos[:, a])
    delta = torch.remainder(delta, 2 * math.pi)
    first = delta[b.ptr[:-1]][b.batch]
    assert torch.allclose(torch.cos(delta - first), torch.ones_like(delta), atol=1e-4)


def test_rotate_functional_quarter_turn():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    out = rotate(x, torch.tensor([math.pi / 2]), axis=2)
    assert torch.allclose(out, torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]), atol=1e-6)
    out = rotate(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([math.pi / 2]), axis=1)
    assert torch.allclose(out, torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-6)


def test_jitter_is_clipped():
    b = batch()
    out = JitterClouds(sigma=1.0, clip=0.05, generator=gen())(b)
    step = (out.pos - b.pos).abs()
    assert step.max() <= 0.05 + 1e-6 and (step > 0.0499).float().mean() > 0.5
    assert torch.equal(out.x, b.x)


def test_normalize_unit_sphere_per_cloud():
    b = batch()
    b.pos = b.pos * torch.arange(1, 5.0)[b.batch, None] + 3.0
    out = normalize_unit_sphere(b.pos, b.batch)
    spans = list(zip(b.ptr[:-1].tolist(), b.ptr[1:].tolist(), strict=True))
    radius = [out[s:e].norm(dim=1).max().item() for s, e in spans]
    centroid = [out[s:e].mean(dim=0) for s, e in spans]
    # the one-point cloud collapses to the origin (radius 0); every other has radius 1
    assert radius[1] == 0.0 and all(abs(r - 1) < 1e-5 for i, r in enumerate(radius) if i != 1)
    assert all(c.abs().max() < 1e-5 for c in centroid)
    single = normalize_unit_sphere(cloud(40, 5).pos)
    assert single.norm(dim=1).max() == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(normalize_unit_sphere(b.pos, b.batch, len(SIZES)), out)


def test_compose_and_repr():
    t = Compose([ScaleClouds(anisotropic=False), JitterClouds(sigma=0.02)])
    assert t(batch()).pos.shape == (sum(SIZES), 3)
    text = repr(t)
    assert "ScaleClouds(low=0.8, high=1.25, anisotropic=False)" in text
    assert "JitterClouds(sigma=0.02, clip=0.05)" in text
    assert repr(RotateClouds(axis=1)) == "RotateClouds(axis=1, max_angle=3.142)"
    assert repr(ShiftClouds()) == "ShiftClouds(max_shift=0.1)"


def test_bad_arguments():
    with pytest.raises(ValueError, match="low=2.0, high=1.0"):
        ScaleClouds(2.0, 1.0)
    with pytest.raises(ValueError, match="axis must be 0, 1 or 2, got 3"):
        RotateClouds(axis=3)
    with pytest.raises(ValueError, match="sigma"):
        JitterClouds(sigma=-1)
    with pytest.raises(TypeError, match="generator"):
        ShiftClouds(generator=0)
    with pytest.raises(ValueError, match="low=0.0"):
        ScaleClouds(0.0, 1.0)
    with pytest.raises(ValueError, match=r"data.x must hold \[N, 3\] unit normals"):
        RotateClouds()(Data(pos=torch.zeros(4, 3), x=torch.zeros(4, 6)))
    out = RotateClouds(normal_key=None)(Data(pos=torch.zeros(4, 3), x=torch.zeros(4, 6)))
    assert out.x.shape == (4, 6)
    with pytest.raises(ValueError, match=r"data.pos must be a \[N, 3\] tensor"):
        JitterClouds()(Data(pos=torch.zeros(4, 2)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batched_transforms_on_cuda_do_not_synchronise():
    b = batch().to("cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    t = Compose(
        [ScaleClouds(generator=g), RotateClouds(generator=g), ShiftClouds(generator=g)]
        + [JitterClouds(generator=g)]
    )
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = t(b)
        normalize_unit_sphere(out.pos, out.batch, b.num_graphs)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert out.pos.is_cuda and out.pos.shape == b.pos.shape


# The trainer's augmentation, pinned to the outputs of the code a running study was
# trained with: the same generator state must give bit-identical clouds and leave the
# generator where it left it (same draws, same order, same arithmetic).
PIN_ROWS = [0, 9, 10, 39, 51]
PINNED = {
    "default": (
        2,
        {},
        [
            [-0.014021750539541245, -0.5302385687828064, 0.20653262734413147],
            [0.0032604001462459564, -0.45861953496932983, 0.5426669120788574],
            [-0.8663253784179688, -0.2371494472026825, -0.15487205982208252],
            [0.9323086142539978, 0.2940536141395569, 0.5247066617012024],
            [0.7285206913948059, -0.8761114478111267, -0.9591982364654541],
        ],
        [
            [0.7405585646629333, -0.6707344055175781, 0.04108991101384163],
            [0.42465928196907043, -0.9048409461975098, -0.03045104816555977],
            [-0.0433291532099247, 0.9326995015144348, -0.35804232954978943],
            [0.6845744848251343, 0.6634461879730225, 0.3019883334636688],
            [0.20861995220184326, -0.012371760793030262, -0.9779185056686401],
        ],
        0.1808772087097168,
    ),
    "all": (
        1,
        {"jitter": 0.01, "rotate": True},
        [
            [0.027938777580857277, -0.5241255760192871, 0.21254032850265503],
            [0.3707672953605652, -0.45137715339660645, 0.39156821370124817],
            [0.01922665536403656, -0.24404418468475342, -0.8839952945709229],
            [-0.3950967788696289, 0.3015512526035309, 1.013026475906372],
            [-0.8754175305366516, -0.8893715143203735, 0.844958484172821],
        ],
        [
            [0.7362004518508911, -0.6707344055175781, -0.09013471752405167],
            [0.29272451996803284, -0.9048409461975098, -0.3091522455215454],
            [0.3478150963783264, 0.9326995015144348, -0.0953749269247055],
            [-0.1983153223991394, 0.6634461879730225, 0.7214639186859131],
            [-0.36686474084854126, -0.012371760793030262, 0.9301919937133789],
        ],
        0.1705080270767212,
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_trainer_augmentation_is_bit_identical_to_the_pinned_outputs(name):
    from reldrop3d.train.augment import build_augment
    from reldrop3d.train.config import TrainConfig

    axis, kw, pos, normals, next_draw = PINNED[name]
    g = torch.Generator().manual_seed(7)
    clouds = []
    for i, n in enumerate((9, 1, 30, 12)):
        p = torch.rand(n, 3, generator=g) * 2 - 1
        x = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
        clouds.append(Data(pos=p, x=x, y=torch.tensor([i])))
    g = torch.Generator().manual_seed(3)
    out = build_augment(TrainConfig(**kw), axis, g)(Batch.from_data_list(clouds))
    assert torch.equal(out.pos[PIN_ROWS], torch.tensor(pos))
    assert torch.equal(out.x[PIN_ROWS], torch.tensor(normals))
    assert torch.rand(1, generator=g).item() == next_draw
