"""Accuracy metrics, evaluate(), corruption_accuracy() and ModelNet-C's mCE / RmCE."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter

from reldrop3d.evaluate import (
    CORRUPTIONS,
    MODELNET_C_DGCNN,
    corruption_accuracy,
    evaluate,
    robustness_summary,
)


class Oracle(nn.Module):
    """Predicts the per-cloud attribute ``guess``."""

    num_classes = 3

    def forward(self, batch) -> torch.Tensor:
        return nn.functional.one_hot(batch.guess.view(-1), 3).float()


class CountsPoints(nn.Module):
    """Class 1 when a cloud has at least 256 points, else class 0."""

    num_classes = 2

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, batch) -> torch.Tensor:
        n = scatter(torch.ones_like(batch.pos[:, 0]), batch.batch, 0, batch.num_graphs)
        score = n - 255.5 + self.dummy
        return torch.stack([-score, score], dim=1)


def _loader(guesses, labels, batch_size=4):
    data = [
        Data(pos=torch.randn(8, 3), y=torch.tensor([y]), guess=torch.tensor([g]))
        for g, y in zip(guesses, labels)
    ]
    return DataLoader(data, batch_size=batch_size)


def test_evaluate_returns_json_and_restores_mode():
    model = Oracle().train()
    loader = _loader([0, 1, 2, 2, 1], [0, 1, 2, 1, 0])
    result = evaluate(model, loader, names=["x", "y", "z"])
    assert model.training
    assert result["oa"] == pytest.approx(3 / 5)
    assert result["macc"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert result["num_samples"] == 5
    assert result["per_class"]["z"] == {"accuracy": 1.0, "correct": 1, "count": 1}
    # one-hot logits: -log softmax is log(e + 2) - 1 when right, log(e + 2) when wrong
    right = math.log(math.e + 2) - 1
    assert result["loss"] == pytest.approx((3 * right + 2 * (right + 1)) / 5)
    json.dumps(result)


def test_evaluate_on_known_predictions_with_an_unseen_class():
    """Class 3 has no cloud: its accuracy is undefined and mAcc averages the other three."""
    model = Oracle()
    model.num_classes = 4
    model.forward = lambda batch: nn.functional.one_hot(batch.guess.view(-1), 4).float()
    result = evaluate(model, _loader([0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 2]), names="abcd")
    assert result["oa"] == pytest.approx(3 / 6)
    assert result["macc"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert result["per_class"]["a"] == {"accuracy": 2 / 3, "correct": 2, "count": 3}
    assert result["per_class"]["d"] == {"accuracy": None, "correct": 0, "count": 0}
    with pytest.raises(ValueError, match="names"):
        evaluate(model, _loader([0], [0]), names="abc")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        evaluate(model, _loader([0], [5]))


def _count_loader(n_points=256, clouds=6):
    g = torch.Generator().manual_seed(0)
    data = [
        Data(pos=torch.randn(n_points, 3, generator=g), y=torch.tensor([1])) for _ in range(clouds)
    ]
    return DataLoader(data, batch_size=4)


def test_corruption_accuracy_known_answers():
    """A point-counting model is right exactly when the corruption keeps or adds points."""
    result = corruption_accuracy(CountsPoints(), _count_loader(), seed=3)
    json.dumps(result)
    assert result["clean"] == {"oa": 1.0, "macc": 1.0}
    assert result["levels"] == [0, 1, 2, 3, 4] and result["seed"] == 3
    expected = {
        "jitter": 1.0,
        "scale": 1.0,
        "rotate": 1.0,
        "add_global": 1.0,
        "add_local": 1.0,
        "drop_global": 0.0,
        "drop_local": 0.0,
    }
    for name, oa in expected.items():
        assert result["corruptions"][name]["oa"] == [oa] * 5, name
        assert result["corruptions"][name]["mean_oa"] == oa
    assert result["mean_oa"] == pytest.approx(5 / 7)


def test_corruption_accuracy_is_seeded_and_order_independent():
    """Each (corruption, level) draws from its own stream: same seed, same numbers."""
    model = CountsPoints()
    g = torch.Generator().manual_seed(0)
    data = [
        Data(pos=torch.randn(int(n), 3, generator=g), y=torch.tensor([1]))
        for n in torch.randint(300, 360, (8,), generator=g)
    ]
    loader = DataLoader(data, batch_size=3)
    subset = ["drop_global"]
    full = corruption_accuracy(model, loader, seed=1)
    alone = corruption_accuracy(model, loader, subset, levels=[1, 2], seed=1, clean=False)
    again = corruption_accuracy(model, loader, subset, levels=[1, 2], seed=1, clean=False)
    assert alone == again
    assert (
        alone["corruptions"]["drop_global"]["oa"] == full["corruptions"]["drop_global"]["oa"][1:3]
    )
    assert "clean" not in alone


def test_mce_of_a_run_against_itself_is_one():
    result = corruption_accuracy(CountsPoints(), _count_loader(clouds=4), seed=0)
    summary = robustness_summary(result, result)
    assert summary["mce"] == pytest.approx(1.0) and summary["rmce"] == pytest.approx(1.0)
    assert summary["undefined"] == [] and summary["unmatched"] == []
    assert all(v == pytest.approx(1.0) for v in summary["ce"].values())
    assert summary["moa"] == pytest.approx(result["mean_oa"])
    summary = robustness_summary(MODELNET_C_DGCNN)
    assert summary["mce"] == pytest.approx(1.0) and summary["rmce"] == pytest.approx(1.0)


def test_published_dgcnn_reference_covers_every_corruption():
    assert MODELNET_C_DGCNN["clean"] == 0.926  # DGCNN_OA["clean"] of the ModelNet-C code
    assert set(MODELNET_C_DGCNN) - {"clean"} == set(CORRUPTIONS)


def test_ce_and_rce_by_hand():
    ours = {"clean": 0.9, "jitter": 0.8, "rotate": 0.7}
    ref = {"clean": 0.95, "jitter": 0.6, "rotate": 0.8}
    summary = robustness_summary(ours, ref)
    assert summary["ce"] == pytest.approx({"jitter": 0.2 / 0.4, "rotate": 1.5})
    assert summary["rce"] == pytest.approx({"jitter": 0.1 / 0.35, "rotate": 0.2 / 0.15})
    assert summary["mce"] == pytest.approx((0.5 + 1.5) / 2)
    assert summary["rmce"] == pytest.approx((0.1 / 0.35 + 0.2 / 0.15) / 2)
    assert summary["moa"] == pytest.approx(0.75)


def test_division_by_zero_rule():
    """0/0 counts as 1 (as good as the reference); x/0 is undefined and left out of the mean."""
    ref = {"clean": 1.0, "jitter": 1.0, "rotate": 0.5, "scale": 0.9}
    ours = {"clean": 1.0, "jitter": 1.0, "rotate": 0.75, "scale": 0.8}
    ce = robustness_summary(ours, ref)["ce"]
    assert ce["jitter"] == 1.0 and ce["rotate"] == pytest.approx(0.5)
    summary = robustness_summary({**ours, "jitter": 0.9}, ref)
    assert summary["ce"]["jitter"] is None
    assert summary["mce"] == pytest.approx((0.5 + 2.0) / 2)
    assert summary["undefined"] == ["jitter"]
    json.dumps(summary)
    assert robustness_summary({"jitter": 0.5}, {"jitter": 1.0})["mce"] is None


def test_unmatched_and_bad_references():
    ours = {"clean": 0.9, "jitter": 0.8, "cutout": 0.7}
    assert robustness_summary(ours)["unmatched"] == ["cutout"]
    with pytest.raises(ValueError, match="share no corruption"):
        robustness_summary({"cutout": 0.5})
    without_clean = robustness_summary({"jitter": 0.5})
    assert without_clean["rmce"] is None and without_clean["rce"] == {"jitter": None}
    assert without_clean["mce"] == pytest.approx(0.5 / 0.316)
    with pytest.raises(TypeError, match="reference"):
        robustness_summary(ours, [0.1])
