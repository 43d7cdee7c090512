r"""Relevance-ordered point removal: MoRF, LeRF and random deletion curves.

For every cloud of ``n_i`` points and every removed fraction :math:`f_k` (by
default :math:`0, 0.05, \ldots, 0.9`), the :math:`\operatorname{round}(f_k n_i)`
points first in an order are removed and the model re-evaluated:

- ``"morf"``: most relevant first (descending relevance);
- ``"lerf"``: least relevant first (ascending relevance);
- ``"random"``: a uniformly random order, drawn once per cloud.

The removed sets are nested (the points removed at :math:`f_k` are also
removed at :math:`f_{k+1}`). Relevance is computed once on the full cloud
(the occlusion protocol); with ``iterative=True`` it is recomputed on what
is left after each step and the next points are taken in the new order
(Zheng et al., ICCV 2019). After each step the curves record

- ``accuracy``: share of clouds whose prediction equals the label,
- ``logit``: mean logit of the target class,
- ``probability``: mean softmax probability of the target class,

and each curve is summarised by its normalised area
:math:`\mathrm{AUC} = \frac{1}{f_K - f_0} \int_{f_0}^{f_K} y\, df` (trapezoid rule;
for accuracy and probability in ``[0, 1]``). A model that relies on its most
relevant points loses accuracy fast under MoRF (low AUC) and slowly under
LeRF (high AUC); a model robust to occlusion keeps a high MoRF AUC.

The removal is :class:`reldrop3d.drop.RelDrop` with ``mode="topk"``,
``alpha=0``, ``beta=f_k``, ``fill="remove"``, applied to the full batch with a
score whose order is the removal order (per-cloud ranks of the relevance,
its negation, or random keys), so each step removes exactly
:math:`\operatorname{round}(f_k n_i)` points of every cloud at once, with no loop over
the clouds. (Random removal with one fixed random order per cloud, rather
than ``RelDrop(alpha=1)`` drawn anew at each step, keeps the random curve's
removed sets nested like the others.)
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor, nn

from reldrop3d.data.batching import to_dense
from reldrop3d.drop import RelDrop
from reldrop3d.evaluate._corruptions import rank_in_row
from reldrop3d.evaluate._running import (
    Relevance,
    base_seed,
    batches,
    eval_mode,
    labels_of,
    relevance_function,
    resolve_device,
    seeded,
)

#: Removal orders.
ORDERS = ("morf", "lerf", "random")
#: Quantities recorded after each step.
METRICS = ("accuracy", "logit", "probability")
#: Removed fractions by default: 0 to 0.9 in steps of 0.05.
FRACTIONS = tuple(round(0.05 * k, 12) for k in range(19))


def _check_fractions(fractions: Sequence[float] | None) -> list[float]:
    if fractions is None:
        return list(FRACTIONS)
    values = [float(f) for f in fractions]
    if (
        not values
        or any(not 0 <= f <= 1 for f in values)
        or any(b <= a for a, b in zip(values, values[1:]))
    ):
        raise ValueError(f"fractions must be increasing values in [0, 1], got {list(fractions)}")
    return values


def _check_orders(orders: Sequence[str]) -> list[str]:
    orders = list(orders)
    bad = [o for o in orders if o not in ORDERS]
    if bad or not orders:
        raise ValueError(f"orders must be a non-empty subset of {ORDERS}, got {orders!r}")
    return orders


def deletion_curves(
    model: nn.Module,
    loader: Iterable,
    method: Relevance = "lrp",
    *,
    fractions: Sequence[float] | None = None,
    orders: Sequence[str] = ORDERS,
    iterative: bool = False,
    target: str | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    relevance_kwargs: dict | None = None,
) -> dict:
    """MoRF / LeRF / random deletion curves of ``model`` on ``loader``: a JSON-able dict.

    Args:
        model: a classifier ``forward(batch) -> logits [num_graphs, C]``.
        loader: yields PyG batches with labels ``y``.
        method: a :func:`reldrop3d.relevance.point_relevance` method name, or a
            callable ``(model, batch) -> relevance [P]`` (higher = more relevant).
        fractions: increasing removed fractions in ``[0, 1]`` (default: 0 to 0.9 in
            steps of 0.05).
        orders: any of :data:`ORDERS`.
        iterative: recompute the relevance after each step (see the module docstring).
        target: ``None``: the label is the target class of the relevance and of
            the logit; ``"pred"``: the class predicted on the full cloud.
        seed: seeds the random order and the ``"random"`` relevance method, per
            batch; a ``generator`` replaces it by one seed drawn from it.
        device: where to run (default: the model's).
        relevance_kwargs: more keyword arguments for ``point_relevance``.

    Returns::

        {"method": str, "iterative": bool, "target": "label" | "pred", "seed": int,
         "num_samples": int, "fractions": [f_0, ..., f_K],
         "curves": {order: {"accuracy": [...], "logit": [...], "probability": [...]}},
         "auc": {order: {"accuracy": float, "logit": float, "probability": float}}}
    """
    fractions = _check_fractions(fractions)
    orders = _check_orders(orders)
    if target not in (None, "pred"):
        raise ValueError(f"target must be None (the label) or 'pred', got {target!r}")
    device = resolve_device(model, device)
    relevance_of = relevance_function(method, relevance_kwargs)
    seed = base_seed(seed, generator)
    sums = {o: torch.zeros(len(fractions), len(METRICS), dtype=torch.float64) for o in orders}
    total = 0
    with eval_mode(model):
        for index, batch in enumerate(batches(loader, device)):
            label = labels_of(batch)
            with torch.no_grad():
                full = model(batch)
            goal = label if target is None else full.argmax(dim=-1)
            gen = seeded(seed, device, "deletion", index)
            relevance = None
            if not iterative and any(o != "random" for o in orders):
                relevance = relevance_of(model, batch, goal, gen).detach()
            for order in orders:
                run = _run_iterative if iterative and order != "random" else _run_once
                for k, logits in enumerate(
                    run(model, batch, order, fractions, relevance, relevance_of, goal, gen)
                ):
                    sums[order][k] += _step_metrics(logits, label, goal)
            total += int(label.numel())
    if total == 0:
        raise ValueError("loader must yield at least one cloud, got none")
    curves = {
        o: {m: (sums[o][:, j] / total).tolist() for j, m in enumerate(METRICS)} for o in orders
    }
    auc = {o: {m: _auc(fractions, v) for m, v in c.items()} for o, c in curves.items()}
    name = method if isinstance(method, str) else getattr(method, "__name__", "custom")
    return {
        "method": name,
        "iterative": bool(iterative),
        "target": "label" if target is None else "pred",
        "seed": seed,
        "num_samples": total,
        "fractions": fractions,
        "curves": curves,
        "auc": auc,
    }


def _auc(fractions: list[float], values: list[float]) -> float:
    r"""Normalised trapezoid area of ``values`` over increasing ``fractions``; one point's value.

    :math:`\frac{1}{x_K - x_0}\sum_k \frac{(x_{k+1} - x_k)(y_k + y_{k+1})}{2}`.
    """
    if len(fractions) == 1:
        return values[0]
    x = torch.tensor(fractions, dtype=torch.float64)
    return float(torch.trapezoid(torch.tensor(values, dtype=torch.float64), x) / (x[-1] - x[0]))


def _ranks(relevance: Tensor, batch) -> Tensor:
    """Rank ``[P]`` of each point's relevance within its cloud of ``batch`` (0 = least relevant),
    as float; distinct per cloud (ties by position), so a top-``k`` by rank has no ties."""
    dense, valid = to_dense(batch, relevance.detach())
    return rank_in_row(dense.masked_fill(~valid, float("inf")))[valid].to(relevance.dtype)


def _step_metrics(logits: Tensor, label: Tensor, goal: Tensor) -> Tensor:
    """Sums over the batch of ``(correct, target logit, target probability)``: ``[3]``."""
    rows = torch.arange(logits.size(0), device=logits.device)
    correct = (logits.argmax(dim=-1) == label).double().sum()
    logit = logits[rows, goal].double().sum()
    prob = logits.double().softmax(dim=-1)[rows, goal].sum()
    return torch.stack([correct, logit, prob]).cpu()


def _dropper(fraction: float, generator: torch.Generator) -> RelDrop:
    return RelDrop(
        alpha=0.0,
        beta=fraction,
        mode="topk",
        fill="remove",
        min_points=1,
        generator=generator,
        validate=False,
    )


def _order_scores(order: str, relevance: Tensor | None, batch, gen: torch.Generator) -> Tensor:
    """Removal scores ``[P]``: highest first removed."""
    if order == "morf":
        return _ranks(relevance, batch)
    if order == "lerf":
        return _ranks(-relevance, batch)
    return torch.rand(batch.pos.size(0), generator=gen, device=batch.pos.device)


@torch.no_grad()
def _run_once(model, batch, order, fractions, relevance, relevance_of, goal, gen):
    """Logits after removing each fraction in one fixed order (scores on the full cloud)."""
    scores = _order_scores(order, relevance, batch, gen)
    for f in fractions:
        yield model(_dropper(f, gen)(batch, scores) if f > 0 else batch)


def _run_iterative(model, batch, order, fractions, relevance, relevance_of, goal, gen):
    """Logits after each step, the relevance recomputed on what is left before each removal.

    The kept points carry their index in the full batch (``deletion_index``);
    the removal score on the full batch is the rank of the new relevance for
    kept points and a value above every rank for removed ones, so ``RelDrop``
    with ``beta = f_k`` removes the points already gone plus the next ones.
    """
    full = copy.copy(batch)
    full.deletion_index = torch.arange(batch.pos.size(0), device=batch.pos.device)
    current = full
    above = float(batch.pos.size(0))
    for k, f in enumerate(fractions):
        if k > 0 and f > 0:
            r = relevance_of(model, current, goal, gen).detach()
            r = r if order == "morf" else -r
            scores = torch.full((batch.pos.size(0),), above, device=r.device, dtype=r.dtype)
            scores[current.deletion_index] = _ranks(r, current)
            current = _dropper(f, gen)(full, scores)
        with torch.no_grad():
            yield model(current)
