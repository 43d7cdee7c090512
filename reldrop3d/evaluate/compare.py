"""Two runs side by side (``reldrop3d compare``): per-class accuracy, and their evaluations.

Augmentation helps on average while hurting some classes (Balestriero,
Bottou and LeCun 2022), so a comparison names the classes that lose. When
both runs have been through ``reldrop3d eval``, their corruption accuracy
(with mCE / RmCE of B against A), point-removal curves and relevance spread
are put side by side too.
"""

from __future__ import annotations

import json
from pathlib import Path

from reldrop3d.evaluate import plot, table


def _eval_of(run: Path) -> dict | None:
    for c in (run, run / "eval.json", run / "eval" / "eval.json"):
        if c.is_file() and c.suffix == ".json":
            data = json.loads(c.read_text())
            if "clean" in data:
                return data
    return None


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
    delta < -threshold], "winners": [... > threshold], "mean_delta", "markdown"}``.
    With ``out`` (a folder) it writes ``per_class.png``, and, where both runs have
    evaluations, ``corruptions.png``, ``deletion.png`` and ``compare.md``.
    """
    a, b = per_class_of(run_a), per_class_of(run_b)
    label_a, label_b = Path(run_a).name, Path(run_b).name
    if label_a == label_b:
        label_a, label_b = f"A ({label_a})", f"B ({label_b})"
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
    sections = [format_comparison(result)]
    ea, eb = _eval_of(Path(run_a)), _eval_of(Path(run_b))
    both = {label_a: ea, label_b: eb} if ea is not None and eb is not None else {}
    if both and all("corruptions" in e for e in both.values()):
        runs = {k: e["corruptions"] for k, e in both.items()}
        sections.append(
            f"Corruptions (mCE / RmCE against {label_a}):\n\n"
            + table(runs, reference=ea["corruptions"])
        )
    if both and all("deletion" in e for e in both.values()):
        sections.append("Point removal:\n\n" + table({k: e["deletion"] for k, e in both.items()}))
    if both and all("attribution" in e for e in both.values()):
        sections.append(
            "Relevance spread:\n\n" + table({k: e["attribution"] for k, e in both.items()})
        )
    result["markdown"] = "\n\n".join(sections) + "\n"
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        per_class = {label_a: {"per_class": a["per_class"]}, label_b: {"per_class": b["per_class"]}}
        result["plots"] = [str(plot(per_class, out / "per_class.png"))]
        for key, name in (("corruptions", "corruptions.png"), ("deletion", "deletion.png")):
            if both and all(key in e for e in both.values()):
                runs = {k: e[key] for k, e in both.items()}
                result["plots"].append(str(plot(runs, out / name)))
        (out / "compare.md").write_text(result["markdown"])
        (out / "compare.json").write_text(
            json.dumps({k: v for k, v in result.items() if k != "markdown"}, indent=2) + "\n"
        )
    return result


def format_comparison(result: dict) -> str:
    """The per-class table as Markdown, and the classes that lose."""
    lines = ["| class | A | B | B - A |", "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['class']} | {r['a']:.3f} | {r['b']:.3f} | {r['delta']:+.3f} |")
    lines.append("")
    lines.append(
        f"A = {result['a']}, B = {result['b']}. Mean change {result['mean_delta']:+.4f}; "
        f"classes losing more than {result['threshold']:.3f}: "
        f"{', '.join(result['losers']) or 'none'}"
    )
    return "\n".join(lines)
