r"""Feature-use metrics: how spread the relevance of each cloud is, and over which parts.

All metrics look at the **positive** relevance :math:`r^+_p = \max(R_p, 0)` of
the ``n_i`` points of cloud ``i``, with total :math:`Z_i = \sum_{p \in i} r^+_p`
and shares :math:`\pi_p = r^+_p / Z_i`. A cloud with :math:`Z_i = 0` (no positive
relevance) has no defined value: ``nan``.

- **Normalised entropy** :math:`H_i = -\frac{1}{\log n_i}\sum_{p \in i} \pi_p \log \pi_p`
  (:math:`0 \log 0 = 0`): 1 for uniform relevance, 0 when one point holds it all
  (``nan`` for a one-point cloud).
- **Mass fraction** at share ``q``: the smallest :math:`k / n_i` such that the
  ``k`` most relevant points hold at least :math:`q Z_i` (``q = 0.5, 0.9``; the
  threshold is lowered by a relative :math:`10^{-6}` against round-off).
- **Part shares** :math:`S_{i,j} = \sum_{p \in i,\ part_p = j} \pi_p`, for part labels
  ``part [P]`` in ``[0, num_parts)`` (``-1``, e.g. points a corruption added,
  belongs to no part); the number of parts with :math:`S_{i,j} \ge 0.1`.
- **Part energy** of a set of parts :math:`\mathcal{J}`: :math:`E_i = \sum_{j \in \mathcal{J}}
  S_{i,j}`, the share of positive relevance inside the chosen parts (in the
  spirit of the energy-based pointing game, Rao et al. 2023).

:func:`attribution_report` computes them per batch by scatter over the clouds
(and the (cloud, part) pairs) and aggregates them per class and overall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from reldrop3d.data.batching import batch_vector, describe, num_points, to_dense
from reldrop3d.evaluate._running import (
    Relevance,
    base_seed,
    class_names,
    explained_batches,
    mean_defined,
    method_name,
    num_classes_of,
    relevance_function,
    resolve_device,
)
from reldrop3d.models._base import in_mode

_REL_TOL = 1e-6  # relative tolerance of the mass-fraction threshold


def attribution_report(
    model: nn.Module,
    loader: Iterable,
    method: Relevance = "lrp",
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
    r"""Relevance spread and part-level relevance over a loader, per class and overall.

    ``method``: a ``point_relevance`` method name or a callable ``(model, batch) ->
    relevance [P]``; ``target``: ``None`` explains the label, ``"pred"`` the predicted
    class; ``shares``: the ``q`` of the mass fractions, in ``(0, 1]`` (keys ``"mass_50"``,
    ...); ``share_threshold``: the share from which a part counts in ``parts_above``;
    ``energy_parts``: the parts :math:`\mathcal{J}` of the part energy, as part ids,
    ``{class index or name: part ids}`` or a bool tensor ``[num_parts]`` /
    ``[num_classes, num_parts]`` (``None``: no energy); ``num_parts``, ``part_names``:
    default the dataset's; ``seed`` / ``generator``: for ``method="random"``.

    Returns a JSON-able dict::

        {"method", "target", "num_samples",
         "overall": {"entropy", "mass_50", "mass_90", "parts_above", "part_energy",
                     "undefined"},
         "class_mean": {... the same metrics averaged over classes ...},
         "per_class": {class name: {"count", "entropy", "mass_50", ..., "undefined",
                                    "part_shares": {part name: mean share}}}}

    Means are over the clouds with positive relevance (``undefined`` counts the others),
    ``None`` over no cloud; part keys appear when batches carry ``part``.
    """
    device = resolve_device(model, device)
    dataset = getattr(loader, "dataset", None)
    num_parts = num_parts if num_parts is not None else getattr(dataset, "num_parts", None)
    part_names = part_names if part_names is not None else getattr(dataset, "part_names", None)
    num_classes = num_classes_of(model, loader, num_classes)
    if num_classes is None:
        raise ValueError("num_classes must be given: neither model nor dataset has num_classes")
    names = class_names(loader, num_classes)
    relevance_of = relevance_function(method, relevance_kwargs)
    seed = base_seed(seed, generator)
    if not all(0 < q <= 1 for q in shares):
        raise ValueError(f"shares must lie in (0, 1], got {list(shares)}")
    clouds: list[dict[str, Tensor]] = []
    with in_mode(model, training=False):
        for batch, label, goal, gen in explained_batches(
            model, loader, target, seed, device, "attribution"
        ):
            rel = relevance_of(model, batch, goal, gen)
            if not isinstance(rel, Tensor) or rel.shape != (num_points(batch),):
                raise TypeError(
                    f"method must give a relevance tensor [P] = ({num_points(batch)},), "
                    f"got {describe(rel)}"
                )
            clouds.append(_cloud_metrics(rel.detach().float(), batch, label, shares, num_parts))
    if not clouds:
        raise ValueError("loader must yield at least one batch, got none")
    cols = _concat(clouds)
    label, defined = cols.pop("label"), cols.pop("defined")
    shares_table, present = cols.pop("part_shares", None), cols.pop("part_present", None)
    if shares_table is not None:
        cols["parts_above"] = (shares_table >= share_threshold).sum(1).double()
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
    class_mean = {key: mean_defined(e[key] for e in seen) for key in cols}
    return {
        "method": method_name(method),
        "target": "label" if target is None else "pred",
        "num_samples": int(label.numel()),
        "overall": overall,
        "class_mean": class_mean,
        "per_class": per_class,
    }


def _cloud_metrics(
    relevance: Tensor, batch, label: Tensor, shares: Sequence[float], num_parts: int | None
) -> dict[str, Tensor]:
    """Per-cloud metrics of one batch, on the CPU: ``{name: [B] or [B, num_parts]}``."""
    size, cloud = label.numel(), batch_vector(batch, check_values=False)[0]
    r = relevance.clamp(min=0)
    tiny = torch.finfo(r.dtype).tiny
    total = scatter(r, cloud, 0, dim_size=size, reduce="sum")
    count = scatter(torch.ones_like(r), cloud, 0, dim_size=size, reduce="sum")
    share = r / total[cloud].clamp(min=tiny)
    entropy = -scatter(torch.xlogy(share, share), cloud, 0, dim_size=size, reduce="sum")
    out = {
        "label": label,
        "defined": total > 0,
        "entropy": torch.where(
            (total > 0) & (count > 1), entropy / count.log().clamp(min=1e-12), float("nan")
        ),
    }
    dense, valid = to_dense(batch, r)
    cumulative = dense.sort(dim=1, descending=True).values.cumsum(dim=1)
    whole = cumulative[:, -1:] if cumulative.size(1) else dense.new_zeros(size, 1)
    for q in shares:
        needed = ((cumulative < q * whole * (1 - _REL_TOL)) & valid).sum(1) + 1
        fraction = needed.to(r.dtype) / count.clamp(min=1)
        out[f"mass_{round(q * 100)}"] = torch.where(whole.squeeze(1) > 0, fraction, float("nan"))
    part = getattr(batch, "part", None)
    if isinstance(part, Tensor):
        width = num_parts if num_parts is not None else int(part.max()) + 1
        if part.shape != r.shape or part.is_floating_point():
            raise TypeError(f"batch.part must be an integer tensor [P], got {describe(part)}")
        if part.numel() and (int(part.min()) < -1 or int(part.max()) >= width):
            raise ValueError(
                f"part labels must lie in [-1, num_parts = {width}), got "
                f"[{int(part.min())}, {int(part.max())}]"
            )
        inside = part >= 0
        pair = cloud * width + part.clamp(min=0)
        mass = scatter(r * inside, pair, 0, dim_size=size * width, reduce="sum").view(size, -1)
        shares_ = mass / total.clamp(min=tiny).unsqueeze(1)
        out["part_shares"] = torch.where((total > 0).unsqueeze(1), shares_, float("nan"))
        points = scatter(inside.float(), pair, 0, dim_size=size * width, reduce="sum")
        out["part_present"] = points.view(size, -1) > 0
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


def _energy_table(energy_parts, num_classes: int, num_parts: int, names: Sequence[str]) -> Tensor:
    """``[num_classes, num_parts]`` bool: the chosen parts of each class (CPU)."""
    table = torch.zeros(num_classes, num_parts, dtype=torch.bool)
    if isinstance(energy_parts, Tensor):
        table[:] = energy_parts.cpu().bool()  # a [num_parts] row broadcasts over the classes
    elif isinstance(energy_parts, Mapping):
        for key, ids in energy_parts.items():
            table[names.index(key) if isinstance(key, str) else int(key), list(ids)] = True
    else:
        table[:, list(energy_parts)] = True
    return table
