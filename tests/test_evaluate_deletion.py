"""Relevance-ordered point removal: MoRF / LeRF / random curves on models with known answers."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.utils import scatter

from reldrop3d.evaluate import deletion_curves

FRACTIONS = [round(0.05 * k, 12) for k in range(19)]


def _area(x: list[float], y: list[float]) -> float:
    """Trapezoid area under ``y`` over ``x``, divided by the width of ``x``."""
    parts = [(x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(x, x[1:], y, y[1:])]
    return sum(parts) / (x[-1] - x[0])


class PartCounter(nn.Module):
    """Looks only at part 0: class 1 (logit = its point count) iff it has more than 15 points."""

    num_classes = 2

    def forward(self, batch) -> torch.Tensor:
        count = scatter((batch.part == 0).float(), batch.batch, 0, dim_size=batch.num_graphs)
        return torch.stack([torch.full_like(count, 15.0), count], dim=1)


class PointCounter(nn.Module):
    """Logit of class 1 = number of points in the cloud."""

    num_classes = 2

    def forward(self, batch) -> torch.Tensor:
        n = scatter(torch.ones_like(batch.pos[:, 0]), batch.batch, 0, dim_size=batch.num_graphs)
        return torch.stack([torch.zeros_like(n), n], dim=1)


def _part_loader(clouds: int = 6, n: int = 100, in_part: int = 30) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(clouds):
        part = torch.ones(n, dtype=torch.long)
        part[torch.randperm(n, generator=g)[:in_part]] = 0
        data.append(Data(pos=torch.randn(n, 3, generator=g), part=part, y=torch.tensor([1])))
    return DataLoader(data, batch_size=4)


def perfect(model, batch) -> torch.Tensor:
    """The points the model uses are the most relevant."""
    return (batch.part == 0).float()


def reversed_order(model, batch) -> torch.Tensor:
    return -perfect(model, batch)


def test_default_fractions_and_area():
    """0 to 0.9 in steps of 0.05; a point-counting model's logit falls linearly, AUC 1 - 0.45."""
    data = [Data(pos=torch.randn(100, 3), y=torch.tensor([1])) for _ in range(2)]
    result = deletion_curves(PointCounter(), DataLoader(data), lambda m, b: b.pos[:, 0])
    assert result["fractions"] == FRACTIONS and result["fractions"][-1] == 0.9
    for order in ("morf", "lerf", "random"):
        assert result["curves"][order]["logit"] == pytest.approx([100 - 100 * f for f in FRACTIONS])
        assert result["auc"][order]["logit"] == pytest.approx(100 * (1 - 0.45))
    one = deletion_curves(PointCounter(), DataLoader(data), "random", fractions=[0.3])
    assert one["auc"]["morf"] == {m: c[0] for m, c in one["curves"]["morf"].items()}


def test_perfect_relevance_gives_the_known_curves():
    """MoRF removes the 30 used points first, LeRF the 70 others; counts > 15 decide."""
    result = deletion_curves(PartCounter(), _part_loader(), perfect, seed=0)
    json.dumps(result)
    morf = [max(30 - round(100 * f), 0) for f in FRACTIONS]
    lerf = [30 - max(round(100 * f) - 70, 0) for f in FRACTIONS]
    assert result["curves"]["morf"]["logit"] == pytest.approx(morf)
    assert result["curves"]["lerf"]["logit"] == pytest.approx(lerf)
    assert result["curves"]["morf"]["accuracy"] == [float(c > 15) for c in morf]
    assert result["curves"]["lerf"]["accuracy"] == [float(c > 15) for c in lerf]
    auc = result["auc"]
    assert auc["morf"]["accuracy"] == pytest.approx(_area(FRACTIONS, [float(c > 15) for c in morf]))
    assert auc["lerf"]["logit"] == pytest.approx(_area(FRACTIONS, lerf))
    assert auc["morf"]["accuracy"] < auc["random"]["accuracy"] < auc["lerf"]["accuracy"]
    assert auc["morf"]["logit"] < auc["random"]["logit"] < auc["lerf"]["logit"]
    assert result["fractions"] == FRACTIONS and result["num_samples"] == 6
    assert result["method"] == "perfect" and result["target"] == "label"


def test_reversed_relevance_swaps_morf_and_lerf():
    good = deletion_curves(PartCounter(), _part_loader(), perfect, orders=["morf", "lerf"])
    bad = deletion_curves(PartCounter(), _part_loader(), reversed_order, orders=["morf", "lerf"])
    assert bad["curves"]["morf"] == good["curves"]["lerf"]
    assert bad["curves"]["lerf"] == good["curves"]["morf"]
    assert good["auc"]["morf"]["accuracy"] < bad["auc"]["morf"]["accuracy"]
    assert set(good["curves"]) == {"morf", "lerf"}


def test_exact_removed_counts_per_cloud_sizes():
    """Every cloud loses round(f * n_i) points, with clouds of different sizes in one batch."""
    sizes = (100, 60, 40, 100, 60)
    data = [Data(pos=torch.randn(n, 3), y=torch.tensor([1])) for n in sizes]
    loader = DataLoader(data, batch_size=3)
    result = deletion_curves(PointCounter(), loader, lambda m, b: b.pos[:, 0], seed=1)
    for order in ("morf", "lerf", "random"):
        expected = [sum(n - round(f * n) for n in sizes) / len(sizes) for f in FRACTIONS]
        assert result["curves"][order]["logit"] == pytest.approx(expected)


def test_iterative_equals_once_for_a_fixed_relevance():
    once = deletion_curves(PartCounter(), _part_loader(), perfect, orders=["morf", "lerf"])
    again = deletion_curves(
        PartCounter(), _part_loader(), perfect, orders=["morf", "lerf"], iterative=True
    )
    assert again["curves"] == once["curves"] and again["iterative"]


def test_iterative_recomputes_on_what_is_left():
    """Iterative: the relevance is recomputed on the points left before each step."""
    calls = []

    def far_from_centroid(model, batch) -> torch.Tensor:
        calls.append(batch.pos.size(0))
        centre = scatter(batch.pos, batch.batch, 0, dim_size=batch.num_graphs, reduce="mean")
        return (batch.pos - centre[batch.batch]).norm(dim=1)

    loader = _part_loader(clouds=4)
    deletion_curves(
        PartCounter(),
        loader,
        far_from_centroid,
        orders=["morf"],
        fractions=[0.0, 0.2, 0.4],
        iterative=True,
    )
    assert calls == [400, 320]  # before each removal: the full batch, then what 20% left


def test_random_order_is_seeded():
    a = deletion_curves(PartCounter(), _part_loader(), perfect, orders=["random"], seed=5)
    b = deletion_curves(PartCounter(), _part_loader(), perfect, orders=["random"], seed=5)
    c = deletion_curves(PartCounter(), _part_loader(), perfect, orders=["random"], seed=6)
    assert a == b and a["curves"] != c["curves"]


def test_gradient_relevance_of_a_one_part_model():
    """A differentiable model using part 0 only: its gradient relevance puts part 0 first."""

    class Energy(nn.Module):
        num_classes = 2

        def forward(self, batch) -> torch.Tensor:
            used = (batch.part == 0).float().unsqueeze(1)
            e = scatter(
                (batch.pos * used).square().sum(1), batch.batch, 0, dim_size=batch.num_graphs
            )
            return torch.stack([torch.full_like(e, 10.0), e], dim=1)

    loader = _part_loader(clouds=4)
    result = deletion_curves(Energy(), loader, "gradient", orders=["morf", "lerf"])
    lerf = result["curves"]["lerf"]["logit"]
    assert lerf[: FRACTIONS.index(0.7) + 1] == pytest.approx([lerf[0]] * 15)  # unused go first
    assert result["curves"]["morf"]["logit"][6] < 0.05 * lerf[0]  # 30% removed: part 0 gone
    assert result["auc"]["morf"]["logit"] < result["auc"]["lerf"]["logit"]


def test_bad_arguments():
    loader = _part_loader(clouds=2)
    with pytest.raises(ValueError, match="fractions"):
        deletion_curves(PartCounter(), loader, perfect, fractions=[0.5, 0.2])
    with pytest.raises(ValueError, match="orders"):
        deletion_curves(PartCounter(), loader, perfect, orders=["best"])
    with pytest.raises(ValueError, match="method"):
        deletion_curves(PartCounter(), loader, "magic")
    with pytest.raises(ValueError, match="target"):
        deletion_curves(PartCounter(), loader, perfect, target="label")
