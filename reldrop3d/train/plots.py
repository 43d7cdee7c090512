"""Training curves as a PNG."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], path: str | Path) -> Path:
    """Loss (train, validation if any, test) and accuracy (train, validation OA if any,
    test OA, test mean class) against epoch."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    fig = Figure(figsize=(10, 3.6))
    a, b = fig.subplots(1, 2)

    def curve(ax, key: str, label: str) -> None:  # the test split may be skipped in some epochs
        points = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
        if points:
            ax.plot(*zip(*points), label=label, marker="." if len(points) < 3 else None)

    curve(a, "train_loss", "train")
    curve(a, "val_loss", "validation")
    curve(a, "test_loss", "test")
    a.set_xlabel("epoch")
    a.set_ylabel("cross-entropy")
    a.legend()
    curve(b, "train_acc", "train accuracy")
    curve(b, "val_oa", "validation overall")
    curve(b, "test_oa", "test overall")
    curve(b, "test_macc", "test mean class")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.set_ylim(0, 1)
    b.legend()
    for ax in (a, b):  # epochs are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)
    return path
