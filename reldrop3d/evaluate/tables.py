"""Plain-text (Markdown) tables of evaluation results, one run or several side by side.

Each function takes one result or a mapping ``{run name: result}`` and
returns a Markdown table as a string (what ``reldrop3d eval`` prints):

- :func:`corruption_table`: clean and per-corruption accuracy (mean over
  levels), mOA, and with a reference mCE / RmCE;
- :func:`corruption_levels_table`: one run's accuracy per corruption and level;
- :func:`deletion_table`: AUC of every order and metric;
- :func:`attribution_table`: the overall relevance-spread and part metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reldrop3d.evaluate._accuracy import robustness_summary

__all__ = ["attribution_table", "corruption_levels_table", "corruption_table", "deletion_table"]


def _runs(results: Mapping, marker: str) -> dict[str, Mapping]:
    if not isinstance(results, Mapping) or not results:
        raise TypeError(
            f"results must be a result dict or a mapping name -> result, got "
            f"{type(results).__name__}"
        )
    return {"run": results} if marker in results else dict(results)


def _cell(value: object, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header))] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def corruption_table(results: Mapping, reference: Mapping | None = None) -> str:
    """Rows: clean, each corruption (mean OA over levels), mOA, and mCE / RmCE with a reference."""
    runs = _runs(results, "corruptions")
    names: list[str] = []
    for r in runs.values():
        names += [n for n in r["corruptions"] if n not in names]
    rows = [["clean", *(r.get("clean", {}).get("oa") for r in runs.values())]]
    for name in names:
        rows.append([name, *(r["corruptions"].get(name, {}).get("mean_oa") for r in runs.values())])
    rows.append(["mOA", *(r.get("mean_oa") for r in runs.values())])
    if reference is not None:
        summaries = [robustness_summary(r, reference) for r in runs.values()]
        rows.append(["mCE", *(s["mce"] for s in summaries)])
        rows.append(["RmCE", *(s["rmce"] for s in summaries)])
    return _markdown(["corruption", *runs], rows)


def corruption_levels_table(result: Mapping) -> str:
    """One run: rows = corruptions, columns = levels and their mean."""
    if not isinstance(result, Mapping) or "corruptions" not in result:
        raise TypeError("result must be a corruption_accuracy() result")
    levels = result.get("levels") or list(
        range(len(next(iter(result["corruptions"].values()))["oa"]))
    )
    rows = [[name, *c["oa"], c["mean_oa"]] for name, c in result["corruptions"].items()]
    return _markdown(["corruption", *(f"level {lv}" for lv in levels), "mean"], rows)


def deletion_table(results: Mapping) -> str:
    """Rows: run and order; columns: the AUC of each metric."""
    runs = _runs(results, "curves")
    metrics: list[str] = []
    for r in runs.values():
        for per_order in r["auc"].values():
            metrics += [m for m in per_order if m not in metrics]
    rows = [
        [label, order, *(auc.get(m) for m in metrics)]
        for label, r in runs.items()
        for order, auc in r["auc"].items()
    ]
    return _markdown(["run", "order", *(f"AUC {m}" for m in metrics)], rows)


def attribution_table(results: Mapping, scope: str = "overall") -> str:
    """Rows: the metrics of ``scope`` (``"overall"`` or ``"class_mean"``); columns: runs."""
    runs = _runs(results, "overall")
    keys: list[str] = []
    for r in runs.values():
        keys += [k for k in r[scope] if k not in keys]
    rows = [[key, *(r[scope].get(key) for r in runs.values())] for key in keys]
    return _markdown(["metric", *runs], rows)
