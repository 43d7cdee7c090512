"""Training curves as a PNG."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], path: str | Path) -> Path:
    """Loss (train, validation if any, test) and accuracy (train, validation OA if any,
    test OA, test mean class) against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(epochs, [h["train_loss"] for h in history], label="train")
    if "val_loss" in history[-1]:
        a.plot(epochs, [h.get("val_loss") for h in history], label="validation")
    a.plot(epochs, [h["test_loss"] for h in history], label="test")
    a.set_xlabel("epoch")
    a.set_ylabel("cross-entropy")
    a.legend()
    b.plot(epochs, [h["train_acc"] for h in history], label="train accuracy")
    if "val_oa" in history[-1]:
        b.plot(epochs, [h.get("val_oa") for h in history], label="validation overall")
    b.plot(epochs, [h["test_oa"] for h in history], label="test overall")
    b.plot(epochs, [h["test_macc"] for h in history], label="test mean class")
    b.set_xlabel("epoch")
    b.set_ylabel("accuracy")
    b.set_ylim(0, 1)
    b.legend()
    for ax in (a, b):  # epochs are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path
