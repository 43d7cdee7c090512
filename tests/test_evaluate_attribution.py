"""Relevance spread and part-level relevance: known answers by construction."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter

from reldrop3d.evaluate import attribution_report

NAN = float("nan")


def _report(relevance, batch, part=None, batch_size=None, **kw) -> dict:
    """``attribution_report`` of given relevance; each cloud is its own class ``str(i)``."""
    clouds = int(batch.max()) + 1
    data = [
        Data(
            pos=torch.zeros(int((batch == i).sum()), 3),
            rel=relevance[batch == i],
            y=torch.tensor([i]),
            **({} if part is None else {"part": part[batch == i]}),
        )
        for i in range(clouds)
    ]
    loader = DataLoader(data, batch_size=batch_size or clouds)
    return attribution_report(
        nn.Identity(), loader, lambda model, b: b.rel, num_classes=clouds, **kw
    )


def _per_cloud(report: dict, key: str) -> list[float]:
    values = [entry[key] for entry in report["per_class"].values()]
    return [NAN if v is None else v for v in values]


def _same(a: list[float], b: list[float]) -> bool:
    return torch.allclose(
        torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64), equal_nan=True
    )


def test_entropy_uniform_one_hot_and_undefined():
    relevance = torch.tensor([1.0, 1, 1, 1, 0, 0, 5, 0, 2, -3, 2, -3, -1, -2, 7.0])
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4])
    report = _report(relevance, batch)
    # uniform = 1; one-hot = 0; half on two of four = log 2 / log 4; no positive / one point: nan
    assert _same(_per_cloud(report, "entropy"), [1.0, 0.0, math.log(2) / math.log(4), NAN, NAN])
    assert _per_cloud(report, "undefined") == [0, 0, 0, 1, 0]  # no positive relevance
    assert report["overall"]["undefined"] == 1 and report["num_samples"] == 5
    # batched = per cloud
    assert _report(relevance, batch, batch_size=1)["per_class"] == report["per_class"]


def test_mass_fraction_known_values():
    relevance = torch.tensor([1.0, 1, 1, 1, 0, 0, 5, 0, 4, 3, 2, 1])
    batch = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    report = _report(relevance, batch)
    assert _same(_per_cloud(report, "mass_50"), [0.5, 0.25, 0.5])  # 7 >= 5
    assert _same(_per_cloud(report, "mass_90"), [1.0, 0.25, 0.75])  # 9 >= 9 exactly
    assert _same(_per_cloud(_report(-relevance, batch), "mass_50"), [NAN, NAN, NAN])
    uniform = _report(torch.ones(1000), torch.zeros(1000, dtype=torch.long))
    assert uniform["overall"]["mass_50"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shares"):
        _report(relevance, batch, shares=(0.0,))


def test_part_shares_parts_above_and_energy():
    relevance = torch.tensor([1.0, 1.0, 2.0, 0.0, -1.0, 3.0, 1.0, 0.05, 0.0])
    part = torch.tensor([0, 0, 1, 2, 1, 0, -1, 2, 1])
    batch = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1, 2])
    report = _report(relevance, batch, part, num_parts=3, energy_parts=[0])
    total1 = 4.05
    shares = [entry["part_shares"] for entry in report["per_class"].values()]
    assert shares[0] == pytest.approx({"0": 0.5, "1": 0.5, "2": 0.0})
    assert shares[1] == pytest.approx({"0": 3 / total1, "2": 0.05 / total1})  # no point in 1
    assert shares[2] == {"1": None}  # no positive relevance
    assert _same(_per_cloud(report, "parts_above"), [2, 1, NAN])
    assert _same(_per_cloud(report, "part_energy"), [0.5, 3 / total1, NAN])
    for chosen in (
        torch.tensor([False, True, True]),  # the same parts for every class
        torch.tensor([[True, False, False], [False, False, True], [True, True, True]]),
    ):
        report = _report(relevance, batch, part, num_parts=3, energy_parts=chosen)
        assert _same(_per_cloud(report, "part_energy"), [0.5, 0.05 / total1, NAN])
    with pytest.raises(ValueError, match="part labels"):
        _report(relevance, batch, part + 5, num_parts=3)
    one = Batch.from_data_list([Data(pos=torch.zeros(4, 3), y=torch.tensor([0]))])
    with pytest.raises(TypeError, match=r"relevance tensor \[P\] = \(4,\)"):
        attribution_report(nn.Identity(), [one], lambda model, b: torch.ones(3), num_classes=1)


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
