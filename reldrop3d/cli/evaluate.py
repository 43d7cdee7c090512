"""``reldrop3d eval`` and ``reldrop3d explain``: a checkpoint on the test split of its data."""

from __future__ import annotations

import json
from pathlib import Path

from reldrop3d.cli._args import UserError, check_device, count, device_name, output_folder, positive
from reldrop3d.names import RELEVANCE_METHODS


def add(sub) -> None:
    """The ``eval`` and ``explain`` sub-commands."""

    def checkpoint_flags(p):
        p.add_argument("--checkpoint", required=True, help="a run's last.pt or best.pt")
        p.add_argument("--data", help="data to evaluate on (default: the run's own)")
        p.add_argument("--device", type=device_name, default="cpu", help="cpu | cuda[:N] | mps")

    p = sub.add_parser("eval", help="accuracy, corruptions, point removal, relevance spread")
    checkpoint_flags(p)
    p.add_argument(
        "--corruptions",
        help="modelnet-c | modelnet40-c | all | NAME,NAME,... (generated), or modelnet-c:PATH "
        "(the official ModelNet-C files: PATH/clean.h5 and PATH/<corruption>_<level>.h5)",
    )
    p.add_argument(
        "--deletion", action="store_true", help="MoRF / LeRF / random point-removal curves and AUCs"
    )
    p.add_argument(
        "--iterative", action="store_true", help="recompute relevance after each removal step"
    )
    p.add_argument("--attribution", action="store_true", help="relevance spread and part shares")
    p.add_argument(
        "--method",
        choices=RELEVANCE_METHODS,
        default="lrp",
        help="relevance method for --deletion/--attribution",
    )
    p.add_argument("--reference", help="run (or eval.json) whose corruption results mCE divides by")
    p.add_argument(
        "--limit", type=count, default=0, help="evaluate a fixed random subset of N clouds (0: all)"
    )
    p.add_argument("--batch-size", type=positive, default=32)
    p.add_argument("--seed", type=count, default=0)
    p.add_argument("--out", help="output folder (default: <run>/eval)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("explain", help="one cloud's relevance as a coloured .ply and .png")
    checkpoint_flags(p)
    p.add_argument("--index", type=count, default=0, help="test cloud index")
    p.add_argument("--method", choices=RELEVANCE_METHODS, default="lrp")
    p.add_argument("--target", choices=("label", "pred"), default="label")
    p.add_argument("--out", required=True, help="output file stem (.ply and .png)")
    p.set_defaults(func=cmd_explain)


def find_json(path: str | Path, key: str) -> tuple[dict, Path] | None:
    """``(content, file)`` of the first of ``path``, ``path/eval.json``, ``path/eval/eval.json``
    (and ``path/per_class.json`` for ``key="per_class"``) that is a JSON file holding ``key``
    (at its top or in its ``"clean"`` section), or ``None``."""
    path = Path(path)
    names = ["", "per_class.json", "eval.json", "eval/eval.json"]
    for candidate in (path / n if n else path for n in names):
        if candidate.is_file() and candidate.suffix == ".json":
            data = json.loads(candidate.read_text())
            if key in data or key in data.get("clean", {}):
                return data, candidate
    return None


def _checkpoint_and_data(args):
    """The model of ``--checkpoint`` and the test split of ``--data`` (default: the run's data).

    Only the test split is read, so a folder that holds nothing else serves.
    """
    check_device(args.device)
    from reldrop3d.train import CheckpointError, ConfigError, TrainConfig
    from reldrop3d.train.checkpoint import model_from_checkpoint
    from reldrop3d.train.datasets import build_split

    try:
        model, state = model_from_checkpoint(args.checkpoint, args.device)
        saved = state["config"]
        cfg = TrainConfig.from_dict({k: v for k, v in saved.items() if k in TrainConfig.keys()})
        if args.data:
            cfg.data = args.data
        test = build_split(cfg.validate(), "test")
    except (CheckpointError, ConfigError, ValueError, OSError) as e:
        raise UserError(str(e)) from None
    if test.num_classes != state["num_classes"]:
        raise UserError(
            f"checkpoint {args.checkpoint} has {state['num_classes']} classes but "
            f"data {cfg.data!r} has {test.num_classes}"
        )
    return model, test


def cmd_eval(args) -> int:
    """Accuracy, corruption robustness, point-removal curves and relevance spread."""
    out = Path(args.out) if args.out else Path(args.checkpoint).resolve().parent / "eval"
    output_folder(out)
    model, test = _checkpoint_and_data(args)
    reference = None
    if args.reference:
        found = find_json(args.reference, "corruptions")
        if found is None:
            raise UserError(
                f"--reference {args.reference}: no eval.json with corruption results there "
                f"(run reldrop3d eval --corruptions on it first)"
            )
        reference = found[0]["corruptions"]
    from reldrop3d.data import random_subset

    try:
        result = evaluate_checkpoint(
            model,
            random_subset(test, args.limit, args.seed),
            corruptions=args.corruptions,
            deletion=args.deletion,
            iterative=args.iterative,
            attribution=args.attribution,
            method=args.method,
            reference=reference,
            out=out,
            batch_size=args.batch_size,
            seed=args.seed,
            device=args.device,
            label=Path(args.checkpoint).resolve().parent.name,
        )
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None
    print(result["markdown"])
    rows = [(n, r) for n, r in result["clean"]["per_class"].items() if r["count"] > 0]
    print("| class | accuracy | correct / count |\n|---|---|---|")
    for name, row in rows:
        print(f"| {name} | {row['accuracy']:.3f} | {row['correct']} / {row['count']} |")
    print(f"wrote {out}/eval.json, eval.md and plots")
    return 0


def evaluate_checkpoint(
    model,
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
            "given run" if reference is not None else "ModelNet-C DGCNN (published)"
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
        for key in ("corruptions", "deletion"):
            if key in result:
                plot({label: result[key]}, out / f"{key}.png")
    result["markdown"] = "\n".join(sections)
    return result


def cmd_explain(args) -> int:
    """Relevance of one test cloud as colours: a .ply and a .png."""
    output_folder(Path(args.out).parent, "--out (its folder)")
    model, test = _checkpoint_and_data(args)
    if not 0 <= args.index < len(test):
        raise UserError(f"--index must be in [0, {len(test)}), got {args.index}")
    from torch_geometric.data import Batch

    from reldrop3d.relevance import point_relevance
    from reldrop3d.relevance.render import save_relevance_cloud

    data = Batch.from_data_list([test[args.index]]).to(args.device)
    target = None if args.target == "label" else "pred"
    relevance = point_relevance(model, data, target=target, method=args.method)
    name = test.classes[int(data.y)]
    try:
        ply, png = save_relevance_cloud(
            data.pos, relevance, args.out, title=f"{args.method} relevance: {name} #{args.index}"
        )
    except OSError as e:
        raise UserError(f"--out {args.out}: {e.strerror or e}") from None
    print(f"wrote {ply} and {png}")
    return 0
