r"""Classification accuracy, clean and under corruptions, and ModelNet-C's mCE / RmCE.

For predictions :math:`\hat y` and labels :math:`y` of ``M`` clouds and ``C`` classes:

- overall accuracy :math:`OA = \frac{1}{M}\sum_m [\hat y_m = y_m]`;
- class accuracy :math:`A_c = \frac{|\{m: y_m = c, \hat y_m = c\}|}{|\{m: y_m = c\}|}`
  (undefined for a class with no cloud);
- mean class accuracy :math:`mAcc` = mean of the defined :math:`A_c`.

Robustness (ModelNet-C, Ren et al. 2022, ``modelnetc_utils/eval.py``): with
:math:`OA_i` the accuracy under corruption ``i`` averaged over its five levels
and ``ref`` a reference model (DGCNN in the paper, :data:`MODELNET_C_DGCNN`),

.. math::
    CE_i = \frac{1 - OA_i}{1 - OA_i^{ref}}, \qquad
    RCE_i = \frac{OA_{clean} - OA_i}{OA^{ref}_{clean} - OA_i^{ref}}, \qquad
    mCE = \overline{CE_i}, \quad RmCE = \overline{RCE_i}, \quad mOA = \overline{OA_i}.

**Division by zero.** When a reference denominator is 0 (a perfect reference,
or one that loses no accuracy), the ratio is 1 if its numerator is 0 too
(the run does exactly as well) and *undefined* otherwise: it is reported as
``None`` and left out of the mean (which is ``None`` when no ratio is
defined). ModelNet-C rounds intermediate values to three decimals; nothing is
rounded here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from reldrop3d.evaluate._corruptions import LEVELS, resolve
from reldrop3d.evaluate._running import (
    base_seed,
    batches,
    class_names,
    eval_mode,
    labels_of,
    num_classes_of,
    resolve_device,
    seeded,
)

__all__ = [
    "MODELNET_C_DGCNN",
    "class_accuracies",
    "confusion_matrix",
    "corruption_accuracy",
    "corruption_errors",
    "evaluate",
    "mce",
    "mean_class_accuracy",
    "modelnet_c_accuracy",
    "overall_accuracy",
    "per_class_table",
    "predict",
    "relative_corruption_errors",
    "rmce",
    "robustness_summary",
]

#: DGCNN's accuracy on ModelNet-C (clean, and each corruption averaged over its levels),
#: the reference of the paper's mCE / RmCE (``DGCNN_OA`` in ``modelnetc_utils/eval.py``).
MODELNET_C_DGCNN: dict[str, float] = {
    "clean": 0.926,
    "scale": 0.906,
    "jitter": 0.684,
    "rotate": 0.785,
    "drop_global": 0.752,
    "drop_local": 0.793,
    "add_global": 0.705,
    "add_local": 0.725,
}

_TOL = 1e-12


# ----------------------------------------------------------------------------- metrics


def _check_pair(pred: Tensor, target: Tensor) -> None:
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, Tensor) or t.dim() != 1 or t.is_floating_point():
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise TypeError(f"{name} must be a 1-D integer tensor [M], got {got}")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )


def overall_accuracy(pred: Tensor, target: Tensor) -> float:
    """Share of correct predictions :math:`OA` (``nan`` for no cloud)."""
    _check_pair(pred, target)
    if pred.numel() == 0:
        return float("nan")
    return float((pred == target).double().mean())


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """``[C, C]`` counts: row = true class, column = predicted class."""
    _check_pair(pred, target)
    index = target.long() * num_classes + pred.long()
    return torch.bincount(index, minlength=num_classes * num_classes).view(num_classes, num_classes)


def class_accuracies(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Accuracy of each class ``[C]`` (float64; ``nan`` for a class with no cloud)."""
    _check_pair(pred, target)
    count = torch.bincount(target.long(), minlength=num_classes).double()
    correct = torch.bincount(target.long()[pred == target], minlength=num_classes).double()
    return torch.where(count > 0, correct / count.clamp(min=1), float("nan"))


def mean_class_accuracy(pred: Tensor, target: Tensor, num_classes: int) -> float:
    """Mean of the defined class accuracies :math:`mAcc` (``nan`` if none is defined)."""
    acc = class_accuracies(pred, target, num_classes)
    return float(acc.nanmean()) if bool((~acc.isnan()).any()) else float("nan")


def per_class_table(pred: Tensor, target: Tensor, names: Sequence[str]) -> dict[str, dict]:
    """``{class name: {"accuracy": A_c or None, "correct": int, "count": int}}``."""
    num_classes = len(names)
    count = torch.bincount(target.long(), minlength=num_classes)
    correct = torch.bincount(target.long()[pred == target], minlength=num_classes)
    table = {}
    for c, name in enumerate(names):
        n, k = int(count[c]), int(correct[c])
        table[name] = {"accuracy": k / n if n else None, "correct": k, "count": n}
    return table


# ----------------------------------------------------------------------------- running


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None = None,
    transform: Callable | None = None,
) -> tuple[Tensor, Tensor]:
    """``(pred [M], target [M])`` on the CPU for every cloud of the loader.

    The model runs in eval mode (restored afterwards) without gradients;
    ``transform`` (e.g. a corruption) maps each batch, on ``device``, before the
    model sees it.
    """
    device = resolve_device(model, device)
    preds, targets = [], []
    with eval_mode(model):
        for batch in batches(loader, device):
            if transform is not None:
                batch = transform(batch)
            preds.append(model(batch).argmax(dim=-1).cpu())
            targets.append(labels_of(batch).cpu())
    if not preds:
        raise ValueError("loader must yield at least one batch, got none")
    return torch.cat(preds), torch.cat(targets)


def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None = None,
    *,
    num_classes: int | None = None,
    names: Sequence[str] | None = None,
    transform: Callable | None = None,
) -> dict:
    """Clean accuracy of ``model`` on ``loader``: a JSON-able dict.

    Returns ``{"oa", "macc", "num_samples", "per_class": {name: {"accuracy",
    "correct", "count"}}}``. ``num_classes`` defaults to the model's or the
    dataset's; class names to ``loader.dataset.classes``.
    """
    pred, target = predict(model, loader, device, transform)
    num_classes = num_classes_of(model, loader, num_classes)
    if num_classes is None:
        num_classes = int(max(pred.max(), target.max())) + 1
    names = list(names) if names is not None else class_names(loader, num_classes)
    if len(names) != num_classes:
        raise ValueError(f"names must hold num_classes = {num_classes} names, got {len(names)}")
    return {
        "oa": overall_accuracy(pred, target),
        "macc": mean_class_accuracy(pred, target, num_classes),
        "num_samples": int(target.numel()),
        "per_class": per_class_table(pred, target, names),
    }


def corruption_accuracy(
    model: nn.Module,
    loader: Iterable,
    corruptions: str | Sequence[str] | Mapping[str, Callable] = "modelnet-c",
    levels: Iterable[int] = LEVELS,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    num_classes: int | None = None,
    clean: bool = True,
) -> dict:
    """Accuracy under each corruption and level (ModelNet-C protocol): a JSON-able dict.

    ``corruptions``: a suite name (``"modelnet-c"``, ``"modelnet40-c"``, ``"all"``),
    comma-separated names, a list of names, or ``{name: f(batch, level, generator)}``
    of one's own. Every batch is corrupted on the fly, on ``device``. Corruption ``name`` at
    ``level`` draws from its own generator seeded from ``(seed, name, level)``,
    so a result does not depend on which other corruptions run, and the same
    seed and loader order give the same numbers. A ``generator`` replaces
    ``seed`` by one seed drawn from it.

    Returns::

        {"seed": int, "levels": [0, ..., 4],
         "clean": {"oa", "macc"},                       # with clean=True
         "corruptions": {name: {"oa": [per level], "macc": [per level],
                                "mean_oa": float}},     # mean over the levels
         "mean_oa": float}                              # mOA: mean over corruptions
    """
    device = resolve_device(model, device)
    levels = [int(level) for level in levels]
    if not levels:
        raise ValueError("levels must name at least one level, got none")
    corruptions = resolve(corruptions)
    seed = base_seed(seed, generator)
    num_classes = num_classes_of(model, loader, num_classes)

    def scores(transform: Callable | None) -> tuple[float, float]:
        pred, target = predict(model, loader, device, transform)
        classes = num_classes or int(max(pred.max(), target.max())) + 1
        return overall_accuracy(pred, target), mean_class_accuracy(pred, target, classes)

    out: dict = {"seed": seed, "levels": levels}
    if clean:
        oa, macc = scores(None)
        out["clean"] = {"oa": oa, "macc": macc}

    def score(name: str, level: int) -> tuple[float, float]:
        gen = seeded(seed, device, name, level)
        return scores(lambda b, f=corruptions[name], lv=level, g=gen: f(b, lv, g))

    out.update(_by_level(corruptions, levels, score))
    return out


def modelnet_c_accuracy(
    model: nn.Module,
    root: str,
    *,
    classes: Sequence[str] | None = None,
    indices: Sequence[int] | None = None,
    levels: Iterable[int] = LEVELS,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> dict:
    """Accuracy on the official ModelNet-C files in ``root`` (:class:`~reldrop3d.data.ModelNetC`),
    so that results compare with the published tables; the same dict as
    :func:`corruption_accuracy`, with ``"files": root`` instead of a seed.

    ``indices`` evaluates the same subset of the test clouds in every file.
    """
    from torch.utils.data import Subset
    from torch_geometric.loader import DataLoader

    from reldrop3d.data.modelnet import MODELNET_C_FILES, ModelNetC

    device = resolve_device(model, device)
    levels = [int(level) for level in levels]
    num_classes = len(classes) if classes is not None else 40

    def score(name: str, level: int) -> tuple[float, float]:
        data = ModelNetC(root, name, level, classes=classes)
        if indices is not None:
            data = Subset(data, list(indices))
        pred, target = predict(model, DataLoader(data, batch_size=batch_size), device)
        return overall_accuracy(pred, target), mean_class_accuracy(pred, target, num_classes)

    oa, macc = score("clean", 0)
    out: dict = {"files": str(root), "levels": levels, "clean": {"oa": oa, "macc": macc}}
    out.update(_by_level(MODELNET_C_FILES, levels, score))
    return out


def _by_level(names: Iterable[str], levels: list[int], score: Callable) -> dict:
    """``{"corruptions": {name: {"oa": [...], "macc": [...], "mean_oa"}}, "mean_oa"}``
    from ``score(name, level) -> (oa, macc)``."""
    table = {}
    for name in names:
        oas, maccs = zip(*(score(name, level) for level in levels))
        table[name] = {"oa": list(oas), "macc": list(maccs), "mean_oa": sum(oas) / len(oas)}
    means = [c["mean_oa"] for c in table.values()]
    return {"corruptions": table, "mean_oa": sum(means) / len(means)}


# ----------------------------------------------------------------------------- mCE / RmCE


def _accuracies(results: Mapping, what: str) -> dict[str, float]:
    """``{"clean": OA, name: mean OA}`` of a :func:`corruption_accuracy` result or a flat table."""
    if not isinstance(results, Mapping):
        raise TypeError(
            f"{what} must be a corruption_accuracy result or a mapping name -> OA, "
            f"got {type(results).__name__}"
        )
    if "corruptions" in results:
        flat = {name: float(c["mean_oa"]) for name, c in results["corruptions"].items()}
        if "clean" in results:
            flat["clean"] = float(results["clean"]["oa"])
        return flat
    return {str(k): float(v) for k, v in results.items()}


def _ratio(num: float, den: float) -> float | None:
    if abs(den) <= _TOL:
        return 1.0 if abs(num) <= _TOL else None
    return num / den


def _mean(values: Iterable[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def _shared(ours: dict, ref: dict) -> list[str]:
    names = [n for n in ours if n != "clean" and n in ref]
    if not names:
        raise ValueError(
            f"results and reference share no corruption: results has "
            f"{sorted(n for n in ours if n != 'clean')}, reference has "
            f"{sorted(n for n in ref if n != 'clean')}"
        )
    return names


def corruption_errors(
    results: Mapping, reference: Mapping = MODELNET_C_DGCNN
) -> dict[str, float | None]:
    r""":math:`CE_i = (1 - OA_i) / (1 - OA_i^{ref})` for each corruption both have.

    ``results`` and ``reference`` are :func:`corruption_accuracy` results or flat
    ``{name: mean OA}`` tables such as :data:`MODELNET_C_DGCNN`. ``None`` where
    undefined (module docstring).
    """
    ours, ref = _accuracies(results, "results"), _accuracies(reference, "reference")
    return {n: _ratio(1.0 - ours[n], 1.0 - ref[n]) for n in _shared(ours, ref)}


def relative_corruption_errors(
    results: Mapping, reference: Mapping = MODELNET_C_DGCNN
) -> dict[str, float | None]:
    r""":math:`RCE_i = (OA_{clean} - OA_i) / (OA^{ref}_{clean} - OA_i^{ref})` per corruption."""
    ours, ref = _accuracies(results, "results"), _accuracies(reference, "reference")
    for what, table in (("results", ours), ("reference", ref)):
        if "clean" not in table:
            raise ValueError(
                f"{what} must hold the clean accuracy for RmCE, got only {sorted(table)}"
            )
    return {n: _ratio(ours["clean"] - ours[n], ref["clean"] - ref[n]) for n in _shared(ours, ref)}


def mce(results: Mapping, reference: Mapping = MODELNET_C_DGCNN) -> float | None:
    """Mean corruption error: the mean of the defined :func:`corruption_errors`."""
    return _mean(corruption_errors(results, reference).values())


def rmce(results: Mapping, reference: Mapping = MODELNET_C_DGCNN) -> float | None:
    """Relative mean corruption error: mean of the defined :func:`relative_corruption_errors`."""
    return _mean(relative_corruption_errors(results, reference).values())


def robustness_summary(results: Mapping, reference: Mapping = MODELNET_C_DGCNN) -> dict:
    """mCE, RmCE and mOA of ``results`` against ``reference``, with the per-corruption ratios.

    Returns ``{"mce", "rmce", "moa", "ce": {name: CE}, "rce": {name: RCE},
    "undefined": [names with an undefined CE or RCE], "unmatched": [corruptions
    of results missing from the reference]}``; ``moa`` averages the compared
    corruptions only; RmCE entries are ``None`` when either side lacks the
    clean accuracy.
    """
    ours, ref = _accuracies(results, "results"), _accuracies(reference, "reference")
    ce = corruption_errors(results, reference)
    has_clean = "clean" in ours and "clean" in ref
    rce = relative_corruption_errors(results, reference) if has_clean else dict.fromkeys(ce)
    return {
        "mce": _mean(ce.values()),
        "rmce": _mean(rce.values()) if has_clean else None,
        "moa": sum(ours[n] for n in ce) / len(ce),
        "ce": ce,
        "rce": rce,
        "undefined": [n for n in ce if ce[n] is None or (has_clean and rce[n] is None)],
        "unmatched": [n for n in ours if n != "clean" and n not in ref],
    }
