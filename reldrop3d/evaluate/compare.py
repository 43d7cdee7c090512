"""Per-class accuracy of two runs side by side (``reldrop3d compare``).

Augmentation helps on average while hurting some classes (Balestriero,
Bottou and LeCun 2022), so a comparison names the classes that lose.
"""

from __future__ import annotations

import json
from pathlib import Path

from reldrop3d.evaluate.plots import plot_class_accuracy_delta


def per_class_of(run: str | Path) -> dict:
    """``{"per_class": {...}, "source": path}`` of a run folder (its ``per_class.json``, the
    best epoch), an ``eval`` folder or ``eval.json``, or a ``per_class.json`` itself."""
    run = Path(run)
    candidates = [run, run / "per_class.json", run / "eval.json", run / "eval" / "eval.json"]
    for c in candidates:
        if c.is_file():
            data = json.loads(c.read_text())
            if "clean" in data:
                data = data["clean"]
            if "per_class" in data:
                return {"per_class": data["per_class"], "source": str(c)}
    raise FileNotFoundError(f"{run}: no per_class.json or eval.json with per-class accuracy")


def compare_runs(
    run_a: str | Path, run_b: str | Path, threshold: float = 0.02, out: str | Path | None = None
) -> dict:
    """Accuracy differences ``b - a`` per class, sorted from the largest loss.

    Returns ``{"a", "b", "rows": [{"class", "a", "b", "delta"}], "losers": [classes whose
    delta < -threshold], "winners": [... > threshold], "mean_delta"}`` and, with
    ``out``, writes the bar chart PNG there.
    """
    a, b = per_class_of(run_a), per_class_of(run_b)
    rows = []
    for name, ra in a["per_class"].items():
        rb = b["per_class"].get(name)
        if rb is None or ra.get("accuracy") is None or rb.get("accuracy") is None:
            continue
        rows.append(
            {
                "class": name,
                "a": ra["accuracy"],
                "b": rb["accuracy"],
                "delta": rb["accuracy"] - ra["accuracy"],
            }
        )
    rows.sort(key=lambda r: r["delta"])
    result = {
        "a": a["source"],
        "b": b["source"],
        "threshold": threshold,
        "rows": rows,
        "losers": [r["class"] for r in rows if r["delta"] < -threshold],
        "winners": [r["class"] for r in rows if r["delta"] > threshold],
        "mean_delta": sum(r["delta"] for r in rows) / max(len(rows), 1),
    }
    if out is not None:
        result["plot"] = str(
            plot_class_accuracy_delta(
                {"per_class": a["per_class"]},
                {"per_class": b["per_class"]},
                out,
                labels=(Path(run_a).name, Path(run_b).name),
            )
        )
    return result


def format_comparison(result: dict) -> str:
    lines = [f"{'class':20s} {'A':>7s} {'B':>7s} {'B - A':>7s}"]
    for r in result["rows"]:
        lines.append(f"{r['class']:20s} {r['a']:7.3f} {r['b']:7.3f} {r['delta']:+7.3f}")
    lines.append(
        f"mean change {result['mean_delta']:+.4f}; classes losing more than "
        f"{result['threshold']:.3f}: {', '.join(result['losers']) or 'none'}"
    )
    return "\n".join(lines)
