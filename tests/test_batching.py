"""Batch surgery (reldrop3d.data.batching): every operation keeps to_data_list() working."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from reldrop3d.data.batching import (
    check_batch_vector,
    from_dense,
    keep_points,
    select_clouds,
    to_dense,
)
from reldrop3d.drop import apply_fill


def clouds(sizes=(6, 1, 9, 4), edges: bool = True) -> list[Data]:
    g = torch.Generator().manual_seed(0)
    out = []
    for i, n in enumerate(sizes):
        d = Data(
            pos=torch.randn(n, 3, generator=g),
            x=torch.randn(n, 2, generator=g),
            normal=torch.randn(n, 3, generator=g),
            part=torch.arange(n) + 10 * i,
            mask=torch.arange(n) % 2 == 0,
            y=torch.tensor([i]),
            idx=torch.tensor([100 + i]),
        )
        if edges:  # a ring with one feature per edge
            src = torch.arange(n)
            d.edge_index = torch.stack([src, (src + 1) % n])
            d.edge_attr = (src.float() + 100 * i).unsqueeze(1)
        out.append(d)
    return out


def same_points(got: Data, want: Data, keep: torch.Tensor) -> None:
    """``got`` is ``want`` with only the points where ``keep`` (and their edges)."""
    for key in ("pos", "x", "normal", "part", "mask"):
        assert torch.equal(got[key], want[key][keep]), key
    assert torch.equal(got.y, want.y) and torch.equal(got.idx, want.idx)
    new = torch.cumsum(keep.long(), 0) - 1  # old point -> new point
    both = keep[want.edge_index].all(0)
    assert torch.equal(got.edge_index, new[want.edge_index[:, both]])
    assert torch.equal(got.edge_attr, want.edge_attr[both])


def test_keep_points_round_trips_through_to_data_list():
    data_list = clouds()
    batch = Batch.from_data_list(data_list)
    keep = torch.rand(batch.num_nodes, generator=torch.Generator().manual_seed(1)) > 0.4
    keep[6] = False  # cloud 1 becomes empty
    out = keep_points(batch, keep)
    assert out.num_graphs == 4 and out.num_nodes == int(keep.sum())
    pieces = torch.split(keep, [d.num_nodes for d in data_list])
    for got, want, k in zip(out.to_data_list(), data_list, pieces, strict=True):
        same_points(got, want, k)
    again = keep_points(out, torch.ones(out.num_nodes, dtype=torch.bool))  # idempotent
    assert [d.num_nodes for d in again.to_data_list()] == [int(k.sum()) for k in pieces]
    one = keep_points(data_list[2], keep[7:16])  # a single Data
    assert isinstance(one, Data) and not isinstance(one, Batch)
    same_points(one, data_list[2], keep[7:16])


def test_select_clouds_round_trips_and_renumbers():
    data_list = clouds()
    batch = Batch.from_data_list(data_list)
    out = select_clouds(batch, torch.tensor([True, False, True, True]))
    assert out.num_graphs == 3 and out.batch.unique().tolist() == [0, 1, 2]
    assert out.y.tolist() == [0, 2, 3] and out.idx.tolist() == [100, 102, 103]
    for got, want in zip(out.to_data_list(), [data_list[i] for i in (0, 2, 3)], strict=True):
        same_points(got, want, torch.ones(want.num_nodes, dtype=torch.bool))
    batch.score = torch.arange(4.0)  # per cloud, set after batching (PyG keeps no slices)
    batch.rank = torch.arange(batch.num_nodes)  # per point, likewise
    picked = select_clouds(batch, torch.tensor([False, True, False, True]))
    assert picked.score.tolist() == [1.0, 3.0] and picked.rank.tolist() == [6, 16, 17, 18, 19]
    assert [d.y.item() for d in picked.to_data_list()] == [1, 3]
    plain = Batch(pos=batch.pos, batch=batch.batch, ptr=batch.ptr, y=batch.y)  # no slices
    picked = select_clouds(plain, torch.tensor([False, True, True, False]))
    assert picked.num_graphs == 2 and picked.y.tolist() == [1, 2] and picked.num_nodes == 10


def test_fills_round_trip_through_to_data_list():
    data_list = clouds(edges=False)
    batch = Batch.from_data_list(data_list)
    drop = torch.zeros(batch.num_nodes, dtype=torch.bool)
    drop[[0, 3, 8, 9, 19]] = True
    for fill in ("remove", "zero", "first"):
        out = apply_fill(batch, drop, fill)
        examples = out.to_data_list()
        assert [e.y.item() for e in examples] == [0, 1, 2, 3]
        sizes = [e.num_nodes for e in examples]
        assert sizes == ([4, 1, 7, 3] if fill == "remove" else [6, 1, 9, 4]), fill


def test_dense_round_trip_with_attributes_following_their_points():
    data_list = clouds(edges=False)
    batch = Batch.from_data_list(data_list)
    pos, valid = to_dense(batch)
    assert pos.shape == (4, 9, 3) and valid.sum(1).tolist() == [6, 1, 9, 4]
    back = from_dense(pos, valid, like=batch)
    for got, want in zip(back.to_data_list(), data_list, strict=True):
        same = torch.ones(want.num_nodes, dtype=torch.bool)
        for key in ("pos", "x", "normal", "part", "mask", "y", "idx"):
            assert torch.equal(got[key], want[key][same] if key not in ("y", "idx") else want[key])
    # reversed rows and one new point per cloud: attributes follow, new ones get 0 / -1
    source = torch.where(valid, valid.sum(1, keepdim=True) - 1 - torch.arange(9), -1)
    source = torch.cat([source, torch.full((4, 1), -1)], 1)
    valid = torch.cat([valid, torch.ones(4, 1, dtype=torch.bool)], 1)
    pos = torch.cat([pos, torch.ones(4, 1, 3)], 1)
    out = from_dense(pos, valid, like=batch, source=source)
    for got, want in zip(out.to_data_list(), data_list, strict=True):
        assert torch.equal(got.part[:-1], want.part.flip(0)) and got.part[-1] == -1
        assert torch.equal(got.x[:-1], want.x.flip(0)) and got.x[-1].eq(0).all()
        assert torch.equal(got.pos[-1], torch.ones(3)) and not got.mask[-1]
    flat = from_dense(torch.randn(2, 5, 3), torch.tensor([[1, 1, 0, 1, 0], [0] * 5]).bool())
    assert flat.ptr.tolist() == [0, 3, 3] and flat.batch.tolist() == [0, 0, 0]


def test_check_batch_vector():
    batch = torch.tensor([0, 0, 2, 2, 2])
    _, ptr = check_batch_vector(batch)
    assert ptr.tolist() == [0, 2, 2, 5]  # an empty cloud in the middle
    _, ptr = check_batch_vector(batch, torch.tensor([0, 2, 2, 5, 5]))  # and at the end
    assert ptr.tolist() == [0, 2, 2, 5, 5]
    with pytest.raises(ValueError, match=r"ptr must be non-decreasing, got ptr\[2\] = 1"):
        check_batch_vector(batch, torch.tensor([0, 2, 1, 5]))
    with pytest.raises(ValueError, match=r"batch must agree with ptr.*batch\[2\] = 2"):
        check_batch_vector(batch, torch.tensor([0, 3, 5]))
    with pytest.raises(TypeError, match="batch must be a 1-D long tensor"):
        check_batch_vector(batch.int())
    _, ptr = check_batch_vector(None, num_points=4)
    assert ptr.tolist() == [0, 4]
