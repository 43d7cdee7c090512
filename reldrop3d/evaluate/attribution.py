r"""Feature-use metrics: how spread the relevance of each cloud is, and over which parts.

All metrics look at the **positive** relevance :math:`r^+_p = \max(R_p, 0)` of
the ``n_i`` points of cloud ``i``, with total :math:`Z_i = \sum_{p \in i} r^+_p`
and shares :math:`\pi_p = r^+_p / Z_i`. A cloud with :math:`Z_i = 0` (no positive
relevance) has no defined value: ``nan``.

- **Normalised entropy** :math:`H_i = -\frac{1}{\log n_i}\sum_{p \in i} \pi_p \log \pi_p`
  (:math:`0 \log 0 = 0`): 1 for uniform relevance, 0 when one point holds it all
  (``nan`` for a one-point cloud).
- **Mass fraction** at share ``q``: the smallest :math:`k / n_i` such that the
  ``k`` most relevant points hold at least :math:`q Z_i` (``q = 0.5, 0.9``).
- **Part shares** :math:`S_{i,j} = \sum_{p \in i,\ part_p = j} \pi_p`, for part labels
  ``part [P]`` in ``[0, num_parts)`` (``-1``, e.g. points a corruption added,
  belongs to no part); the number of parts with :math:`S_{i,j} \ge 0.1`.
- **Part energy** of a set of parts :math:`\mathcal{J}`: :math:`E_i = \sum_{j \in \mathcal{J}}
  S_{i,j}`, the share of positive relevance inside the chosen parts (in the
  spirit of the energy-based pointing game, Rao et al. 2023).

Every function takes a flat PyG-style relevance ``[P]`` with the batch vector
``batch [P]`` (``None`` for one cloud) and reduces with scatter over the
clouds (and over the (cloud, part) pairs), with no loop over clouds.
:func:`attribution_report` runs them over a data loader and aggregates them
per class and overall.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, to_dense_batch

from reldrop3d.evaluate._running import (
    base_seed,
    batches,
    class_names,
    eval_mode,
    labels_of,
    num_classes_of,
    relevance_function,
    resolve_device,
    seeded,
)

__all__ = [
    "attribution_report",
    "mass_fraction",
    "part_energy",
    "part_shares",
    "parts_above",
    "positive_totals",
    "relevance_entropy",
]

_REL_TOL = 1e-6  # relative tolerance of the mass-fraction threshold


def _prepare(
    relevance: Tensor, batch: Tensor | None, num_graphs: int | None
) -> tuple[Tensor, Tensor, int]:
    if (
        not isinstance(relevance, Tensor)
        or relevance.dim() != 1
        or (not relevance.is_floating_point())
    ):
        got = (
            f"{relevance.dtype} {tuple(relevance.shape)}"
            if isinstance(relevance, Tensor)
            else type(relevance).__name__
        )
        raise TypeError(f"relevance must be a 1-D float tensor [P], got {got}")
    if batch is None:
        batch = torch.zeros(relevance.numel(), dtype=torch.long, device=relevance.device)
        num_graphs = 1 if num_graphs is None else num_graphs
    elif (
        not isinstance(batch, Tensor)
        or batch.shape != relevance.shape
        or (batch.dtype != torch.long)
    ):
        got = f"{batch.dtype} {tuple(batch.shape)}" if isinstance(batch, Tensor) else batch
        raise TypeError(
            f"batch must be a long tensor of the relevance's shape "
            f"{tuple(relevance.shape)}, got {got}"
        )
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    return relevance.detach().clamp(min=0), batch, num_graphs


def positive_totals(
    relevance: Tensor, batch: Tensor | None = None, num_graphs: int | None = None
) -> Tensor:
    r"""Per-cloud total positive relevance :math:`Z_i` ``[B]``."""
    pos, batch, b = _prepare(relevance, batch, num_graphs)
    return scatter(pos, batch, 0, dim_size=b, reduce="sum")


def relevance_entropy(
    relevance: Tensor, batch: Tensor | None = None, num_graphs: int | None = None
) -> Tensor:
    r"""Normalised entropy :math:`H_i` of the positive relevance of each cloud ``[B]``."""
    pos, batch, b = _prepare(relevance, batch, num_graphs)
    total = scatter(pos, batch, 0, dim_size=b, reduce="sum")
    count = scatter(torch.ones_like(pos), batch, 0, dim_size=b, reduce="sum")
    share = pos / total[batch].clamp(min=torch.finfo(pos.dtype).tiny)
    plogp = torch.xlogy(share, share)  # 0 log 0 = 0
    entropy = -scatter(plogp, batch, 0, dim_size=b, reduce="sum")
    norm = count.log()
    defined = (total > 0) & (count > 1)
    return torch.where(defined, entropy / norm.clamp(min=1e-12), float("nan"))


def mass_fraction(
    relevance: Tensor,
    batch: Tensor | None = None,
    share: float = 0.5,
    num_graphs: int | None = None,
) -> Tensor:
    r"""Smallest share of each cloud's points that holds ``share`` of its positive relevance.

    Returns ``[B]``.

    The points are taken in descending relevance; the threshold
    :math:`q Z_i` is lowered by a relative :math:`10^{-6}` against round-off.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share!r}")
    pos, batch, b = _prepare(relevance, batch, num_graphs)
    dense, valid = to_dense_batch(pos, batch, fill_value=0.0, batch_size=b)
    ordered = dense.sort(dim=1, descending=True).values
    cumulative = ordered.cumsum(dim=1)
    total = cumulative[:, -1:] if cumulative.size(1) else dense.new_zeros(b, 1)
    below = (cumulative < share * total * (1 - _REL_TOL)) & valid
    needed = below.sum(1) + 1
    count = valid.sum(1)
    out = needed.to(pos.dtype) / count.clamp(min=1).to(pos.dtype)
    return torch.where(total.squeeze(1) > 0, out, float("nan"))


def _check_part(part: Tensor, relevance: Tensor, num_parts: int) -> None:
    if not isinstance(part, Tensor) or part.shape != relevance.shape or part.is_floating_point():
        got = f"{part.dtype} {tuple(part.shape)}" if isinstance(part, Tensor) else part
        raise TypeError(
            f"part must be an integer tensor of the relevance's shape "
            f"{tuple(relevance.shape)}, got {got}"
        )
    if part.numel() and (int(part.min()) < -1 or int(part.max()) >= num_parts):
        raise ValueError(
            f"part labels must lie in [-1, num_parts = {num_parts}), got "
            f"[{int(part.min())}, {int(part.max())}]"
        )


def part_shares(
    relevance: Tensor,
    part: Tensor,
    num_parts: int,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
) -> Tensor:
    r"""Share :math:`S_{i,j}` of each cloud's positive relevance on each part ``[B, num_parts]``.

    One scatter over the (cloud, part) pairs; rows of clouds without
    positive relevance are ``nan``; points with part ``-1`` count in
    :math:`Z_i` but in no part.
    """
    pos, batch, b = _prepare(relevance, batch, num_graphs)
    _check_part(part, relevance, num_parts)
    total = scatter(pos, batch, 0, dim_size=b, reduce="sum")
    inside = part >= 0
    pair = batch * num_parts + part.clamp(min=0)
    mass = scatter(pos * inside, pair, 0, dim_size=b * num_parts, reduce="sum")
    shares = mass.view(b, num_parts) / total.clamp(min=torch.finfo(pos.dtype).tiny).unsqueeze(1)
    return torch.where((total > 0).unsqueeze(1), shares, float("nan"))


def parts_above(shares: Tensor, threshold: float = 0.1) -> Tensor:
    """Number of parts holding at least ``threshold`` of each cloud's relevance ``[B]`` (long).

    ``shares`` from :func:`part_shares`; a ``nan`` row counts 0.
    """
    return (shares >= threshold).sum(dim=1)


def part_energy(
    relevance: Tensor,
    part: Tensor,
    parts: Sequence[int] | Tensor,
    batch: Tensor | None = None,
    num_graphs: int | None = None,
    num_parts: int | None = None,
) -> Tensor:
    r"""Share :math:`E_i` of each cloud's positive relevance inside the chosen parts ``[B]``.

    Args:
        relevance: ``[P]``.
        part: part label per point ``[P]`` (``-1``: no part).
        parts: the chosen parts, the same for every cloud (a sequence of part
            ids, or a bool tensor ``[num_parts]``), or per cloud (a bool tensor
            ``[B, num_parts]``, e.g. the parts of each cloud's class).
        batch: cloud of each point ``[P]``, ``None`` for one cloud.
        num_parts: the number of part ids (default: from ``parts`` or ``part``).
    """
    pos, batch, b = _prepare(relevance, batch, num_graphs)
    if isinstance(parts, Tensor) and parts.dtype == torch.bool:
        table = parts.to(pos.device)
    else:
        ids = torch.as_tensor(list(parts), dtype=torch.long, device=pos.device)
        size = num_parts or max(
            int(ids.max()) + 1 if ids.numel() else 0, int(part.max()) + 1 if part.numel() else 0
        )
        table = torch.zeros(size, dtype=torch.bool, device=pos.device)
        table[ids] = True
    if table.dim() not in (1, 2) or (table.dim() == 2 and table.size(0) != b):
        raise ValueError(
            f"parts must be part ids, a bool tensor [num_parts] or [B = {b}, "
            f"num_parts], got shape {tuple(table.shape)}"
        )
    _check_part(part, relevance, table.size(-1))
    safe = part.clamp(min=0)
    chosen = table[safe] if table.dim() == 1 else table[batch, safe]
    chosen = chosen & (part >= 0)
    total = scatter(pos, batch, 0, dim_size=b, reduce="sum")
    inside = scatter(pos * chosen, batch, 0, dim_size=b, reduce="sum")
    return torch.where(
        total > 0, inside / total.clamp(min=torch.finfo(pos.dtype).tiny), float("nan")
    )


# ----------------------------------------------------------------------------- over a loader


def _cloud_metrics(
    rel: Tensor, batch, label: Tensor, shares: Sequence[float], num_parts: int | None
) -> dict[str, Tensor]:
    """Per-cloud metrics of one batch, on the CPU: ``{name: [B] or [B, num_parts]}``."""
    b, nb = getattr(batch, "batch", None), label.numel()
    out = {
        "label": label,
        "defined": positive_totals(rel, b, nb) > 0,
        "entropy": relevance_entropy(rel, b, nb),
    }
    for q in shares:
        out[f"mass_{round(q * 100)}"] = mass_fraction(rel, b, q, nb)
    part = getattr(batch, "part", None)
    if isinstance(part, Tensor):
        width = num_parts if num_parts is not None else int(part.max()) + 1
        out["part_shares"] = part_shares(rel, part, width, b, nb)
        points = torch.ones_like(rel)
        out["part_present"] = part_shares(points, part, width, b, nb).nan_to_num(0.0) > 0
    return {k: v.cpu() for k, v in out.items()}


def _concat(clouds: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Concatenate per-batch metrics; part tables padded to the widest batch."""
    keys = clouds[0].keys()
    if any(c.keys() != keys for c in clouds):
        raise ValueError("every batch must carry part labels, or none")
    out = {}
    for key in keys:
        parts = [c[key] for c in clouds]
        if parts[0].dim() == 2:
            width = max(p.size(1) for p in parts)
            parts = [torch.nn.functional.pad(p, (0, width - p.size(1))) for p in parts]
        out[key] = torch.cat(parts)
    return out


def _mean(values: Tensor) -> float | None:
    """Mean ignoring ``nan``; ``None`` when nothing is left."""
    values = values.double()
    values = values[~values.isnan()]
    return float(values.mean()) if values.numel() else None


def _mean_of(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def _energy_table(energy_parts, num_classes: int, num_parts: int, names: Sequence[str]) -> Tensor:
    """``[num_classes, num_parts]`` bool: the chosen parts of each class (CPU)."""
    table = torch.zeros(num_classes, num_parts, dtype=torch.bool)
    if isinstance(energy_parts, Tensor):
        table[:] = energy_parts.cpu().bool()  # a [num_parts] row broadcasts over the classes
        return table
    if isinstance(energy_parts, Mapping):
        for key, ids in energy_parts.items():
            c = names.index(key) if isinstance(key, str) else int(key)
            table[c, list(ids)] = True
        return table
    table[:, list(energy_parts)] = True
    return table


def attribution_report(
    model: nn.Module,
    loader: Iterable,
    method: str | Callable[[nn.Module, object], Tensor] = "lrp",
    *,
    target: str | None = None,
    shares: Sequence[float] = (0.5, 0.9),
    share_threshold: float = 0.1,
    energy_parts: Sequence[int] | Mapping | Tensor | None = None,
    num_parts: int | None = None,
    part_names: Sequence[str] | None = None,
    num_classes: int | None = None,
    seed: int = 0,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
    relevance_kwargs: dict | None = None,
) -> dict:
    """Relevance spread and part-level relevance over a loader, per class and overall.

    Args:
        model: classifier; ``method``: a ``point_relevance`` method name or a
            callable ``(model, batch) -> relevance [P]``.
        target: ``None`` explains the label, ``"pred"`` the predicted class.
        shares: the ``q`` of :func:`mass_fraction` (keys ``"mass_50"``, ``"mass_90"``).
        share_threshold: part share counted by :func:`parts_above`.
        energy_parts: the parts of :func:`part_energy`: part ids (same for all
            clouds), a mapping ``{class index or name: part ids}``, or a bool
            tensor ``[num_parts]`` / ``[num_classes, num_parts]``; ``None``: no energy.
        num_parts, part_names: default to the dataset's ``num_parts`` /
            ``part_names``; part metrics run when batches carry ``part``.
        seed / generator: for ``method="random"``.

    Returns a JSON-able dict::

        {"method", "target", "num_samples",
         "overall": {"entropy", "mass_50", "mass_90", "parts_above", "part_energy",
                     "undefined"},
         "class_mean": {... the same metrics averaged over classes ...},
         "per_class": {class name: {"count", "entropy", "mass_50", ..., "undefined",
                                    "part_shares": {part name: mean share}}}}

    Means are over the clouds with positive relevance (``undefined`` counts the
    others); part keys appear when the data has part labels, ``part_energy``
    when ``energy_parts`` is given; a mean over no cloud is ``None``.
    """
    device = resolve_device(model, device)
    dataset = getattr(loader, "dataset", None)
    num_parts = num_parts if num_parts is not None else getattr(dataset, "num_parts", None)
    part_names = part_names if part_names is not None else getattr(dataset, "part_names", None)
    num_classes = num_classes_of(model, loader, num_classes)
    if num_classes is None:
        raise ValueError(
            "num_classes must be given when neither the model nor the dataset has num_classes"
        )
    names = class_names(loader, num_classes)
    relevance_of = relevance_function(method, relevance_kwargs)
    seed = base_seed(seed, generator)
    if target not in (None, "pred"):
        raise ValueError(f"target must be None (the label) or 'pred', got {target!r}")
    clouds: list[dict[str, Tensor]] = []
    with eval_mode(model):
        for index, batch in enumerate(batches(loader, device)):
            label = labels_of(batch)
            goal = label
            if target == "pred":
                with torch.no_grad():
                    goal = model(batch).argmax(dim=-1)
            rel = relevance_of(model, batch, goal, seeded(seed, device, "attribution", index))
            clouds.append(_cloud_metrics(rel.detach().float(), batch, label, shares, num_parts))
    if not clouds:
        raise ValueError("loader must yield at least one batch, got none")
    cols = _concat(clouds)
    label, defined = cols.pop("label"), cols.pop("defined")
    shares_table, present = cols.pop("part_shares", None), cols.pop("part_present", None)
    if shares_table is not None:
        cols["parts_above"] = parts_above(shares_table, share_threshold).double()
        if energy_parts is not None:
            chosen = _energy_table(energy_parts, num_classes, shares_table.size(1), names)
            cols["part_energy"] = (shares_table.nan_to_num(0.0) * chosen[label]).sum(1)
        width = shares_table.size(1)
        if part_names is None or len(part_names) < width:
            part_names = [str(j) for j in range(width)]

    per_class = {}
    for c, class_name in enumerate(names):
        rows = label == c
        entry: dict = {"count": int(rows.sum()), "undefined": int((rows & ~defined).sum())}
        entry.update({key: _mean(values[rows & defined]) for key, values in cols.items()})
        if shares_table is not None:
            parts_of_class = present[rows].any(0).nonzero().view(-1).tolist()
            entry["part_shares"] = {
                part_names[j]: _mean(shares_table[rows & defined, j]) for j in parts_of_class
            }
        per_class[class_name] = entry
    overall = {key: _mean(values[defined]) for key, values in cols.items()}
    overall["undefined"] = int((~defined).sum())
    seen = [e for e in per_class.values() if e["count"]]
    class_mean = {key: _mean_of([e[key] for e in seen]) for key in cols}
    return {
        "method": method if isinstance(method, str) else getattr(method, "__name__", "custom"),
        "target": "label" if target is None else "pred",
        "num_samples": int(label.numel()),
        "overall": overall,
        "class_mean": class_mean,
        "per_class": per_class,
    }
