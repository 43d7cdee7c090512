"""Relevance spread and part-level relevance: known answers by construction."""

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
    attribution_report,
    mass_fraction,
    part_energy,
    part_shares,
    parts_above,
    positive_totals,
    relevance_entropy,
)

NAN = float("nan")


def _same(a: torch.Tensor, b: list[float]) -> bool:
    return torch.allclose(a.double(), torch.tensor(b, dtype=torch.float64), equal_nan=True)


def test_entropy_uniform_one_hot_and_undefined():
    relevance = torch.tensor([1.0, 1, 1, 1, 0, 0, 5, 0, 2, -3, 2, -3, -1, -2, 7.0])
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4])
    h = relevance_entropy(relevance, batch)
    # uniform = 1; one-hot = 0; half on two of four = log 2 / log 4; no positive / one point: nan
    assert _same(h, [1.0, 0.0, math.log(2) / math.log(4), NAN, NAN])
    assert _same(positive_totals(relevance, batch), [4.0, 5.0, 4.0, 0.0, 7.0])
    # batched = per cloud
    for i in range(5):
        alone = relevance_entropy(relevance[batch == i])
        assert _same(alone, [h[i].item()])


def test_mass_fraction_known_values():
    relevance = torch.tensor([1.0, 1, 1, 1, 0, 0, 5, 0, 4, 3, 2, 1])
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    assert _same(mass_fraction(relevance, batch, 0.5), [0.5, 0.25, 0.5])  # 7 >= 5
    assert _same(mass_fraction(relevance, batch, 0.9), [1.0, 0.25, 0.75])  # 9 >= 9 exactly
    assert _same(mass_fraction(-relevance, batch, 0.5), [NAN, NAN, NAN])
    uniform = torch.ones(1000)
    assert mass_fraction(uniform, None, 0.5).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="share"):
        mass_fraction(uniform, None, 0.0)


def test_part_shares_parts_above_and_energy():
    relevance = torch.tensor([1.0, 1.0, 2.0, 0.0, -1.0, 3.0, 1.0, 0.05, 0.0])
    part = torch.tensor([0, 0, 1, 2, 1, 0, -1, 2, 1])
    batch = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2])
    shares = part_shares(relevance, part, 3, batch)
    total1 = 4.05
    expected = [[0.5, 0.5, 0.0], [3 / total1, 0.0, 0.05 / total1], [NAN, NAN, NAN]]
    assert torch.allclose(shares, torch.tensor(expected), equal_nan=True)
    assert parts_above(shares, 0.1).tolist() == [2, 1, 0]
    assert _same(part_energy(relevance, part, [0], batch), [0.5, 3 / total1, NAN])
    mask = torch.tensor([False, True, True])
    assert _same(part_energy(relevance, part, mask, batch), [0.5, 0.05 / total1, NAN])
    per_cloud = torch.tensor([[True, False, False], [False, False, True], [True, True, True]])
    assert _same(part_energy(relevance, part, per_cloud, batch), [0.5, 0.05 / total1, NAN])
    with pytest.raises(ValueError, match="part labels"):
        part_shares(relevance, part + 5, 3, batch)
    with pytest.raises(TypeError, match="relevance"):
        relevance_entropy(relevance.long(), batch)


class OnePart(nn.Module):
    """Class-1 logit = energy of the part-0 points only."""

    num_classes = 2

    def forward(self, batch) -> torch.Tensor:
        used = (batch.part == 0).float().unsqueeze(1)
        e = scatter((batch.pos * used).square().sum(1), batch.batch, 0, dim_size=batch.num_graphs)
        return torch.stack([torch.zeros_like(e), e], dim=1)


def _loader(clouds: int = 6, n: int = 64) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = [
        Data(
            pos=torch.randn(n, 3, generator=g),
            part=torch.randint(0, 3, (n,), generator=g),
            y=torch.tensor([i % 2]),
        )
        for i in range(clouds)
    ]
    return DataLoader(data, batch_size=4)


def test_a_model_that_only_looks_at_one_part_has_part_energy_one():
    result = attribution_report(
        OnePart(), _loader(), "gradient", energy_parts=[0], part_names=["a", "b", "c"]
    )
    json.dumps(result)
    overall = result["overall"]
    # class-0 clouds explain a constant logit: no relevance, so they are undefined
    assert overall["undefined"] == 3 and result["num_samples"] == 6
    assert overall["part_energy"] == pytest.approx(1.0)
    assert overall["parts_above"] == 1.0
    assert result["per_class"]["1"]["part_shares"] == pytest.approx({"a": 1.0, "b": 0.0, "c": 0.0})
    assert result["per_class"]["0"]["entropy"] is None and result["per_class"]["0"]["count"] == 3


def test_uniform_relevance_report_and_energy_by_class():
    loader = _loader(n=100)

    def uniform(model, batch) -> torch.Tensor:
        return torch.ones(batch.pos.size(0))

    result = attribution_report(
        OnePart(), loader, uniform, energy_parts={"0": [0, 1, 2], 1: []}, num_classes=2
    )
    for scope in (result["overall"], result["class_mean"]):
        assert scope["entropy"] == pytest.approx(1.0)
        assert scope["mass_50"] == pytest.approx(0.5)
        assert scope["mass_90"] == pytest.approx(0.9)
    assert result["per_class"]["0"]["part_energy"] == pytest.approx(1.0)
    assert result["per_class"]["1"]["part_energy"] == 0.0
    shares = result["per_class"]["1"]["part_shares"]
    assert sum(shares.values()) == pytest.approx(1.0) and set(shares) == {"0", "1", "2"}
    assert result["method"] == "uniform"
