"""reldrop3d.ops against brute-force references on uneven batches."""

from __future__ import annotations

import math

import pytest
import torch

from reldrop3d import ops
from tests._clouds import uneven_batch

SIZES = [(7, 1, 30, 12), (25,), (3, 40, 2, 17, 9)]


def brute_knn(x, y, k, bx, by, exclude_self=False, r=math.inf):
    """Per query: the set of (distance, index) of its k nearest same-cloud candidates."""
    out = {}
    for i in range(y.size(0)):
        cand = [j for j in range(x.size(0)) if bx[j] == by[i] and not (exclude_self and j == i)]
        d = sorted((float((y[i] - x[j]).pow(2).sum()), j) for j in cand)
        out[i] = [(dd, j) for dd, j in d if dd <= r * r + 1e-6][:k]
    return out


def edges_by_query(edge_index):
    got = {}
    for q, c in edge_index.t().tolist():
        got.setdefault(q, []).append(c)
    return got


def assert_same_neighbours(edge_index, ref, x, y, exclude_self=False):
    got = edges_by_query(edge_index)
    for q, expected in ref.items():
        cols = got.get(q, [])
        assert len(cols) == len(expected), (q, cols, expected)
        assert len(set(cols)) == len(cols)
        if exclude_self:
            assert q not in cols
        # compare distances (ties may pick different indices)
        dg = sorted(float((y[q] - x[c]).pow(2).sum()) for c in cols)
        de = [d for d, _ in expected]
        assert dg == pytest.approx(de, abs=1e-5)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_matches_brute_force(sizes, k):
    b = uneven_batch(sizes, seed=k)
    q = uneven_batch(tuple(max(1, s // 2) for s in sizes), seed=k + 100)
    ei = ops.knn(b.pos, q.pos, k, b.batch, q.batch)
    assert ei.dtype == torch.long and ei.size(0) == 2
    # rows are queries (into y), in order
    assert torch.all(ei[0][1:] >= ei[0][:-1])
    assert_same_neighbours(ei, brute_knn(b.pos, q.pos, k, b.batch, q.batch), b.pos, q.pos)
    # neighbours never cross clouds
    assert torch.equal(q.batch[ei[0]], b.batch[ei[1]])


def test_knn_smaller_clouds_give_fewer_neighbours():
    b = uneven_batch((3, 10))
    ei = ops.knn(b.pos, b.pos, 5, b.batch, b.batch)
    per_query = torch.bincount(ei[0], minlength=13)
    assert per_query[:3].tolist() == [3, 3, 3]
    assert per_query[3:].tolist() == [5] * 10


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("loop", [False, True])
def test_knn_graph_matches_brute_force(sizes, loop):
    b = uneven_batch(sizes, seed=3)
    k = 6
    ei = ops.knn_graph(b.pos, k, b.batch, loop=loop)
    # source_to_target: row 1 is the centre
    centre_first = ei.flip(0)
    ref = brute_knn(b.pos, b.pos, k, b.batch, b.batch, exclude_self=not loop)
    assert_same_neighbours(centre_first, ref, b.pos, b.pos, exclude_self=not loop)
    flipped = ops.knn_graph(b.pos, k, b.batch, loop=loop, flow="target_to_source")
    assert torch.equal(flipped, centre_first)


def test_knn_graph_duplicates_and_single_cloud():
    pos = torch.zeros(10, 3)  # all duplicates
    ei = ops.knn_graph(pos, 4)
    assert ei.size(1) == 40
    assert not torch.any(ei[0] == ei[1])  # self excluded by index, duplicates kept
    pos = torch.cat([torch.zeros(5, 3), torch.ones(5, 3)])
    ei = ops.knn_graph(pos, 4)
    # each point's 4 neighbours are its 4 duplicates
    assert torch.all((ei[0] < 5) == (ei[1] < 5))


def test_knn_graph_high_dimensional_features():
    b = uneven_batch((20, 13), channels=16, seed=5)
    ei = ops.knn_graph(b.pos, 4, b.batch)
    ref = brute_knn(b.pos, b.pos, 4, b.batch, b.batch, exclude_self=True)
    assert_same_neighbours(ei.flip(0), ref, b.pos, b.pos, exclude_self=True)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("r,kmax", [(0.5, 64), (0.8, 4), (3.5, 100)])
def test_radius_matches_brute_force(sizes, r, kmax):
    b = uneven_batch(sizes, seed=7)
    q = uneven_batch(sizes, seed=8)
    ei = ops.radius(b.pos, q.pos, r, b.batch, q.batch, max_num_neighbors=kmax)
    ref = brute_knn(b.pos, q.pos, kmax, b.batch, q.batch, r=r)
    assert_same_neighbours(ei, ref, b.pos, q.pos)
    d = (q.pos[ei[0]] - b.pos[ei[1]]).norm(dim=-1)
    assert torch.all(d <= r + 1e-5)


def test_radius_graph_excludes_self():
    b = uneven_batch((15, 8), seed=9)
    ei = ops.radius_graph(b.pos, 0.7, b.batch, max_num_neighbors=5)
    assert not torch.any(ei[0] == ei[1])
    ref = brute_knn(b.pos, b.pos, 5, b.batch, b.batch, exclude_self=True, r=0.7)
    assert_same_neighbours(ei.flip(0), ref, b.pos, b.pos, exclude_self=True)


def brute_fps(pos, m, start):
    chosen = [start]
    dist = (pos - pos[start]).pow(2).sum(-1)
    dist[start] = -1
    for _ in range(m - 1):
        nxt = int(torch.argmax(dist))
        chosen.append(nxt)
        dist = torch.minimum(dist, (pos - pos[nxt]).pow(2).sum(-1))
        dist[chosen] = -1
    return chosen


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("ratio", [0.5, 0.25, 1.0, 0.33])
def test_fps_counts_uniqueness_and_greedy_property(sizes, ratio):
    b = uneven_batch(sizes, seed=11)
    idx = ops.fps(b.pos, b.batch, ratio=ratio, random_start=False)
    counts = torch.bincount(b.batch[idx], minlength=len(sizes))
    assert counts.tolist() == [math.ceil(ratio * n) for n in sizes]
    assert idx.unique().numel() == idx.numel()
    # per cloud: identical to the greedy reference from the same start
    ptr = b.ptr.tolist()
    off = 0
    for i in range(len(sizes)):
        mine = idx[off : off + counts[i]].tolist()
        off += int(counts[i])
        local = b.pos[ptr[i] : ptr[i + 1]]
        ref = brute_fps(local, len(mine), mine[0] - ptr[i])
        assert [j - ptr[i] for j in mine] == ref


def test_fps_deterministic_start_is_permutation_invariant():
    b = uneven_batch((50,), seed=12)
    perm = torch.randperm(50, generator=torch.Generator().manual_seed(0))
    a = b.pos[ops.fps(b.pos, ratio=0.2, random_start=False)]
    c = b.pos[perm][ops.fps(b.pos[perm], ratio=0.2, random_start=False)]
    assert torch.equal(a, c)


def test_fps_random_start_follows_generator():
    b = uneven_batch((40, 40, 40), seed=13)
    run = [
        ops.fps(b.pos, b.batch, 0.5, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2)
    ]
    assert torch.equal(run[0], run[1])
    assert not torch.equal(run[0], run[2])


def test_fps_duplicates_never_chosen_twice():
    pos = torch.cat([torch.zeros(6, 3), torch.ones(2, 3)])
    idx = ops.fps(pos, ratio=1.0)
    assert sorted(idx.tolist()) == list(range(8))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda p: ops.knn(p, p, 0), "k must be a positive int"),
        (lambda p: ops.knn(p, p[:, :2], 3), "same number of channels"),
        (lambda p: ops.knn_graph(p, 3, torch.zeros(4, dtype=torch.long)), "one entry per point"),
        (lambda p: ops.knn_graph(p, 3, torch.zeros(10)), "torch.long"),
        (lambda p: ops.knn_graph(p, 3, flow="up"), "flow must be"),
        (lambda p: ops.fps(p, ratio=0.0), "ratio must be a number in \\(0, 1\\]"),
        (lambda p: ops.fps(p, ratio=1.5), "got 1.5"),
        (lambda p: ops.radius(p, p, -1.0), "r must be a positive number"),
        (lambda p: ops.fps(p[0]), "shape \\[N, C\\]"),
        (lambda p: ops.fps(p.long()), "floating-point"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(torch.rand(10, 3))


def test_ops_work_under_inference_mode_and_with_grad_inputs():
    b = uneven_batch((20, 10))
    with torch.inference_mode():
        assert ops.knn_graph(b.pos, 3, b.batch).size(1) == 90
        assert ops.fps(b.pos, b.batch).numel() == 15
    pos = b.pos.clone().requires_grad_()
    assert ops.radius(pos, pos, 0.5, b.batch, b.batch).requires_grad is False
