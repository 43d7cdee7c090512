"""What the mean-pool rule changes for RelDrop on a trained DGCNN: old (even split) against new.

DGCNN pools ``[max, mean]``. Before ``PoolNorm``, the mean pool had no LRP
rule: relevance passed it as a gradient, an even split ``R_b / n_b`` per
channel to every point. Now each point gets its share ``x_p R_b / (n_b z_b)``.
On the DGCNN trained by ``benchmarks/negative_logits.py --model dgcnn`` this
measures, with the default rule map (flat first layer, epsilon 1e-6) and the
old one (``rule_map(model).without("mean_pool")``), for both output seeds:

- RelDrop (threshold, alpha = beta = 0.5, min_points 32) on fixed training
  clouds, the same random draws for both rules: points kept per cloud, and
  the overlap (Jaccard) of the dropped sets, old against new, next to the
  overlap of two draws of the new rule with different random streams (what
  the randomness of alpha = 0.5 alone gives);
- the per-cloud correlation of the two relevances;
- MoRF / LeRF deletion curves (``reldrop3d.evaluate.deletion_curves``,
  removed fractions 0, 0.1, ..., 0.9, relevance computed once) on fixed test
  clouds (for the seeds in ``--deletion-seeds``), and the random-order curve once.

    python benchmarks/mean_pool_rule.py [--checkpoint benchmarks/runs/negative_logits_dgcnn.pt]

Writes benchmarks/results/mean_pool_rule.json and .png. Needs
$RELDROP3D_DATA/modelnet40_1024.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import RESULTS, machine, write_json  # noqa: E402
from negative_logits import RUNS, load  # noqa: E402

SEEDS = ("one", "logit")


def per_cloud(values, batch, num_graphs):
    import torch

    return torch.zeros(num_graphs, dtype=torch.float64).index_add_(0, batch, values.double())


def pearson_per_cloud(a, b, batch, num_graphs):
    """Pearson correlation of ``a`` and ``b`` within each cloud ``[num_graphs]``."""
    import torch

    count = per_cloud(torch.ones_like(a), batch, num_graphs)
    da = a.double() - (per_cloud(a, batch, num_graphs) / count)[batch]
    db = b.double() - (per_cloud(b, batch, num_graphs) / count)[batch]
    cov = per_cloud(da * db, batch, num_graphs)
    var = per_cloud(da * da, batch, num_graphs) * per_cloud(db * db, batch, num_graphs)
    return cov / var.sqrt()


def drops(args, model, clouds, rules_by_name) -> dict:
    import torch
    from torch_geometric.loader import DataLoader

    from reldrop3d.drop import relevance_mask
    from reldrop3d.relevance import PointLRPComposite, point_relevance

    keys = ("kept_old", "kept_new", "jaccard", "jaccard_random")
    out = {seed: {k: [] for k in keys} for seed in SEEDS}
    out["pearson"], out["negative_logit"] = [], []
    captured = {}
    handle = model.register_forward_hook(lambda m, i, o: captured.__setitem__("logits", o.detach()))
    gen = torch.Generator().manual_seed(args.seed)
    other = torch.Generator().manual_seed(args.seed + 100)
    for batch in DataLoader(clouds, batch_size=32):
        n, b = batch.num_graphs, batch.batch
        r = {}
        for name, rules in rules_by_name.items():
            r[name] = point_relevance(model, batch, composite=PointLRPComposite(rules), seed="one")
        logit = captured["logits"][torch.arange(n), batch.y]
        out["pearson"].append(pearson_per_cloud(r["old"], r["new"], b, n))
        out["negative_logit"].append(logit < 0)
        for seed in SEEDS:
            scale = logit[b] if seed == "logit" else 1.0  # LRP is linear in its seed
            same = torch.Generator().set_state(gen.get_state())  # the same draws for both
            mask = {
                "old": relevance_mask(r["old"] * scale, b, 0.5, 0.5, "threshold", 32, same),
                "new": relevance_mask(r["new"] * scale, b, 0.5, 0.5, "threshold", 32, gen),
            }
            again = relevance_mask(r["new"] * scale, b, 0.5, 0.5, "threshold", 32, other)
            ones = torch.ones_like(r["new"], dtype=torch.float64)
            size = per_cloud(ones, b, n)
            o = out[seed]
            o["kept_old"].append(size - per_cloud(mask["old"], b, n))
            o["kept_new"].append(size - per_cloud(mask["new"], b, n))
            union = per_cloud(mask["old"] | mask["new"], b, n).clamp(min=1)
            o["jaccard"].append(per_cloud(mask["old"] & mask["new"], b, n) / union)
            union = per_cloud(mask["new"] | again, b, n).clamp(min=1)
            o["jaccard_random"].append(per_cloud(mask["new"] & again, b, n) / union)
    handle.remove()
    negative = torch.cat(out.pop("negative_logit"))
    pearson = torch.cat(out.pop("pearson"))
    summary = {
        "clouds": int(negative.numel()),
        "negative_logit_share": float(negative.float().mean()),
        "pearson_old_new": {"mean": float(pearson.mean()), "median": float(pearson.median())},
    }
    for seed in SEEDS:
        s = {k: torch.cat(v) for k, v in out[seed].items()}
        summary[seed] = {
            "kept_per_cloud_old": stats(s["kept_old"]),
            "kept_per_cloud_new": stats(s["kept_new"]),
            "jaccard_dropped_old_vs_new": stats(s["jaccard"]),
            "jaccard_dropped_new_vs_new_other_draws": stats(s["jaccard_random"]),
        }
        summary[seed]["_jaccard_values"] = s["jaccard"].tolist()
        summary[seed]["_jaccard_random_values"] = s["jaccard_random"].tolist()
    return summary


def stats(t) -> dict:
    return {"mean": float(t.mean()), "sd": float(t.std()), "median": float(t.median())}


def deletion(args, model, test, rules_by_name) -> dict:
    from torch_geometric.loader import DataLoader

    from reldrop3d.evaluate import deletion_curves
    from reldrop3d.relevance import PointLRPComposite, point_relevance

    fractions = [round(0.1 * k, 1) for k in range(10)]  # 0, 0.1, ..., 0.9
    loader = DataLoader(test, batch_size=32)
    out = {}
    for seed in args.deletion_seeds:
        for name, rules in rules_by_name.items():
            comp = PointLRPComposite(rules)

            def relevance(m, batch, comp=comp, seed=seed):
                return point_relevance(m, batch, composite=comp, seed=seed)

            t0 = time.perf_counter()
            out[f"{name}/{seed}"] = deletion_curves(
                model, loader, relevance, fractions=fractions, orders=("morf", "lerf"), seed=0
            )
            print(
                f"{name} rule, seed {seed}: MoRF accuracy AUC "
                f"{out[f'{name}/{seed}']['auc']['morf']['accuracy']:.3f}, LeRF "
                f"{out[f'{name}/{seed}']['auc']['lerf']['accuracy']:.3f} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
    out["random"] = deletion_curves(
        model, loader, "random", fractions=fractions, orders=("random",), seed=0
    )
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", default=str(RUNS / "negative_logits_dgcnn.pt"))
    p.add_argument("--points", type=int, default=512)
    p.add_argument("--train-clouds", type=int, default=256)
    p.add_argument("--test-clouds", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--deletion-seeds", nargs="+", default=["logit"], choices=SEEDS, help="seeds for MoRF"
    )
    args = p.parse_args()

    import torch

    import reldrop3d as rd
    from reldrop3d.relevance import rule_map

    state = torch.load(args.checkpoint, weights_only=True)
    model = rd.models.build(state["model"], state["num_classes"])
    model.load_state_dict(state["state_dict"])
    model.eval()
    new = rule_map(model)
    rules_by_name = {"old": new.without("mean_pool"), "new": new}
    clouds, _, _ = load("train", args.points, 0.1, args.seed, args.train_clouds)
    test, _, _ = load("test", args.points, 1.0, args.seed + 7, args.test_clouds)
    start = time.perf_counter()
    reldrop = drops(args, model, clouds, rules_by_name)
    for seed in SEEDS:
        r = reldrop[seed]
        print(
            f"seed {seed}: kept per cloud old {r['kept_per_cloud_old']['mean']:.1f}, new "
            f"{r['kept_per_cloud_new']['mean']:.1f}; dropped-set Jaccard old vs new "
            f"{r['jaccard_dropped_old_vs_new']['mean']:.3f} (two draws of new: "
            f"{r['jaccard_dropped_new_vs_new_other_draws']['mean']:.3f})",
            flush=True,
        )
    print(f"relevance correlation old vs new per cloud: {reldrop['pearson_old_new']}")
    curves = deletion(args, model, test, rules_by_name)
    result = {
        "benchmark": "mean_pool_rule",
        "command": " ".join(["python", "benchmarks/mean_pool_rule.py", *sys.argv[1:]]),
        "machine": machine(),
        "checkpoint": str(Path(args.checkpoint).name),
        "settings": {
            "points": args.points,
            "train_clouds": len(clouds),
            "train_clouds_from": "the stratified 10% training subset the DGCNN was trained on",
            "test_clouds": len(test),
            "rules": "default rule map (flat first layer, epsilon 1e-6); old = without mean_pool",
            "reldrop": "threshold, alpha 0.5, beta 0.5, min_points 32; same draws for both rules",
            "deletion": "fractions 0..0.9 step 0.1, relevance once, target = label, seeds "
            + ", ".join(args.deletion_seeds),
        },
        "reldrop": reldrop,
        "auc": {k: v["auc"] for k, v in curves.items()},
        "curves": {k: v["curves"] for k, v in curves.items()},
        "fractions": curves["random"]["fractions"],
        "wall_seconds": time.perf_counter() - start,
    }
    path = write_json("mean_pool_rule", result)
    plot(result, RESULTS / "mean_pool_rule.png")
    print(f"wrote {path}")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    f = result["fractions"]
    styles = {"old": "--", "new": "-"}
    shown = next(k.split("/")[1] for k in result["curves"] if "/" in k)
    for key, curves in result["curves"].items():
        if key == "random":
            left.plot(f, curves["random"]["accuracy"], color="grey", label="random order")
            continue
        name, seed = key.split("/")
        for order, colour in (("morf", "C3"), ("lerf", "C0")):
            if seed != shown:
                continue
            auc = result["auc"][key][order]["accuracy"]
            left.plot(
                f,
                curves[order]["accuracy"],
                styles[name],
                color=colour,
                label=f"{order.upper()}, {name} rule (AUC {auc:.3f})",
            )
    left.set_xlabel("share of points removed")
    left.set_ylabel("accuracy")
    left.set_title(f"Deletion curves, DGCNN, seed '{shown}'")
    left.legend(fontsize=7)
    for seed, colour in zip(SEEDS, ("C1", "C2")):
        r = result["reldrop"][seed]
        right.hist(
            r["_jaccard_values"],
            bins=20,
            range=(0, 1),
            alpha=0.5,
            color=colour,
            label=f"old vs new rule, seed '{seed}'",
        )
    right.hist(
        result["reldrop"]["one"]["_jaccard_random_values"],
        bins=20,
        range=(0, 1),
        histtype="step",
        color="k",
        label="new rule, two random streams",
    )
    right.set_xlabel("Jaccard overlap of the dropped points, per cloud")
    right.set_ylabel("training clouds")
    right.set_title("RelDrop's dropped sets (alpha = beta = 0.5)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
