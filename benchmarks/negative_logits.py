"""How often RelDrop explains a negative true-class logit in training, and what the seed changes.

LRP is linear in its output seed. ``point_relevance(seed="one")`` (the
published choice) seeds the true class with 1, so each point's relevance is
its contribution divided by the logit; where the logit is negative every
sign flips and RelDrop's min-max normalised rule drops the points that
*least* support the class. ``seed="logit"`` seeds with the logit and keeps
the signs. Where the logit is positive the two give the same ranking, so
they drop the same points.

A plain training loop on real ModelNet40 (public API, as README's "In your
own training loop"): Adam 1e-3, weight decay 1e-4, batch 32, RelDrop alpha =
beta = 0.5, threshold rule, dropped points removed, published seed "one",
random anisotropic scale [0.8, 1.25] and shift 0.1 after dropping. For every
training cloud, at the moment it is explained (eval mode, the explanation's
own forward pass), it records the true-class logit, whether the cloud is
misclassified, and, for clouds with a negative logit, how much the points
dropped under "one" and under "logit" overlap (the same random draws; the
drop under "logit" is computed, not trained on).

    python benchmarks/negative_logits.py --model pointnet --points 1024 --epochs 10
    python benchmarks/negative_logits.py --model dgcnn --points 512 --subset 0.1 --epochs 6

Writes benchmarks/results/negative_logits_<model>.json after every epoch,
negative_logits.png from every such JSON found, and the trained weights to
benchmarks/runs/negative_logits_<model>.pt (git-ignored; benchmarks/mean_pool_rule.py
reads the DGCNN one). Needs $RELDROP3D_DATA/modelnet40_1024.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RESULTS, machine, write_json  # noqa: E402

RUNS = Path(__file__).resolve().parent / "runs"


def stratified_subset(labels, fraction: float, seed: int):
    """Indices of ``ceil(fraction * n_c)`` clouds of each class ``c`` (a seeded permutation)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(labels.numel(), generator=g)
    keep = []
    for c in labels.unique():  # a loop over 40 classes, once, before training
        members = perm[labels[perm] == c]
        keep.append(members[: max(1, int(-(-fraction * members.numel() // 1)))])
    return torch.cat(keep).sort().values


def load(split: str, points: int, fraction: float, seed: int, limit: int | None = None):
    import torch

    from reldrop3d.data import ModelNet40, default_data_root

    root = default_data_root() / "modelnet40_1024"
    if not (root / "train.h5").is_file():
        raise SystemExit(f"real ModelNet40 not found at {root}; set RELDROP3D_DATA")
    ds = ModelNet40(root, split, num_points=points)
    labels = torch.cat([ds[i].y.view(-1) for i in range(len(ds))])
    idx = stratified_subset(labels, fraction, seed) if fraction < 1 else torch.arange(len(ds))
    if limit is not None and limit < idx.numel():
        g = torch.Generator().manual_seed(seed + 1)
        idx = idx[torch.randperm(idx.numel(), generator=g)[:limit]].sort().values
    return [ds[i] for i in idx.tolist()], ds.num_classes, labels[idx]


def per_cloud_sum(values, batch, num_graphs):
    import torch

    return torch.zeros(num_graphs, dtype=torch.float32).index_add_(0, batch, values.float())


def train(args) -> dict:
    import torch
    from torch_geometric.loader import DataLoader
    from torch_geometric.transforms import Compose

    import reldrop3d as rd
    from reldrop3d.data.transforms import ScaleClouds, ShiftClouds
    from reldrop3d.drop import apply_fill, relevance_mask

    torch.manual_seed(args.seed)
    clouds, num_classes, labels = load("train", args.points, args.subset, args.seed)
    test, _, _ = load("test", args.points, 1.0, args.seed, args.test_limit)
    model = rd.models.build(args.model, num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loader_gen = torch.Generator().manual_seed(args.seed)
    drop_gen = torch.Generator().manual_seed(args.seed + 1)
    augment = Compose(
        [
            ScaleClouds(0.8, 1.25, generator=torch.Generator().manual_seed(args.seed + 2)),
            ShiftClouds(0.1, generator=torch.Generator().manual_seed(args.seed + 3)),
        ]
    )
    loader = DataLoader(clouds, batch_size=32, shuffle=True, generator=loader_gen)
    captured = {}
    model.register_forward_hook(lambda m, i, out: captured.__setitem__("logits", out.detach()))
    epochs = []
    result = {
        "benchmark": "negative_logits",
        "command": " ".join(["python", "benchmarks/negative_logits.py", *sys.argv[1:]]),
        "machine": machine(),
        "model": args.model,
        "settings": {
            "points": args.points,
            "train_subset": args.subset,
            "train_clouds": len(clouds),
            "epochs": args.epochs,
            "batch_size": 32,
            "optimiser": "Adam lr 1e-3, weight decay 1e-4, no schedule",
            "reldrop": "alpha 0.5, beta 0.5, threshold, fill remove, min_points 32",
            "trained_with_seed": "one",
            "augment": "anisotropic scale [0.8, 1.25], shift 0.1, after dropping",
            "seed": args.seed,
        },
        "what_was_cut": args.cut,
        "epochs": epochs,
    }
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        logits_true, wrong, jaccard_neg, differs_pos = [], [], [], 0
        losses = []
        for batch in loader:
            n = batch.num_graphs
            r = rd.relevance.point_relevance(model, batch, seed="one")  # eval mode, true class
            logit = captured["logits"][torch.arange(n), batch.y]
            state = drop_gen.get_state()
            drop = relevance_mask(
                r, batch.batch, 0.5, 0.5, "threshold", 32, drop_gen, ptr=batch.ptr
            )
            same_draws = torch.Generator().set_state(state)
            r_logit = r * logit[batch.batch]  # LRP is linear in the seed: seed="logit"
            drop_logit = relevance_mask(
                r_logit, batch.batch, 0.5, 0.5, "threshold", 32, same_draws, ptr=batch.ptr
            )
            inter = per_cloud_sum(drop & drop_logit, batch.batch, n)
            union = per_cloud_sum(drop | drop_logit, batch.batch, n).clamp(min=1)
            neg = logit < 0
            jaccard_neg.append((inter / union)[neg])
            differs_pos += int(((inter != union) & ~neg).sum())
            logits_true.append(logit)
            wrong.append(captured["logits"].argmax(-1) != batch.y)
            dropped = augment(apply_fill(batch, drop, "remove"))
            model.train()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(dropped), dropped.y)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        logit = torch.cat(logits_true)
        wrong = torch.cat(wrong)
        neg = logit < 0
        jac = torch.cat(jaccard_neg)
        row = {
            "epoch": epoch,
            "clouds": int(logit.numel()),
            "negative_share": float(neg.float().mean()),
            "negative_count": int(neg.sum()),
            "negative_and_correct": int((neg & ~wrong).sum()),
            "misclassified_share": float(wrong.float().mean()),
            "true_logit_median": float(logit.median()),
            "jaccard_one_vs_logit_on_negative": float(jac.mean()) if jac.numel() else None,
            "positive_clouds_with_different_drops": differs_pos,
            "train_loss": sum(losses) / len(losses),
            "seconds": time.perf_counter() - t0,
        }
        epochs.append(row)
        print(
            f"{args.model} epoch {epoch}: negative {row['negative_share']:.3f} "
            f"({row['negative_count']}/{row['clouds']}, {row['negative_and_correct']} of them "
            f"correct), misclassified {row['misclassified_share']:.3f}, jaccard(one, logit) on "
            f"negatives {row['jaccard_one_vs_logit_on_negative']}, loss {row['train_loss']:.3f}, "
            f"{row['seconds']:.0f} s",
            flush=True,
        )
        result["wall_seconds"] = time.perf_counter() - start
        write_json(f"negative_logits_{args.model}", result)
    result["test_accuracy"] = accuracy(model, test)
    result["test_clouds"] = len(test)
    result["wall_seconds"] = time.perf_counter() - start
    print(f"{args.model}: test accuracy {result['test_accuracy']:.3f} on {len(test)} clouds")
    write_json(f"negative_logits_{args.model}", result)
    RUNS.mkdir(exist_ok=True)
    torch.save(
        {"model": args.model, "num_classes": num_classes, "state_dict": model.state_dict()},
        RUNS / f"negative_logits_{args.model}.pt",
    )
    return result


def accuracy(model, clouds) -> float:
    import torch
    from torch_geometric.loader import DataLoader

    model.eval()
    right = 0
    with torch.no_grad():
        for batch in DataLoader(clouds, batch_size=32):
            right += int((model(batch).argmax(-1) == batch.y).sum())
    return right / len(clouds)


def plot(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for file in sorted(RESULTS.glob("negative_logits_*.json")):
        if file.stem.endswith("_quick"):
            continue
        r = json.loads(file.read_text())
        e = [row["epoch"] for row in r["epochs"]]
        s = r["settings"]
        label = f"{r['model']} ({s['points']} pts, {s['train_clouds']} clouds)"
        line = ax.plot(e, [100 * row["negative_share"] for row in r["epochs"]], "o-", label=label)
        ax.plot(
            e,
            [100 * row["misclassified_share"] for row in r["epochs"]],
            ":",
            color=line[0].get_color(),
            label=f"{r['model']}: misclassified",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("% of training clouds")
    ax.set_title("True-class logit < 0 when RelDrop explains the cloud (eval mode)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="pointnet", choices=["pointnet", "pointnet2", "dgcnn"])
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--subset", type=float, default=1.0, help="stratified share of train clouds")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--test-limit", type=int, default=None, help="fixed random test clouds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cut", default="", help="what was cut to fit the CPU, for the JSON")
    p.add_argument("--plot-only", action="store_true", help="redraw the PNG from the JSONs")
    args = p.parse_args()
    if not args.plot_only:
        train(args)
    plot(RESULTS / "negative_logits.png")


if __name__ == "__main__":
    main()
