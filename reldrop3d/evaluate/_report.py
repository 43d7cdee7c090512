"""Markdown tables and PNG plots (matplotlib's Agg canvas, no pyplot state) of results.

:func:`table` and :func:`plot` take one result or ``{run name: result}`` (side by
side) and tell its kind by its keys: ``"corruptions"`` (:func:`corruption_accuracy`):
rows clean, each corruption's mean OA, mOA, with a ``reference`` mCE and RmCE
(``levels=True``: one run's OA per level), plotted as grouped bars; ``"curves"``
(:func:`deletion_curves`): the AUCs, plotted as the curves of one ``metric``
(colour = run, style = order); ``"overall"`` (:func:`attribution_report`): its
overall metrics, no plot; ``"per_class"`` (:func:`evaluate`), two runs: a plot of
the sorted per-class accuracy change (second minus first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reldrop3d.data.batching import describe
from reldrop3d.evaluate._accuracy import robustness_summary

_KINDS = ("corruptions", "curves", "overall", "per_class")  # "overall" before "per_class"
_STYLES = {"morf": "-", "lerf": "--", "random": ":"}
_LABELS = {"morf": "MoRF", "lerf": "LeRF", "random": "random"}


def table(results: Mapping, *, reference: Mapping | None = None, levels: bool = False) -> str:
    """A Markdown table of ``results`` (module docstring); ``reference`` as in
    :func:`robustness_summary`, for corruption results."""
    kind, runs = _runs(results)
    if kind == "corruptions" and levels:
        if len(runs) != 1:
            raise ValueError(f"levels=True takes one run, got {len(runs)}")
        (result,) = runs.values()
        width = len(next(iter(result["corruptions"].values()))["oa"])
        header = ["corruption", *(f"level {lv}" for lv in result.get("levels", range(width)))]
        rows = [[name, *c["oa"], c["mean_oa"]] for name, c in result["corruptions"].items()]
        return _markdown([*header, "mean"], rows)
    if kind == "corruptions":
        names = _union(r["corruptions"] for r in runs.values())
        rows = [["clean", *(r.get("clean", {}).get("oa") for r in runs.values())]]
        for name in names:
            rows.append(
                [name, *(r["corruptions"].get(name, {}).get("mean_oa") for r in runs.values())]
            )
        rows.append(["mOA", *(r.get("mean_oa") for r in runs.values())])
        if reference is not None:
            summaries = [robustness_summary(r, reference) for r in runs.values()]
            rows.append(["mCE", *(s["mce"] for s in summaries)])
            rows.append(["RmCE", *(s["rmce"] for s in summaries)])
        return _markdown(["corruption", *runs], rows)
    if kind == "curves":
        metrics = _union(auc for r in runs.values() for auc in r["auc"].values())
        rows = [
            [label, order, *(auc.get(m) for m in metrics)]
            for label, r in runs.items()
            for order, auc in r["auc"].items()
        ]
        return _markdown(["run", "order", *(f"AUC {m}" for m in metrics)], rows)
    if kind == "overall":
        keys = _union(r["overall"] for r in runs.values())
        return _markdown(
            ["metric", *runs], [[k, *(r["overall"].get(k) for r in runs.values())] for k in keys]
        )
    raise ValueError(
        "results must be corruption, deletion or attribution results, got evaluate()'s"
    )


def plot(
    results: Mapping, path: str | Path, *, metric: str = "accuracy", title: str | None = None
) -> Path:
    """Write a PNG of ``results`` (module docstring) to ``path``; returns the path.
    ``metric``: the deletion-curve quantity (``"accuracy"``, ``"logit"``, ``"probability"``)."""
    kind, runs = _runs(results)
    if kind == "corruptions":
        fig = _corruption_bars(runs, title)
    elif kind == "curves":
        fig = _deletion_curves(runs, metric, title)
    elif kind == "per_class":
        fig = _class_delta(runs, title)
    else:
        raise ValueError(
            "results must be corruption, deletion or evaluate() results, got attribution"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png")
    return path


def _runs(results: Mapping) -> tuple[str, dict[str, Mapping]]:
    """``(kind, {run name: result})`` of one result or of a mapping of named results."""
    if not isinstance(results, Mapping) or not results:
        raise TypeError(
            f"results must be a result dict or a non-empty mapping name -> result, "
            f"got {describe(results)}"
        )
    runs = {"run": results} if any(k in results for k in _KINDS) else dict(results)
    kinds = {
        next((k for k in _KINDS if isinstance(r, Mapping) and k in r), None) for r in runs.values()
    }
    if len(kinds) != 1 or None in kinds:
        raise ValueError(
            f"results must be results of one kind, with a key from {list(_KINDS)}, "
            f"got runs {list(runs)} of kinds {sorted(map(str, kinds))}"
        )
    return kinds.pop(), runs


def _union(keys_of) -> list[str]:
    """The keys of several mappings, in first-seen order."""
    out: list[str] = []
    for keys in keys_of:
        out += [k for k in keys if k not in out]
    return out


def _markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    cells = [list(map(str, header))] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _corruption_bars(runs: dict[str, Mapping], title: str | None) -> Figure:
    names = _union(r["corruptions"] for r in runs.values())
    groups = (["clean"] if any("clean" in r for r in runs.values()) else []) + names

    def value(r: Mapping, group: str) -> float:
        if group == "clean":
            return r["clean"]["oa"] if "clean" in r else float("nan")
        c = r["corruptions"].get(group)
        return c["mean_oa"] if c else float("nan")

    fig = Figure(figsize=(max(6.0, 0.9 * len(groups) * max(1, len(runs)) ** 0.5 + 2), 4.2))
    ax = fig.add_subplot()
    width = 0.8 / len(runs)
    for i, (label, r) in enumerate(runs.items()):
        xs = [g + (i - (len(runs) - 1) / 2) * width for g in range(len(groups))]
        mean = r.get("mean_oa")
        text = label if mean is None else f"{label} (mOA {mean:.3f})"
        ax.bar(xs, [value(r, g) for g in groups], width, label=text)
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax.set_ylabel("overall accuracy (mean over levels)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or "Accuracy under corruptions")
    return fig


def _deletion_curves(runs: dict[str, Mapping], metric: str, title: str | None) -> Figure:
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    for i, (label, r) in enumerate(runs.items()):
        for order, curves in r["curves"].items():
            if metric not in curves:
                raise ValueError(f"metric must be one of {sorted(curves)}, got {metric!r}")
            auc = r.get("auc", {}).get(order, {}).get(metric)
            text = f"{label} {_LABELS.get(order, order)}"
            text += f" (AUC {auc:.3f})" if auc is not None else ""
            style = _STYLES.get(order, "-.")
            ax.plot(r["fractions"], curves[metric], style, color=f"C{i % 10}", label=text)
    ax.set_xlabel("fraction of points removed")
    ax.set_ylabel(metric)
    if metric in ("accuracy", "probability"):
        ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or "Relevance-ordered point removal")
    return fig


def _class_delta(runs: dict[str, Mapping], title: str | None) -> Figure:
    if len(runs) != 2:
        raise ValueError(f"a per-class plot compares two runs, got {len(runs)}: {list(runs)}")
    (label_a, a), (label_b, b) = ((k, r["per_class"]) for k, r in runs.items())
    deltas = sorted(
        (
            (name, b[name]["accuracy"] - a[name]["accuracy"])
            for name in a
            if name in b and a[name]["accuracy"] is not None and b[name]["accuracy"] is not None
        ),
        key=lambda item: item[1],
    )
    if not deltas:
        raise ValueError(f"runs {label_a!r} and {label_b!r} share no class with a defined accuracy")
    fig = Figure(figsize=(max(6.0, 0.25 * len(deltas) + 2), 4.2))
    ax = fig.add_subplot()
    values = [d for _, d in deltas]
    ax.bar(range(len(deltas)), values, color=["C3" if d < 0 else "C2" for d in values])
    ax.set_xticks(range(len(deltas)), [n for n, _ in deltas], rotation=90, fontsize="small")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(f"accuracy: {label_b} - {label_a}")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or f"Per-class accuracy change ({label_b} vs {label_a})")
    return fig
