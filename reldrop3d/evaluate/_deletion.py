r"""Relevance-ordered point removal: MoRF, LeRF and random deletion curves.

For every cloud of ``n_i`` points and every removed fraction :math:`f_k` (default
:math:`0, 0.05, \ldots, 0.9`), the :math:`\operatorname{round}(f_k n_i)` points first in an
order are removed and the model re-evaluated. Orders: ``"morf"`` (most relevant
first), ``"lerf"`` (least relevant first), ``"random"`` (one uniform order per
cloud). The removed sets are nested. The relevance is computed once on the full
cloud (occlusion protocol), or with ``iterative=True`` recomputed on what is left
before each step (Zheng et al., ICCV 2019). Each step records the share of
correct predictions (``accuracy``), and the mean ``logit`` and softmax
``probability`` of the target class; each curve is summarised by its normalised
area :math:`\mathrm{AUC} = \frac{1}{f_K - f_0} \int_{f_0}^{f_K} y\, df` (trapezoid
rule). Relying on the most relevant points gives a low MoRF and a high LeRF AUC.

A step is :class:`reldrop3d.drop.RelDrop` (``mode="topk"``, ``alpha=0``,
``beta=f_k``, ``fill="remove"``) on the whole batch with a score whose order is the
removal order: per-cloud ranks of the relevance or of its negation, or random
keys drawn once (so the random removed sets are nested too).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import Tensor, nn

from reldrop3d.data.batching import to_dense
from reldrop3d.drop import RelDrop
from reldrop3d.evaluate._corruptions import rank_in_row
from reldrop3d.evaluate._running import (
    Relevance,
    base_seed,
    explained_batches,
    method_name,
    relevance_function,
    resolve_device,
)
from reldrop3d.models._base import in_mode

#: Removal orders.
ORDERS = ("morf", "lerf", "random")
#: Quantities recorded after each step.
METRICS = ("accuracy", "logit", "probability")
#: Removed fractions by default: 0 to 0.9 in steps of 0.05.
FRACTIONS = tuple(round(0.05 * k, 12) for k in range(19))


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

    ``model``: ``forward(batch) -> logits [num_graphs, C]``; ``loader``: PyG batches with
    labels ``y``; ``method``: a :func:`reldrop3d.relevance.point_relevance` method name
    (``relevance_kwargs``: its other arguments) or a callable ``(model, batch) ->
    relevance [P]``; ``fractions``: increasing, in ``[0, 1]`` (default :data:`FRACTIONS`);
    ``target``: ``None`` explains and scores the label, ``"pred"`` the class predicted
    on the full cloud; ``seed`` seeds the random order and ``method="random"`` per
    batch (a ``generator`` replaces it by one seed drawn from it); ``device``: default
    the model's.

    Returns::

        {"method": str, "iterative": bool, "target": "label" | "pred", "seed": int,
         "num_samples": int, "fractions": [f_0, ..., f_K],
         "curves": {order: {"accuracy": [...], "logit": [...], "probability": [...]}},
         "auc": {order: {"accuracy": float, "logit": float, "probability": float}}}
    """
    fractions = [float(f) for f in (FRACTIONS if fractions is None else fractions)]
    steps = zip(fractions, fractions[1:])
    if not fractions or not all(0 <= f <= 1 for f in fractions) or any(b <= a for a, b in steps):
        raise ValueError(f"fractions must be increasing values in [0, 1], got {fractions}")
    orders = list(orders)
    if not orders or any(o not in ORDERS for o in orders):
        raise ValueError(f"orders must be a non-empty subset of {ORDERS}, got {orders!r}")
    device = resolve_device(model, device)
    relevance_of = relevance_function(method, relevance_kwargs)
    seed = base_seed(seed, generator)
    sums = {o: torch.zeros(len(fractions), len(METRICS), dtype=torch.float64) for o in orders}
    total = 0
    with in_mode(model, training=False):
        for batch, label, goal, gen in explained_batches(
            model, loader, target, seed, device, "deletion"
        ):
            relevance = None
            if not iterative and any(o != "random" for o in orders):
                relevance = relevance_of(model, batch, goal, gen).detach()
            for order in orders:
                if iterative and order != "random":
                    logits = _iterative(model, batch, order, fractions, relevance_of, goal, gen)
                else:
                    logits = _once(model, batch, order, fractions, relevance, gen)
                for k, step in enumerate(logits):
                    sums[order][k] += _step_metrics(step, label, goal)
            total += int(label.numel())
    if total == 0:
        raise ValueError("loader must yield at least one cloud, got none")
    curves = {
        o: {m: (sums[o][:, j] / total).tolist() for j, m in enumerate(METRICS)} for o in orders
    }
    return {
        "method": method_name(method),
        "iterative": bool(iterative),
        "target": "label" if target is None else "pred",
        "seed": seed,
        "num_samples": total,
        "fractions": fractions,
        "curves": curves,
        "auc": {o: {m: _auc(fractions, v) for m, v in c.items()} for o, c in curves.items()},
    }


def _auc(fractions: list[float], values: list[float]) -> float:
    r"""Normalised trapezoid area, one point's value for one point:
    :math:`\frac{1}{x_K - x_0}\sum_k \frac{(x_{k+1} - x_k)(y_k + y_{k+1})}{2}`."""
    if len(fractions) == 1:
        return values[0]
    x = torch.tensor(fractions, dtype=torch.float64)
    return float(torch.trapezoid(torch.tensor(values, dtype=torch.float64), x) / (x[-1] - x[0]))


def _ranks(relevance: Tensor, batch) -> Tensor:
    """Rank ``[P]`` (float) of each point's relevance in its cloud, 0 = least relevant;
    distinct per cloud (ties by position), so a top-``k`` by rank has no ties."""
    dense, valid = to_dense(batch, relevance.detach())
    return rank_in_row(dense.masked_fill(~valid, float("inf")))[valid].to(relevance.dtype)


def _step_metrics(logits: Tensor, label: Tensor, goal: Tensor) -> Tensor:
    """Sums over the batch of ``(correct, target logit, target probability)``: ``[3]``."""
    rows = torch.arange(logits.size(0), device=logits.device)
    correct = (logits.argmax(dim=-1) == label).double().sum()
    logit = logits[rows, goal].double().sum()
    prob = logits.double().softmax(dim=-1)[rows, goal].sum()
    return torch.stack([correct, logit, prob]).cpu()


def _drop(batch, scores: Tensor, fraction: float, generator: torch.Generator):
    r"""``batch`` less the :math:`\operatorname{round}(f n_i)` top-scored points of each cloud."""
    dropper = RelDrop(
        alpha=0.0, beta=fraction, mode="topk", fill="remove", min_points=1,
        generator=generator, validate=False,
    )  # fmt: skip
    return dropper(batch, scores)


@torch.no_grad()
def _once(model, batch, order, fractions, relevance, gen) -> Iterator[Tensor]:
    """Logits after removing each fraction in one order fixed on the full cloud."""
    if order == "random":
        scores = torch.rand(batch.pos.size(0), generator=gen, device=batch.pos.device)
    else:
        scores = _ranks(relevance if order == "morf" else -relevance, batch)
    for f in fractions:
        yield model(_drop(batch, scores, f, gen) if f > 0 else batch)


def _iterative(model, batch, order, fractions, relevance_of, goal, gen) -> Iterator[Tensor]:
    """Logits after each step, the relevance recomputed on what is left before each removal.

    Kept points carry their index in the full batch (``deletion_index``); the score
    on the full batch is the new relevance's rank for kept points and ``P`` (above
    every rank) for removed ones, so ``beta = f_k`` removes those plus the next ones.
    """
    full = copy.copy(batch)
    size = batch.pos.size(0)
    full.deletion_index = torch.arange(size, device=batch.pos.device)
    current = full
    for k, f in enumerate(fractions):
        if k > 0 and f > 0:
            r = relevance_of(model, current, goal, gen).detach()
            scores = torch.full((size,), float(size), device=r.device, dtype=r.dtype)
            scores[current.deletion_index] = _ranks(r if order == "morf" else -r, current)
            current = _drop(full, scores, f, gen)
        with torch.no_grad():
            yield model(current)
