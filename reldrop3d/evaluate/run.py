"""Evaluate a training checkpoint: what ``reldrop3d eval`` runs."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch.utils.data import Subset
from torch_geometric.loader import DataLoader

from reldrop3d.evaluate import (
    MODELNET_C_DGCNN,
    attribution_report,
    corruption_accuracy,
    deletion_curves,
    evaluate,
    modelnet_c_accuracy,
    plot,
    robustness_summary,
    table,
)


def load_reference(path: str | Path) -> dict:
    """Corruption results of a reference run: its folder, its ``eval`` folder or ``eval.json``."""
    path = Path(path)
    for candidate in (path, path / "eval.json", path / "eval" / "eval.json"):
        if candidate.is_file():
            data = json.loads(candidate.read_text())
            if "corruptions" not in data:
                raise ValueError(
                    f"reference {candidate} holds no corruption results "
                    f"(run reldrop3d eval --corruptions on it first)"
                )
            return data["corruptions"]
    raise FileNotFoundError(
        f"reference {path}: no eval.json found (looked in {path}, "
        f"{path / 'eval.json'} and {path / 'eval' / 'eval.json'})"
    )


def test_subset(dataset, limit: int | None, seed: int):
    """The whole test set, or a fixed random subset of ``limit`` clouds (same for every run)."""
    if not limit or limit >= len(dataset):
        return dataset
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(dataset), generator=g)[:limit].sort().values.tolist()
    subset = Subset(dataset, idx)
    for attr in ("classes", "num_classes", "num_parts", "part_names", "class_parts"):
        if hasattr(dataset, attr):
            setattr(subset, attr, getattr(dataset, attr))
    return subset


def evaluate_checkpoint(
    model: torch.nn.Module,
    dataset,
    *,
    corruptions: str | None = None,
    deletion: bool = False,
    iterative: bool = False,
    attribution: bool = False,
    method: str = "lrp",
    reference: dict | None = None,
    out: str | Path | None = None,
    batch_size: int = 32,
    seed: int = 0,
    device: str = "cpu",
    label: str = "model",
) -> dict:
    """Clean accuracy, and on request corruption accuracy (with mCE/RmCE), MoRF/LeRF/random
    deletion curves and relevance spread; JSON, Markdown tables and PNGs in ``out``.

    ``reference`` (corruption results of another run) is what mCE/RmCE divide
    by; without one, ModelNet-C's published DGCNN figures are used.
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    result: dict = {"clean": evaluate(model, loader, device)}
    sections = [
        f"## Clean\n\nOA {result['clean']['oa']:.4f}, mean class accuracy "
        f"{result['clean']['macc']:.4f} on {result['clean']['num_samples']} clouds\n"
    ]
    if corruptions:
        if corruptions.startswith("modelnet-c:"):  # the official files, not generated
            res = modelnet_c_accuracy(
                model,
                corruptions.split(":", 1)[1],
                classes=getattr(dataset, "classes", None),
                indices=getattr(dataset, "indices", None),
                batch_size=batch_size,
                device=device,
            )
        else:
            res = corruption_accuracy(model, loader, corruptions, seed=seed, device=device)
        ref = reference if reference is not None else MODELNET_C_DGCNN
        result["corruptions"] = res
        result["robustness"] = robustness_summary(res, ref)
        result["robustness"]["reference"] = (
            "given run" if reference is not None else ("ModelNet-C DGCNN (published)")
        )
        sections.append(
            "## Corruptions (accuracy)\n\n"
            + table({label: res}, reference=ref)
            + "\n\n"
            + table(res, levels=True)
            + "\n"
        )
    if deletion:
        res = deletion_curves(model, loader, method, iterative=iterative, seed=seed, device=device)
        result["deletion"] = res
        sections.append("## Point removal (AUC)\n\n" + table({label: res}) + "\n")
    if attribution:
        energy = getattr(dataset, "class_parts", None)
        res = attribution_report(
            model, loader, method, energy_parts=energy, seed=seed, device=device
        )
        result["attribution"] = res
        sections.append("## Relevance spread\n\n" + table({label: res}) + "\n")
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
        (out / "eval.md").write_text("\n".join(sections))
        if "corruptions" in result:
            plot({label: result["corruptions"]}, out / "corruptions.png")
        if "deletion" in result:
            plot({label: result["deletion"]}, out / "deletion.png")
    result["markdown"] = "\n".join(sections)
    return result
