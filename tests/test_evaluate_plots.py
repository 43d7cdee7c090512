"""PNG plots of corruption accuracy, deletion curves and per-class deltas."""

from __future__ import annotations

import pytest
from matplotlib.image import imread

from reldrop3d.evaluate import MODELNET_C_DGCNN, plot, table

CORRUPTION_RESULT = {
    "seed": 0,
    "levels": [0, 1],
    "clean": {"oa": 0.9, "macc": 0.85},
    "corruptions": {
        "jitter": {"oa": [0.8, 0.6], "macc": [0.7, 0.5], "mean_oa": 0.7},
        "rotate": {"oa": [0.85, 0.8], "macc": [0.8, 0.7], "mean_oa": 0.825},
    },
    "mean_oa": 0.7625,
}
DELETION_RESULT = {
    "fractions": [0.0, 0.5, 0.9],
    "curves": {
        "morf": {"accuracy": [0.9, 0.2, 0.1], "logit": [3.0, 1.0, 0.0]},
        "lerf": {"accuracy": [0.9, 0.8, 0.5], "logit": [3.0, 2.5, 1.0]},
        "random": {"accuracy": [0.9, 0.5, 0.2], "logit": [3.0, 2.0, 0.5]},
    },
    "auc": {"morf": {"accuracy": 0.35}, "lerf": {"accuracy": 0.78}},
}
EVAL_A = {"per_class": {"a": {"accuracy": 0.5}, "b": {"accuracy": 1.0}, "c": {"accuracy": None}}}
EVAL_B = {"per_class": {"a": {"accuracy": 0.75}, "b": {"accuracy": 0.9}, "c": {"accuracy": 1.0}}}


def _is_png(path) -> bool:
    image = imread(path)
    return path.suffix == ".png" and image.ndim == 3 and min(image.shape[:2]) > 100


def test_plots_write_pngs(tmp_path):
    one = plot(CORRUPTION_RESULT, tmp_path / "a" / "corr.png")
    two = plot({"baseline": CORRUPTION_RESULT, "reldrop": CORRUPTION_RESULT}, tmp_path / "c2.png")
    curves = plot({"baseline": DELETION_RESULT, "reldrop": DELETION_RESULT}, tmp_path / "del.png")
    logit = plot(DELETION_RESULT, tmp_path / "logit.png", metric="logit")
    delta = plot({"before": EVAL_A, "after": EVAL_B}, tmp_path / "delta.png")
    for path in (one, two, curves, logit, delta):
        assert path.is_file() and _is_png(path)


def test_plot_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="corruptions"):
        plot({"run": {"oa": 1}}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="one kind"):
        plot({"a": CORRUPTION_RESULT, "b": DELETION_RESULT}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="metric"):
        plot(DELETION_RESULT, tmp_path / "x.png", metric="probability")
    with pytest.raises(ValueError, match="two runs"):
        plot(EVAL_A, tmp_path / "x.png")
    with pytest.raises(ValueError, match="attribution"):
        plot({"overall": {"entropy": 0.5}}, tmp_path / "x.png")
    with pytest.raises(TypeError, match="results"):
        table([])
    assert not (tmp_path / "x.png").exists()


def test_markdown_tables():
    two = {"baseline": CORRUPTION_RESULT, "reldrop": CORRUPTION_RESULT}
    text = table(two, reference=MODELNET_C_DGCNN)
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:4]] == ["corruption", "baseline", "reldrop"]
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "clean",
        "jitter",
        "rotate",
        "mOA",
        "mCE",
        "RmCE",
    ]
    assert "0.700" in lines[3]
    levels = table(CORRUPTION_RESULT, levels=True)
    assert "level 1" in levels.splitlines()[0] and "0.825" in levels
    assert table({"a": DELETION_RESULT}).count("\n") == 3  # header, rule, 2 AUC rows
    report = {"overall": {"entropy": 0.5, "part_energy": None}}
    assert "| entropy" in table(report) and "| -" in table(report).splitlines()[-1]
