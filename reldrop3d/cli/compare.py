"""``reldrop3d compare``: two runs side by side, per-class accuracy and their evaluations.

Augmentation helps on average while hurting some classes (Balestriero,
Bottou and LeCun 2022), so a comparison names the classes that lose. When
both runs have been through ``reldrop3d eval``, their corruption accuracy
(with mCE / RmCE of B against A), point-removal curves and relevance spread
are put side by side too.
"""

from __future__ import annotations

import json
from pathlib import Path

from reldrop3d.cli._args import UserError, output_folder
from reldrop3d.cli.evaluate import find_json


def add(sub) -> None:
    """The ``compare`` sub-command."""
    p = sub.add_parser("compare", help="two runs side by side: per-class accuracy, evaluations")
    p.add_argument("run_a", help="run folder, eval folder or JSON (the baseline)")
    p.add_argument("run_b", help="run folder, eval folder or JSON")
    p.add_argument(
        "--threshold", type=float, default=0.02, help="name classes losing more than this"
    )
    p.add_argument("--out", help="folder for compare.md, compare.json and the plots")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    """Per-class accuracy differences between two runs, and the classes that lose."""
    if args.out:
        output_folder(args.out)
    try:
        result = compare_runs(args.run_a, args.run_b, args.threshold, args.out)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise UserError(str(e)) from None
    print(result["markdown"])
    if args.out:
        print(f"wrote {args.out}/compare.md, compare.json and {len(result['plots'])} plot(s)")
    return 0


def per_class_of(run: str | Path) -> dict:
    """``{"per_class": {...}, "source": path}`` of a run folder (its ``per_class.json``), an
    ``eval`` folder or ``eval.json``, or a ``per_class.json`` itself."""
    found = find_json(run, "per_class")
    if found is None:
        raise FileNotFoundError(f"{run}: no per_class.json or eval.json with per-class accuracy")
    data, source = found
    return {"per_class": data.get("clean", data)["per_class"], "source": str(source)}


def compare_runs(
    run_a: str | Path, run_b: str | Path, threshold: float = 0.02, out: str | Path | None = None
) -> dict:
    """Accuracy differences ``b - a`` per class, sorted from the largest loss.

    Returns ``{"a", "b", "rows": [{"class", "a", "b", "delta"}], "losers": [classes whose
    delta < -threshold], "winners": [... > threshold], "mean_delta", "markdown"}``.
    With ``out`` (a folder) it writes ``per_class.png``, and, where both runs have
    evaluations, ``corruptions.png``, ``deletion.png`` and ``compare.md``.
    """
    from reldrop3d.evaluate import plot, table

    a, b = per_class_of(run_a), per_class_of(run_b)
    label_a, label_b = Path(run_a).name, Path(run_b).name
    if label_a == label_b:
        label_a, label_b = f"A ({label_a})", f"B ({label_b})"
    rows = []
    for name, ra in a["per_class"].items():
        rb = b["per_class"].get(name)
        if rb is None or ra.get("accuracy") is None or rb.get("accuracy") is None:
            continue
        delta = rb["accuracy"] - ra["accuracy"]
        rows.append({"class": name, "a": ra["accuracy"], "b": rb["accuracy"], "delta": delta})
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
    evals = [find_json(run, "clean") for run in (run_a, run_b)]
    both = {}
    if all(e is not None for e in evals):
        both = {label_a: evals[0][0], label_b: evals[1][0]}
    titles = {
        "corruptions": f"Corruptions (mCE / RmCE against {label_a})",
        "deletion": "Point removal",
        "attribution": "Relevance spread",
    }
    for key, title in titles.items():
        if both and all(key in e for e in both.values()):
            runs = {k: e[key] for k, e in both.items()}
            ref = {"reference": evals[0][0]["corruptions"]} if key == "corruptions" else {}
            sections.append(f"{title}:\n\n" + table(runs, **ref))
    result["markdown"] = "\n\n".join(sections) + "\n"
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        per_class = {label_a: {"per_class": a["per_class"]}, label_b: {"per_class": b["per_class"]}}
        result["plots"] = [str(plot(per_class, out / "per_class.png"))]
        for key in ("corruptions", "deletion"):
            if both and all(key in e for e in both.values()):
                runs = {k: e[key] for k, e in both.items()}
                result["plots"].append(str(plot(runs, out / f"{key}.png")))
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
