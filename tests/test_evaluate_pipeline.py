"""The evaluation functions end to end on a tiny PointNet trained on SyntheticShapes."""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.loader import DataLoader

from reldrop3d.data import SyntheticShapes
from reldrop3d.evaluate import (
    attribution_report,
    corruption_accuracy,
    deletion_curves,
    evaluate,
    plot,
    robustness_summary,
)
from reldrop3d.models import PointNet


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(model, loader)``: PointNet after a few steps on 30 clouds of 128 points."""
    root = tmp_path_factory.mktemp("synthetic")
    data = SyntheticShapes("train", num_points=128, samples_per_class=3, root=root)
    torch.manual_seed(0)
    model = PointNet(data.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(4):
        for batch in DataLoader(data, batch_size=15, shuffle=True):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(batch), batch.y).backward()
            opt.step()
    return model.train(), DataLoader(data, batch_size=15)


def test_evaluate_and_corruptions(trained, tmp_path):
    model, loader = trained
    clean = evaluate(model, loader)
    assert model.training  # restored
    with torch.no_grad():
        logits = torch.cat([model.eval()(b) for b in loader])
        target = torch.cat([b.y for b in loader])
    model.train()
    assert clean["oa"] == pytest.approx((logits.argmax(1) == target).double().mean().item())
    loss = torch.nn.functional.cross_entropy(logits, target).item()
    assert clean["loss"] == pytest.approx(loss, rel=1e-5)
    assert clean["num_samples"] == 30 and set(clean["per_class"]) == set(loader.dataset.classes)
    subset = ["drop_local", "add_global", "rotate"]
    result = corruption_accuracy(model, loader, subset, levels=[0, 4], seed=0)
    assert result["clean"]["oa"] == pytest.approx(clean["oa"])
    assert result == corruption_accuracy(model, loader, subset, levels=[0, 4], seed=0)
    summary = robustness_summary(result)
    assert set(summary["ce"]) == set(subset)
    json.dumps([clean, result, summary])
    assert plot({"a": result, "b": result}, tmp_path / "c.png").is_file()
    assert plot({"a": clean, "b": clean}, tmp_path / "d.png").is_file()


def test_deletion_and_attribution_with_lrp(trained, tmp_path):
    model, loader = trained
    fractions = [0.0, 0.3, 0.6]
    once = deletion_curves(model, loader, "lrp", fractions=fractions)
    iterative = deletion_curves(model, loader, "lrp", fractions=fractions, iterative=True)
    for result in (once, iterative):
        curves = result["curves"]
        first = {o: c["accuracy"][0] for o, c in curves.items()}
        assert len(set(first.values())) == 1  # nothing removed yet: the same clean accuracy
        assert all(0 <= a <= 1 for c in curves.values() for a in c["accuracy"])
        assert all(len(c["logit"]) == 3 for c in curves.values())
    assert once["curves"]["random"] == iterative["curves"]["random"]
    json.dumps([once, iterative])
    assert plot({"once": once, "iter": iterative}, tmp_path / "x.png").is_file()

    data = loader.dataset
    report = attribution_report(model, loader, "lrp", energy_parts=data.class_parts)
    json.dumps(report)
    overall = report["overall"]
    assert 0 <= overall["entropy"] <= 1
    assert 0 < overall["mass_50"] <= overall["mass_90"] <= 1
    assert overall["part_energy"] == pytest.approx(1.0)  # every part of its own class
    chair = report["per_class"]["chair"]
    assert set(chair["part_shares"]) <= {n for n in data.part_names if n.startswith("chair/")}
