"""PNG plots of the evaluation results (matplotlib, Agg; no global pyplot state).

Each function takes one result or several named ones (``{"baseline": r1,
"reldrop": r2}``), writes one PNG and returns its path:

- :func:`plot_corruption_accuracy`: grouped bars of the accuracy under each
  corruption (mean over levels) and clean, from :func:`corruption_accuracy`;
- :func:`plot_deletion_curves`: MoRF / LeRF / random curves from
  :func:`deletion_curves` (colour = run, line style = order; AUC in the legend);
- :func:`plot_class_accuracy_delta`: per-class accuracy difference of two
  :func:`evaluate` results, sorted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_class_accuracy_delta", "plot_corruption_accuracy", "plot_deletion_curves"]

_STYLES = {"morf": "-", "lerf": "--", "random": ":"}
_LABELS = {"morf": "MoRF", "lerf": "LeRF", "random": "random"}


def _runs(results: Mapping, marker: str, what: str) -> dict[str, Mapping]:
    """One result (it has ``marker``) as ``{"run": result}``, or a mapping of named results."""
    if not isinstance(results, Mapping) or not results:
        raise TypeError(
            f"{what} must be a result dict or a non-empty mapping name -> result, "
            f"got {type(results).__name__}"
        )
    if marker in results:
        return {"run": results}
    bad = [k for k, v in results.items() if not isinstance(v, Mapping) or marker not in v]
    if bad:
        raise ValueError(f"{what} must be results with a {marker!r} key, got entries {bad}")
    return dict(results)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, format="png")
    return path


def plot_corruption_accuracy(
    results: Mapping, path: str | Path, *, title: str | None = None
) -> Path:
    """Grouped bars: clean OA and the mean OA of each corruption, one bar per run."""
    runs = _runs(results, "corruptions", "results")
    names: list[str] = []
    for r in runs.values():
        names += [n for n in r["corruptions"] if n not in names]
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
    fig.tight_layout()
    return _save(fig, path)


def plot_deletion_curves(
    results: Mapping, path: str | Path, *, metric: str = "accuracy", title: str | None = None
) -> Path:
    """MoRF / LeRF / random curves of ``metric`` against the removed fraction, per run."""
    runs = _runs(results, "curves", "results")
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.add_subplot()
    colours = [f"C{i}" for i in range(10)]
    for i, (label, r) in enumerate(runs.items()):
        for order, curves in r["curves"].items():
            if metric not in curves:
                raise ValueError(f"metric must be one of {sorted(curves)}, got {metric!r}")
            auc = r.get("auc", {}).get(order, {}).get(metric)
            text = f"{label} {_LABELS.get(order, order)}"
            text += f" (AUC {auc:.3f})" if auc is not None else ""
            ax.plot(
                r["fractions"],
                curves[metric],
                _STYLES.get(order, "-."),
                color=colours[i % 10],
                label=text,
            )
    ax.set_xlabel("fraction of points removed")
    ax.set_ylabel(metric)
    if metric in ("accuracy", "probability"):
        ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title or "Relevance-ordered point removal")
    fig.tight_layout()
    return _save(fig, path)


def plot_class_accuracy_delta(
    before: Mapping,
    after: Mapping,
    path: str | Path,
    *,
    labels: tuple[str, str] = ("baseline", "reldrop"),
    title: str | None = None,
) -> Path:
    """Bars of ``after - before`` accuracy per class (classes of both), sorted by the delta."""
    for what, r in (("before", before), ("after", after)):
        if not isinstance(r, Mapping) or "per_class" not in r:
            raise ValueError(
                f"{what} must be an evaluate() result with 'per_class', got {type(r).__name__}"
            )
    a, b = before["per_class"], after["per_class"]
    deltas = sorted(
        (
            (name, b[name]["accuracy"] - a[name]["accuracy"])
            for name in a
            if name in b and a[name]["accuracy"] is not None and b[name]["accuracy"] is not None
        ),
        key=lambda item: item[1],
    )
    if not deltas:
        raise ValueError("before and after share no class with a defined accuracy")
    fig = Figure(figsize=(max(6.0, 0.25 * len(deltas) + 2), 4.2))
    ax = fig.add_subplot()
    ax.bar(
        range(len(deltas)),
        [d for _, d in deltas],
        color=["C3" if d < 0 else "C2" for _, d in deltas],
    )
    ax.set_xticks(range(len(deltas)), [n for n, _ in deltas], rotation=90, fontsize="small")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(f"accuracy: {labels[1]} - {labels[0]}")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or f"Per-class accuracy change ({labels[1]} vs {labels[0]})")
    fig.tight_layout()
    return _save(fig, path)
