"""Tests of the batched droppers: reldrop3d.drop (RelDrop, RandomPointDropout, masks, fills)."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_dense_batch

from reldrop3d.drop import (
    RandomPointDropout,
    RateMatchedDrop,
    RelDrop,
    apply_fill,
    random_point_mask,
    relevance_mask,
)
from reldrop3d.names import DROP_MODES as MODES
from reldrop3d.names import FILLS

# ---------------------------------------------------------------------------
# helpers


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch_vector(sizes) -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))


def cloud_batch(sizes, seed: int = 0, features: int = 2, normals: bool = True) -> Batch:
    """Clouds with pos, x, normal (float) and part (long) per point, y per cloud."""
    g = gen(seed)
    clouds = []
    for i, n in enumerate(sizes):
        d = Data(
            pos=torch.randn(n, 3, generator=g), y=torch.tensor([i % 5]), part=torch.arange(n) % 7
        )
        if features:
            d.x = torch.randn(n, features, generator=g)
        if normals:
            d.normal = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=1)
        clouds.append(d)
    return Batch.from_data_list(clouds)


def normalised(relevance: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Per-cloud (R - min) / (max - min) in float64, 0 for constant clouds (the reference)."""
    rel = relevance.double()
    out = torch.zeros_like(rel)
    for i in batch.unique().tolist():
        m = batch == i
        lo, hi = rel[m].min(), rel[m].max()
        out[m] = (rel[m] - lo) / (hi - lo) if hi > lo else 0.0
    return out


def per_cloud(mask: torch.Tensor, batch: torch.Tensor, size: int) -> list[int]:
    return torch.bincount(batch[mask], minlength=size).tolist()


def expected_drop_probability(r: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """P(alpha U + (1 - alpha) r >= 1 - beta) for U ~ U[0, 1)."""
    q = (1 - beta - (1 - alpha) * r) / alpha  # drop iff U >= q
    return (1 - q).clamp(0, 1)


# ---------------------------------------------------------------------------
# threshold rule


@pytest.mark.parametrize(("alpha", "beta"), [(0.5, 0.5), (0.3, 0.2), (0.8, 0.7)])
def test_threshold_drop_probability_per_relevance_bin(alpha, beta):
    clouds, n = 400, 101
    batch = batch_vector([n] * clouds)
    g = gen(1)
    # every cloud holds the relevance values k / 100 in a random order: r is exactly known
    relevance = torch.cat([torch.randperm(n, generator=g).float() / 100 for _ in range(clouds)])
    drop = relevance_mask(relevance, batch, alpha, beta, min_points=1, generator=gen(2))
    r = (relevance * 100).round().long()  # bin = the relevance value
    freq = torch.zeros(n).index_add_(0, r, drop.float()) / clouds
    p = expected_drop_probability(torch.arange(n) / 100, alpha, beta)
    tol = 4.5 * torch.sqrt(p * (1 - p) / clouds) + 1e-9
    assert torch.all((freq - p).abs() <= tol), (freq - p).abs().max()
    assert torch.all(freq[p == 0] == 0) and torch.all(freq[p == 1] == 1)


def test_threshold_matches_the_literal_rule_for_the_same_draws():
    sizes = [64, 200, 33, 500]
    batch = batch_vector(sizes)
    relevance = torch.randn(batch.numel(), generator=gen(5)).exp()
    alpha, beta = 0.4, 0.6
    drop = relevance_mask(relevance, batch, alpha, beta, min_points=1, generator=gen(9))
    u = torch.rand(batch.numel(), generator=gen(9)).double()  # the rule's draws
    key = alpha * u + (1 - alpha) * normalised(relevance, batch)
    literal = key >= 1 - beta
    borderline = (key - (1 - beta)).abs() < 1e-6  # float32 rounding may differ there only
    assert torch.equal(drop[~borderline], literal[~borderline]) and borderline.sum() < 3


def test_threshold_alpha_zero_is_deterministic_and_exact():
    batch = batch_vector([50, 80])
    relevance = torch.rand(130, generator=gen(3))
    drop = relevance_mask(relevance, batch, alpha=0.0, beta=0.3, min_points=1)
    assert torch.equal(drop, normalised(relevance, batch) >= 0.7)
    # no random numbers are drawn: the generator is not advanced
    g = gen(4)
    state = g.get_state()
    relevance_mask(relevance, batch, alpha=0.0, beta=0.3, min_points=1, generator=g)
    assert torch.equal(g.get_state(), state)


def test_threshold_alpha_one_ignores_relevance():
    clouds, n = 200, 100
    batch = batch_vector([n] * clouds)
    relevance = torch.rand(clouds * n, generator=gen(0))
    drop = relevance_mask(relevance, batch, alpha=1.0, beta=0.3, min_points=1, generator=gen(1))
    a = relevance_mask(
        torch.zeros(clouds * n), batch, alpha=1.0, beta=0.3, min_points=1, generator=gen(1)
    )
    assert torch.equal(drop, a)
    assert abs(drop.float().mean().item() - 0.3) < 0.01


def test_beta_zero_drops_nothing():
    batch = batch_vector([40, 50])
    relevance = torch.rand(90, generator=gen(0))
    for mode in MODES:
        for alpha in (0.0, 0.5, 1.0):
            drop = relevance_mask(relevance, batch, alpha, 0.0, mode, min_points=1)
            assert not drop.any(), (mode, alpha)


# ---------------------------------------------------------------------------
# topk and sample


def test_topk_alpha_zero_drops_exactly_the_most_relevant():
    sizes = [100, 37, 64, 300]
    batch = batch_vector(sizes)
    relevance = torch.randn(batch.numel(), generator=gen(0))  # distinct, signed
    beta = 0.3
    drop = relevance_mask(relevance, batch, 0.0, beta, "topk", min_points=1, generator=gen(1))
    start = 0
    for n in sizes:
        d = round(beta * n)
        top = relevance[start : start + n].topk(d).indices + start
        expected = torch.zeros(batch.numel(), dtype=torch.bool)
        expected[top] = True
        assert torch.equal(drop[start : start + n], expected[start : start + n])
        start += n


def test_topk_counts_and_random_share():
    sizes = [100, 51, 10, 3, 1]
    batch = batch_vector(sizes)
    relevance = torch.rand(batch.numel(), generator=gen(0))
    alpha, beta = 0.4, 0.5
    for seed in range(5):
        drop = relevance_mask(
            relevance, batch, alpha, beta, "topk", min_points=2, generator=gen(seed)
        )
        start = 0
        for i, n in enumerate(sizes):
            d = min(round(beta * n), max(n - 2, 0))
            assert int(drop[start : start + n].sum()) == d, (seed, i)
            t = d - round(alpha * d)
            top = relevance[start : start + n].topk(t).indices + start
            assert drop[top].all()
            start += n


def test_topk_alpha_one_is_uniform_and_ties_are_random():
    clouds, n = 3000, 10
    batch = batch_vector([n] * clouds)
    constant = torch.ones(clouds * n)  # all tied: the choice is random
    for alpha in (0.0, 1.0):
        drop = relevance_mask(constant, batch, alpha, 0.2, "topk", min_points=1, generator=gen(3))
        assert per_cloud(drop, batch, clouds) == [2] * clouds
        freq = drop.view(clouds, n).float().mean(0)  # each position: 0.2
        assert torch.all((freq - 0.2).abs() < 5 * math.sqrt(0.16 / clouds)), freq


def test_sample_frequencies_proportional_to_weights():
    clouds, n = 4000, 8
    batch = batch_vector([n] * clouds)
    base = torch.tensor([0.0, 1, 2, 3, 4, 5, 6, 7]) / 7  # r = base exactly
    relevance = base.repeat(clouds)
    for alpha in (0.0, 0.5):
        beta = 1 / n  # one point per cloud: inclusion probability = w / sum(w)
        drop = relevance_mask(
            relevance, batch, alpha, beta, "sample", min_points=1, generator=gen(7)
        )
        assert per_cloud(drop, batch, clouds) == [1] * clouds
        w = (1 - alpha) * base + alpha / n
        p = w / w.sum()
        freq = drop.view(clouds, n).float().mean(0)
        tol = 4.5 * torch.sqrt(p * (1 - p) / clouds) + 1e-9
        assert torch.all((freq - p).abs() <= tol), (alpha, freq, p)
        if alpha == 0:
            assert not drop.view(clouds, n)[:, 0].any()  # zero weight, never drawn first


def test_sample_counts_exact_and_more_relevant_more_often():
    clouds, n = 500, 40
    batch = batch_vector([n] * clouds)
    relevance = torch.linspace(0, 1, n).repeat(clouds)
    drop = relevance_mask(relevance, batch, 0.2, 0.5, "sample", min_points=1, generator=gen(0))
    assert per_cloud(drop, batch, clouds) == [20] * clouds
    freq = drop.view(clouds, n).float().mean(0)
    assert freq[-10:].mean() > freq[:10].mean() + 0.3


def test_sample_zero_weights_drawn_last_in_random_order():
    # alpha = 0 and a constant cloud: every weight 0, still exactly d points, at random
    clouds, n = 2000, 10
    batch = batch_vector([n] * clouds)
    drop = relevance_mask(
        torch.zeros(clouds * n), batch, 0.0, 0.3, "sample", min_points=1, generator=gen(1)
    )
    assert per_cloud(drop, batch, clouds) == [3] * clouds
    freq = drop.view(clouds, n).float().mean(0)
    assert torch.all((freq - 0.3).abs() < 5 * math.sqrt(0.21 / clouds))


# ---------------------------------------------------------------------------
# sizes, constant clouds, min_points


@pytest.mark.parametrize("mode", MODES)
def test_constant_and_single_point_clouds(mode):
    sizes = [1, 50, 1, 64]
    batch = batch_vector(sizes)
    relevance = torch.cat(
        [
            torch.tensor([3.0]),
            torch.full((50,), 2.0),
            torch.tensor([-1.0]),
            torch.rand(64, generator=gen(0)),
        ]
    )
    for alpha in (0.0, 0.5, 1.0):
        drop = relevance_mask(relevance, batch, alpha, 0.5, mode, min_points=0, generator=gen(1))
        counts = per_cloud(drop, batch, len(sizes))
        assert counts[0] == 0 and counts[2] == 0  # single points are never dropped
        if mode != "threshold":
            assert counts[1] == 25 and counts[3] == 32
        elif alpha == 0:
            assert counts[1] == 0  # constant: r = 0 < 1 - beta


@pytest.mark.parametrize("mode", MODES)
def test_very_different_sizes_in_one_batch(mode):
    sizes = [1, 3, 40, 1000, 64, 2, 33, 500]
    batch = batch_vector(sizes)
    relevance = torch.rand(batch.numel(), generator=gen(0))
    drop = relevance_mask(relevance, batch, 0.5, 0.5, mode, min_points=32, generator=gen(1))
    counts = per_cloud(drop, batch, len(sizes))
    for n, c in zip(sizes, counts, strict=True):
        assert c <= max(n - 32, 0)
        if mode != "threshold":
            assert c == min(round(0.5 * n), max(n - 32, 0))
    # the deterministic rule gives each cloud the mask it gets alone
    det = relevance_mask(relevance, batch, 0.0, 0.5, "threshold", min_points=32)
    start = 0
    for n in sizes:
        alone = relevance_mask(
            relevance[start : start + n], None, 0.0, 0.5, "threshold", min_points=32
        )
        assert torch.equal(det[start : start + n], alone)
        start += n


@pytest.mark.parametrize("mode", MODES)
def test_min_points_keeps_the_least_relevant(mode):
    sizes = [100, 20, 33, 32]
    batch = batch_vector(sizes)
    relevance = torch.randn(batch.numel(), generator=gen(0))
    drop = relevance_mask(relevance, batch, 0.0, 1.0, mode, min_points=32, generator=gen(1))
    assert per_cloud(drop, batch, len(sizes)) == [68, 0, 1, 0]
    if mode == "sample":
        return  # a weighted draw: the kept points are random
    # the 32 kept points of cloud 0 are its 32 least relevant (alpha = 0)
    kept = (~drop[:100]).nonzero().view(-1)
    assert torch.equal(
        kept.sort().values, relevance[:100].topk(32, largest=False).indices.sort().values
    )


def test_min_points_guard_only_where_needed():
    # threshold with a guard binding in some clouds only; the others follow the rule
    sizes = [40, 200, 36]
    batch = batch_vector(sizes)
    relevance = torch.rand(batch.numel(), generator=gen(0))
    free = relevance_mask(relevance, batch, 0.5, 0.6, min_points=1, generator=gen(2))
    guarded = relevance_mask(relevance, batch, 0.5, 0.6, min_points=32, generator=gen(2))
    counts = per_cloud(guarded, batch, 3)
    assert counts[0] == 8 and counts[2] == 4  # capped at n - 32
    assert per_cloud(free, batch, 3)[1] == counts[1] < 200 - 32
    assert torch.equal(guarded[40:240], free[40:240])  # cloud 1 is under its cap
    assert (guarded[:40] <= free[:40]).all()  # the guard only keeps candidates


@pytest.mark.parametrize("mode", MODES)
def test_min_points_binding_in_every_cloud(mode):
    # beta = 1: every cloud is capped, each keeps exactly its floor
    uniform = batch_vector([64] * 6)
    rel = torch.rand(uniform.numel(), generator=gen(1))
    a = relevance_mask(rel, uniform, 0.2, 1.0, mode, min_points=32, generator=gen(3))
    assert per_cloud(a, uniform, 6) == [32] * 6


# ---------------------------------------------------------------------------
# fills on PyG batches


@pytest.mark.parametrize("mode", MODES)
def test_fill_remove_keeps_attributes_consistent(mode):
    sizes = [50, 1, 120, 33]
    data = cloud_batch(sizes)
    relevance = torch.rand(data.num_nodes, generator=gen(0))
    drop = relevance_mask(relevance, data.batch, 0.5, 0.5, mode, min_points=8, generator=gen(1))
    out = RelDrop(0.5, 0.5, mode, "remove", min_points=8, generator=gen(1))(data, relevance)
    keep = ~drop
    for key in ("pos", "x", "normal", "part", "batch"):
        assert torch.equal(out[key], data[key][keep]), key
    assert torch.equal(out.y, data.y)
    kept = torch.bincount(data.batch[keep], minlength=len(sizes))
    assert torch.equal(out.ptr, torch.cat([torch.zeros(1, dtype=torch.long), kept.cumsum(0)]))
    assert out.num_graphs == len(sizes) and out.num_nodes == int(keep.sum())
    examples = out.to_data_list()
    assert len(examples) == len(sizes)
    start = 0
    for i, n in enumerate(sizes):
        ex = out.get_example(i)
        sel = keep[start : start + n]
        assert torch.equal(ex.pos, data.pos[start : start + n][sel])
        assert torch.equal(ex.part, data.part[start : start + n][sel])
        assert torch.equal(ex.y, data.y[i : i + 1])
        start += n
    # removing again from the result works (slices and host sizes were updated)
    again = RelDrop(0.5, 0.5, mode, "remove", min_points=8, generator=gen(4))(
        out, torch.rand(out.num_nodes, generator=gen(5))
    )
    assert again.get_example(2).pos.size(0) == int(again.ptr[3] - again.ptr[2])


def test_fill_zero_and_first():
    sizes = [60, 1, 90]
    data = cloud_batch(sizes)
    relevance = torch.rand(data.num_nodes, generator=gen(0))
    drop = relevance_mask(relevance, data.batch, 0.5, 0.5, min_points=4, generator=gen(1))
    assert drop.any()
    keep = ~drop
    zero = RelDrop(fill="zero", min_points=4, generator=gen(1))(data, relevance)
    for key in ("pos", "x", "normal"):
        assert zero[key].shape == data[key].shape
        assert torch.all(zero[key][drop] == 0) and torch.equal(zero[key][keep], data[key][keep])
    assert torch.equal(zero.part, data.part)  # integer attributes are kept
    assert torch.equal(zero.batch, data.batch) and torch.equal(zero.ptr, data.ptr)
    assert zero.get_example(2).pos.shape == (90, 3)

    first = RelDrop(fill="first", min_points=4, generator=gen(1))(data, relevance)
    start = 0
    for n in sizes:
        sl = slice(start, start + n)
        f = start + int(keep[sl].nonzero()[0])  # first kept point of the cloud
        for key in ("pos", "x", "normal", "part"):
            assert torch.equal(
                first[key][sl][drop[sl]], data[key][f].expand_as(first[key][sl][drop[sl]])
            ), key
            assert torch.equal(first[key][sl][keep[sl]], data[key][sl][keep[sl]])
        start += n
    assert torch.equal(first.batch, data.batch) and torch.equal(first.y, data.y)


def test_fill_remove_with_edges():
    sizes = [12, 20]
    data_list = []
    for n in sizes:  # a ring per cloud, with one feature per edge
        src = torch.arange(n)
        edge_index = torch.stack([src, (src + 1) % n])
        data_list.append(
            Data(
                pos=torch.randn(n, 3, generator=gen(n)),
                edge_index=edge_index,
                edge_attr=edge_index[0].float().unsqueeze(1),
                y=torch.tensor([0]),
            )
        )
    data = Batch.from_data_list(data_list)
    relevance = torch.rand(data.num_nodes, generator=gen(0))
    out = RelDrop(0.5, 0.5, "topk", "remove", min_points=2, generator=gen(1))(data, relevance)
    assert out.edge_index.max() < out.num_nodes
    for i, n in enumerate(sizes):
        ex = out.get_example(i)
        assert ex.edge_index.numel() == 0 or ex.edge_index.max() < ex.num_nodes
        assert ex.edge_attr.size(0) == ex.edge_index.size(1)
        # every kept edge joins points that were neighbours on the ring
        original = data.get_example(i)
        kept = (ex.pos[:, None, :] == original.pos[None]).all(-1).float().argmax(1)
        a, b = kept[ex.edge_index[0]], kept[ex.edge_index[1]]
        assert torch.equal(b, (a + 1) % n)
        assert torch.equal(ex.edge_attr.view(-1), a.float())


def test_apply_fill_functional_and_first_needs_a_kept_point():
    data = cloud_batch([5, 6])
    drop = torch.zeros(11, dtype=torch.bool)
    drop[:5] = True
    out = apply_fill(data, drop, "remove")
    assert out.num_nodes == 6 and out.get_example(0).num_nodes == 0
    with pytest.raises(ValueError, match="cloud 0"):
        apply_fill(data, drop, "first")
    with pytest.raises(TypeError, match=r"drop must be a bool tensor of shape \[num_points\]"):
        apply_fill(data, drop.long(), "zero")


def test_single_cloud_data():
    data = Data(pos=torch.randn(100, 3, generator=gen(0)), y=torch.tensor([1]))
    relevance = torch.rand(100, generator=gen(1))
    for fill in FILLS:
        out = RelDrop(fill=fill, generator=gen(2))(data, relevance)
        assert isinstance(out, Data) and out.y is data.y
        drop = relevance_mask(relevance, None, generator=gen(2))
        n = 100 - int(drop.sum()) if fill == "remove" else 100
        assert out.pos.shape == (n, 3)


# ---------------------------------------------------------------------------
# dense form


@pytest.mark.parametrize("mode", MODES)
def test_dense_and_pyg_drop_the_same_points(mode):
    for sizes in ([64] * 5, [40, 64, 1, 50, 33]):
        data = cloud_batch(sizes, features=0, normals=False)
        relevance = torch.rand(data.num_nodes, generator=gen(0))
        points, valid = to_dense_batch(data.pos, data.batch)
        rel_dense, _ = to_dense_batch(relevance, data.batch)
        mask = None if len(set(sizes)) == 1 else valid
        for fill in FILLS:
            flat = RelDrop(0.5, 0.4, mode, fill, min_points=8, generator=gen(3))(data, relevance)
            out, second = RelDrop(0.5, 0.4, mode, fill, min_points=8, generator=gen(3)).dense(
                points, rel_dense, mask
            )
            if fill == "remove":
                expected, expected_valid = to_dense_batch(
                    flat.pos, flat.batch, batch_size=len(sizes), max_num_nodes=points.size(1)
                )
                assert torch.equal(out, expected) and torch.equal(second, expected_valid)
            else:
                drop = relevance_mask(relevance, data.batch, 0.5, 0.4, mode, 8, gen(3))
                drop_dense, _ = to_dense_batch(drop, data.batch)
                assert torch.equal(second, drop_dense)
                expected, _ = to_dense_batch(flat.pos, flat.batch)
                assert torch.equal(out * valid.unsqueeze(-1), expected)


def test_dense_channels_first_and_padding_untouched():
    points = torch.randn(4, 50, 3, generator=gen(0))
    relevance = torch.rand(4, 50, generator=gen(1))
    mask = torch.ones(4, 50, dtype=torch.bool)
    mask[1, 30:] = False
    mask[3, ::2] = False  # valid entries need not come first
    for fill in FILLS:
        a, ma = RelDrop(fill=fill, min_points=4, generator=gen(2)).dense(points, relevance, mask)
        b, mb = RelDrop(fill=fill, min_points=4, generator=gen(2)).dense(
            points.transpose(1, 2), relevance, mask, channels_first=True
        )
        assert torch.equal(a, b.transpose(1, 2)) and torch.equal(ma, mb)
        if fill != "remove":
            assert not (ma & ~mask).any()  # padding is never dropped
            assert torch.equal(a[~mask], points[~mask])  # and left as it is
        else:
            assert torch.equal(
                ma.sum(1),
                (
                    mask
                    & ~RelDrop(fill="zero", min_points=4, generator=gen(2)).dense(
                        points, relevance, mask
                    )[1]
                ).sum(1),
            )


def test_dense_first_fill_semantics():
    points = torch.randn(3, 40, 3, generator=gen(0))
    relevance = torch.rand(3, 40, generator=gen(1))
    out, drop = RelDrop(beta=0.8, fill="first", min_points=4, generator=gen(2)).dense(
        points, relevance
    )
    for b in range(3):
        f = int((~drop[b]).nonzero()[0])
        assert torch.equal(out[b][drop[b]], points[b, f].expand(int(drop[b].sum()), 3))
        assert torch.equal(out[b][~drop[b]], points[b][~drop[b]])


def test_dense_remove_packs_in_order():
    points = torch.arange(2 * 6, dtype=torch.float32).view(2, 6, 1)
    relevance = torch.tensor([[5.0, 0, 4, 1, 2, 3], [0, 1, 2, 3, 4, 5]])
    dropper = RelDrop(0.0, 0.5, "topk", "remove", min_points=1)  # the 3 most relevant
    packed, valid = dropper.dense(points, relevance)
    assert packed[0, :3, 0].tolist() == [1.0, 3.0, 4.0] and packed[0, 3:].abs().sum() == 0
    assert packed[1, :3, 0].tolist() == [6.0, 7.0, 8.0] and valid.sum(1).tolist() == [3, 3]
    mask = torch.tensor([[True] * 6, [True, False, True, False, True, True]])
    packed, valid = dropper.dense(points, relevance, mask)  # cloud 1: values 0, 2, 4, 5
    assert packed[1, :2, 0].tolist() == [6.0, 8.0] and valid.sum(1).tolist() == [3, 2]


# ---------------------------------------------------------------------------
# inputs, determinism, modes of execution


@pytest.mark.parametrize("mode", MODES)
def test_inputs_unchanged(mode):
    data = cloud_batch([30, 70, 1])
    relevance = torch.rand(data.num_nodes, generator=gen(0))
    before = {key: value.clone() for key, value in data._store.items()}
    slices = {key: value.clone() for key, value in data._slice_dict.items()}
    rel_before = relevance.clone()
    for fill in FILLS:
        RelDrop(0.5, 0.5, mode, fill, min_points=4)(data, relevance)
        RandomPointDropout(fill=fill)(data)
        points, rel = data.pos.view(1, -1, 3).clone(), relevance.view(1, -1).clone()
        p0, r0 = points.clone(), rel.clone()
        RelDrop(0.5, 0.5, mode, fill, min_points=4).dense(points, rel)
        assert torch.equal(points, p0) and torch.equal(rel, r0)
    for key, value in before.items():
        assert torch.equal(data[key], value), key
    assert all(torch.equal(data._slice_dict[k], v) for k, v in slices.items())
    assert torch.equal(relevance, rel_before)


@pytest.mark.parametrize("mode", MODES)
def test_determinism(mode):
    data = cloud_batch([64, 100, 20])
    relevance = torch.rand(data.num_nodes, generator=gen(0))
    a = RelDrop(mode=mode, fill="remove", min_points=8, generator=gen(5))(data, relevance)
    b = RelDrop(mode=mode, fill="remove", min_points=8, generator=gen(5))(data, relevance)
    c = RelDrop(mode=mode, fill="remove", min_points=8, generator=gen(6))(data, relevance)
    assert torch.equal(a.pos, b.pos) and torch.equal(a.ptr, b.ptr)
    assert a.pos.shape != c.pos.shape or not torch.equal(a.pos, c.pos)
    # a dropper's generator advances: two calls drop different points
    dropper = RelDrop(mode=mode, fill="zero", min_points=8, generator=gen(5))
    assert not torch.equal(dropper(data, relevance).pos, dropper(data, relevance).pos)


def test_works_under_inference_mode_and_with_gradients():
    data = cloud_batch([40, 64])
    relevance = torch.rand(data.num_nodes, generator=gen(0))
    with torch.inference_mode():
        for mode in MODES:
            for fill in FILLS:
                RelDrop(mode=mode, fill=fill, min_points=4)(data, relevance)
                RelDrop(mode=mode, fill=fill, min_points=4).dense(
                    data.pos.view(1, -1, 3), relevance.view(1, -1)
                )
        RandomPointDropout()(data)
    pos = data.pos.clone().requires_grad_()
    data.pos = pos
    out = RelDrop(fill="zero", min_points=4)(data, relevance.requires_grad_())
    out.pos.sum().backward()
    assert pos.grad is not None and set(pos.grad.unique().tolist()) <= {0.0, 1.0}


def test_ptr_and_batch_vector_give_the_same_mask():
    sizes = [10, 0, 50, 7]  # an empty cloud too
    batch = batch_vector(sizes)
    ptr = torch.tensor([0, 10, 10, 60, 67])
    relevance = torch.rand(67, generator=gen(0))
    for mode in MODES:
        a = relevance_mask(relevance, batch, mode=mode, min_points=4, generator=gen(1), ptr=ptr)
        b = relevance_mask(relevance, batch, mode=mode, min_points=4, generator=gen(1))
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------
# argument validation


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\], got 1.5"),
        ({"beta": -0.1}, ValueError, r"beta must be in \[0, 1\], got -0.1"),
        ({"alpha": float("nan")}, ValueError, "alpha must be in"),
        ({"alpha": True}, TypeError, "alpha must be a real number"),
        (
            {"mode": "best"},
            ValueError,
            r"mode must be one of 'threshold', 'topk', 'sample', "
            r"got 'best'",
        ),
        (
            {"fill": "nan"},
            ValueError,
            r"fill must be one of 'remove', 'zero', 'first', "
            r"got 'nan'",
        ),
        ({"min_points": -1}, ValueError, "min_points must be a non-negative int, got -1"),
        ({"min_points": 2.5}, TypeError, "min_points must be a non-negative int, got float"),
        ({"generator": 3}, TypeError, "generator must be a torch.Generator or None, got int"),
    ],
)
def test_constructor_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        RelDrop(**kwargs)


def test_call_validation():
    data = cloud_batch([20, 30])
    dropper = RelDrop(min_points=4)
    with pytest.raises(
        ValueError,
        match=r"relevance must have shape \[num_points\] = \(50,\), "
        r"got \(49,\)",
    ):
        dropper(data, torch.rand(49))
    with pytest.raises(TypeError, match="relevance must be a floating-point tensor"):
        dropper(data, torch.ones(50, dtype=torch.long))
    for mode in MODES:
        bad = torch.rand(50)
        bad[27] = float("nan")
        with pytest.raises(ValueError, match=r"relevance must be finite, got nan in cloud 1"):
            RelDrop(mode=mode, min_points=4)(data, bad)
        bad[27] = float("inf")
        with pytest.raises(ValueError, match="in cloud 1"):
            RelDrop(mode=mode, min_points=4).dense(data.pos.view(2, 25, 3), bad.view(2, 25))
    with pytest.raises(ValueError, match=r"relevance must have shape \[B, N\]"):
        dropper.dense(torch.rand(2, 10, 3), torch.rand(2, 11))
    with pytest.raises(TypeError, match=r"mask must be a bool tensor of shape \[B, N\]"):
        dropper.dense(torch.rand(2, 10, 3), torch.rand(2, 10), torch.ones(2, 10))
    with pytest.raises(TypeError, match="batch must be a torch_geometric Batch or Data"):
        dropper(torch.rand(50, 3), torch.rand(50))
    # validation can be switched off (no host read): the mask is then unspecified
    nan = torch.rand(50)
    nan[27] = float("nan")
    for mode in MODES:
        out = RelDrop(mode=mode, min_points=4, validate=False, fill="zero")(data, nan)
        assert out.pos.shape == data.pos.shape


def test_functional_validation():
    relevance = torch.rand(10)
    with pytest.raises(ValueError, match=r"batch must be sorted.*batch\[5\] = 0 after 1"):
        relevance_mask(relevance, torch.tensor([0, 0, 0, 1, 1, 0, 1, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"batch must hold one entry per point \(10\), got 9"):
        relevance_mask(relevance, torch.zeros(9, dtype=torch.long))
    with pytest.raises(TypeError, match="relevance must be a 1-D floating-point tensor"):
        relevance_mask(relevance.view(2, 5), None)
    with pytest.raises(ValueError, match=r"ptr must run from 0 to num_points \(10\)"):
        relevance_mask(relevance, torch.zeros(10, dtype=torch.long), ptr=torch.tensor([0, 9]))
    with pytest.raises(ValueError, match=r"max_ratio must be in \[0, 1\], got 2.0"):
        RandomPointDropout(max_ratio=2.0)


# ---------------------------------------------------------------------------
# RandomPointDropout


def test_random_dropout_ratio_distribution():
    clouds, n, max_ratio = 3000, 400, 0.875
    batch = batch_vector([n] * clouds)
    drop = random_point_mask(batch, max_ratio, generator=gen(0))
    fractions = drop.view(clouds, n).float().mean(1).sort().values
    # sorted per-cloud fractions ~ quantiles of U[0, max_ratio] (+ binomial noise <= 0.025)
    quantiles = (torch.arange(clouds) + 0.5) / clouds * max_ratio
    assert (fractions - quantiles).abs().max() < 0.05
    assert abs(fractions.mean().item() - max_ratio / 2) < 0.02


def test_random_dropout_call_shapes_and_first_fill():
    data = cloud_batch([64] * 4, features=2, normals=False)
    dropper = RandomPointDropout(generator=gen(1))
    out = dropper(data, torch.rand(data.num_nodes))  # relevance accepted and ignored
    drop = random_point_mask(data.batch, 0.875, generator=gen(1), ptr=data.ptr)
    keep = ~drop
    for i in range(4):
        sl = slice(64 * i, 64 * (i + 1))
        f = 64 * i + int(keep[sl].nonzero()[0])
        assert torch.equal(out.pos[sl][drop[sl]], data.pos[f].expand(int(drop[sl].sum()), 3))
        assert torch.equal(out.x[sl][drop[sl]], data.x[f].expand(int(drop[sl].sum()), 2))
    points, second = RandomPointDropout(generator=gen(1)).dense(data.pos.view(4, 64, 3))
    assert torch.equal(second.view(-1), drop) and torch.equal(points.view(-1, 3), out.pos)
    removed = RandomPointDropout(fill="remove", generator=gen(1))(data)
    assert removed.num_nodes == int(keep.sum())


def test_random_dropout_keeps_min_points():
    batch = batch_vector([5] * 200)
    drop = random_point_mask(batch, 1.0, min_points=2, generator=gen(0))
    assert max(per_cloud(drop, batch, 200)) <= 3
    single = random_point_mask(batch_vector([1] * 50), 1.0, generator=gen(0))
    assert not single.any()


def test_reprs():
    assert repr(RelDrop()) == (
        "RelDrop(alpha=0.5, beta=0.5, mode='threshold', fill='remove', min_points=32)"
    )
    assert repr(RandomPointDropout()) == (
        "RandomPointDropout(max_ratio=0.875, fill='first', min_points=1)"
    )


def test_generator_device_must_match():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    data = cloud_batch([30, 30]).to("cuda")
    relevance = torch.rand(60, device="cuda")
    with pytest.raises(ValueError, match="generator must live on the data's device"):
        RelDrop(generator=gen(0))(data, relevance)
    g = torch.Generator(device="cuda").manual_seed(0)
    for mode in MODES:
        for fill in FILLS:
            RelDrop(mode=mode, fill=fill, min_points=4, generator=g)(data, relevance)


# ---------------------------------------------------------------------------
# the batch vector is checked at every entry point (never a silently wrong result)


def test_unsorted_batch_vector_is_refused_everywhere():
    pos = torch.randn(20, 3, generator=gen(0))
    relevance = torch.rand(20, generator=gen(1))
    unsorted = torch.tensor([1] * 5 + [0] * 10 + [1] * 5)  # cloud 0 would lose every point
    message = r"batch must be sorted \(non-decreasing\), got batch\[5\] = 0 after 1"
    data = Data(pos=pos, batch=unsorted)
    topk = RelDrop(alpha=0, beta=1, mode="topk", min_points=2)
    for call in (
        lambda: topk(data, relevance),
        lambda: RateMatchedDrop(min_points=2)(data, relevance),
        lambda: RandomPointDropout()(data),
        lambda: relevance_mask(relevance, unsorted),
        lambda: random_point_mask(unsorted),
        lambda: apply_fill(data, relevance > 0.5, "remove"),
        lambda: apply_fill(data, relevance > 0.5, "first"),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    # a non-monotone last id, and a permuted batch vector that disagrees with ptr
    with pytest.raises(ValueError, match=r"batch\[19\] = 0 after 1"):
        topk(Data(pos=pos, batch=torch.tensor([0] * 10 + [1] * 9 + [0])), relevance)
    batch = cloud_batch([10, 10])
    batch.batch = batch.batch.flip(0)
    with pytest.raises(ValueError, match="batch must be sorted"):
        topk(batch, relevance)
    batch = cloud_batch([10, 10])
    batch.batch = torch.tensor([0] * 12 + [1] * 8)  # sorted, but not what ptr says
    with pytest.raises(ValueError, match=r"batch must agree with ptr.*batch\[10\] = 0"):
        RelDrop()(batch, relevance)
    with pytest.raises(ValueError, match="batch must hold cloud ids >= 0"):
        relevance_mask(relevance, torch.tensor([-1] * 10 + [0] * 10))


# ---------------------------------------------------------------------------
# RateMatchedDrop


@pytest.mark.parametrize("mode", MODES)
def test_rate_matched_drops_relevance_drop_counts_at_other_points(mode):
    sizes = [50, 1, 120, 33, 64]
    data = cloud_batch(sizes)
    relevance = torch.rand(data.num_nodes, generator=gen(0))
    drop = relevance_mask(relevance, data.batch, 0.3, 0.5, mode, min_points=8, generator=gen(1))
    counts = per_cloud(drop, data.batch, 5)
    assert sum(counts) > 0
    for fill in FILLS:
        args = (0.3, 0.5, mode, fill, 8)
        matched = RateMatchedDrop(*args, generator=gen(1))(data, relevance)
        if fill == "remove":
            assert torch.equal(matched.ptr, RelDrop(*args, generator=gen(1))(data, relevance).ptr)
            assert [len(d.pos) for d in matched.to_data_list()] == [
                n - c for n, c in zip(sizes, counts, strict=True)
            ]
        elif fill == "zero":  # the zeroed points are the control's drops
            moved = (matched.pos == 0).all(1)
            assert per_cloud(moved, data.batch, 5) == counts and not torch.equal(moved, drop)
    # the same through the dense call shape, and a seed reproduces it
    points, rel_dense = data.pos.view(1, -1, 3), relevance.view(1, -1)
    a = RateMatchedDrop(0.3, 0.5, mode, "zero", 8, gen(2)).dense(points, rel_dense)[1]
    b = RateMatchedDrop(0.3, 0.5, mode, "zero", 8, gen(2)).dense(points, rel_dense)[1]
    c = RelDrop(0.3, 0.5, mode, "zero", 8, gen(2)).dense(points, rel_dense)[1]
    assert torch.equal(a, b) and a.sum() == c.sum() and not torch.equal(a, c)
    flat = RateMatchedDrop(0.3, 0.5, mode, "zero", 8, gen(2))(Data(pos=data.pos), relevance)
    assert torch.equal(flat.pos, points.view(-1, 3).masked_fill(a.view(-1, 1), 0))


def test_rate_matched_positions_do_not_depend_on_relevance():
    clouds, n = 2000, 20
    batch = batch_vector([n] * clouds)
    relevance = torch.arange(n, dtype=torch.float32).repeat(clouds)  # bin = relevance rank
    data = Data(pos=torch.zeros(clouds * n, 3), batch=batch)
    rel_drop = RelDrop(0.0, 0.25, "topk", "zero", min_points=1, generator=gen(0))
    matched = RateMatchedDrop(0.0, 0.25, "topk", "zero", min_points=1, generator=gen(0))
    data.pos[:, 0] = 1.0
    dropped = (matched(data, relevance).pos[:, 0] == 0).view(clouds, n)
    assert dropped.sum(1).eq(5).all()  # topk drops round(0.25 * 20) = 5 per cloud
    freq = dropped.float().mean(0)  # every relevance bin: 5 / 20
    assert torch.all((freq - 0.25).abs() < 5 * math.sqrt(0.25 * 0.75 / clouds)), freq
    relevant = (rel_drop(data, relevance).pos[:, 0] == 0).view(clouds, n).float().mean(0)
    assert relevant[-5:].eq(1).all() and relevant[:-5].eq(0).all()  # RelDrop: the top 5
