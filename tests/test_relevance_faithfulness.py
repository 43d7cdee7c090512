"""Faithfulness: on trained models, removing the most relevant points hurts more than random."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from reldrop3d import models
from reldrop3d.data import SyntheticShapes
from reldrop3d.relevance import point_relevance

NUM_POINTS = 128
NAMES = ["pointnet", "pointnet2", "dgcnn"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    train = SyntheticShapes("train", num_points=NUM_POINTS, samples_per_class=16, root=root)
    test = SyntheticShapes("test", num_points=NUM_POINTS, samples_per_class=6, root=root)
    return train, test


@pytest.fixture(scope="module")
def trained(shapes):
    """A small model of each family, trained for a few seconds on SyntheticShapes."""
    train, _ = shapes
    out = {}
    for name in NAMES:
        torch.manual_seed(0)
        kw = {"k": 8, "emb_dims": 64} if name == "dgcnn" else {}
        model = models.build(name, train.num_classes, **kw)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        loader = DataLoader(
            train, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0)
        )
        for _ in range(6):
            for batch in loader:
                model.train()
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(batch), batch.y).backward()
                opt.step()
        models.recalibrate_batchnorm(model, DataLoader(train, batch_size=32))
        out[name] = model.eval()
    return out


def remove_top(batch: Batch, score: torch.Tensor, fraction: float) -> Batch:
    """Drop the ``fraction`` highest-scoring points of every (equal-sized) cloud."""
    n = NUM_POINTS
    k = round(fraction * n)
    keep = score.view(-1, n).topk(n - k, dim=1, largest=False).indices
    keep = (keep + torch.arange(0, score.numel(), n).view(-1, 1)).view(-1).sort().values
    return Batch(
        pos=batch.pos[keep],
        batch=batch.batch[keep],
        y=batch.y,
        ptr=torch.arange(0, keep.numel() + 1, n - k),
    )


def target_logit(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(batch).gather(1, batch.y.view(-1, 1)).squeeze(1)


@pytest.mark.parametrize("name", NAMES)
def test_trained_models_are_better_than_chance(name, trained, shapes):
    _, test = shapes
    batch = Batch.from_data_list(list(test))
    with torch.no_grad():
        acc = (trained[name](batch).argmax(-1) == batch.y).float().mean()
    assert acc > 2.0 / test.num_classes  # chance is 1 / num_classes


@pytest.mark.parametrize("name", NAMES)
def test_removing_most_relevant_points_hurts_more_than_random(name, trained, shapes):
    _, test = shapes
    model = trained[name]
    batch = Batch.from_data_list(list(test))
    full = target_logit(model, batch)
    lrp = point_relevance(model, batch, method="lrp")
    drop_lrp = (full - target_logit(model, remove_top(batch, lrp, 0.2))).mean()
    g = torch.Generator().manual_seed(0)
    drop_random = torch.stack(
        [
            (
                full
                - target_logit(model, remove_top(batch, torch.rand(lrp.shape, generator=g), 0.2))
            ).mean()
            for _ in range(3)
        ]
    ).mean()
    assert drop_lrp > drop_random, (float(drop_lrp), float(drop_random))
