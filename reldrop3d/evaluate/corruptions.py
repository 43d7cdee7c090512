r"""Point-cloud corruptions of ModelNet-C and ModelNet40-C, batched.

The seven atomic corruptions of **ModelNet-C** (Ren, Pan and Liu, *Benchmarking
and Analyzing Point Cloud Classification under Corruptions*, ICML 2022) with
the parameters of its generation code (``build_modelnetc/corrupt_utils.py``
of ``jiawei-ren/ModelNet-C``), and the eight point-level corruptions of
**ModelNet40-C** (Sun et al., *Benchmarking Robustness of 3D Point Cloud
Recognition Against Common Corruptions*, 2022) that need no mesh, with the
parameters of ``data/generate_c.py`` of ``jiachens/ModelNet40-C``. Levels are
numbered 0..4 (ModelNet40-C's severities 1..5 are levels 0..4 here). The
parameters live in :data:`MODELNET_C_PARAMS`, :data:`MODELNET40_C_PARAMS` and
:data:`CONSTANTS`.

Per cloud with ``n`` points, at level ``l`` (point count after it in brackets):

- ``jitter``: :math:`p + \sigma\varepsilon`, :math:`\varepsilon \sim N(0, I)`,
  :math:`\sigma = 0.01 (l+1)` [``n``].
- ``drop_global``: keep :math:`\lfloor n(1-\rho)\rfloor` random points,
  :math:`\rho = 0.25, 0.375, 0.5, 0.625, 0.75` [fewer].
- ``drop_local``: remove :math:`T = 100(l+1)` points as the nearest neighbours
  of ``C ~ U{1..7}`` random centres, multinomial sizes, one cluster after the
  other [``n - T``].
- ``add_global``: add :math:`10(l+1)` points uniform in the unit ball [more].
- ``add_local``: add :math:`T = 100(l+1)` points in ``C ~ U{1..7}`` Gaussian
  clusters around distinct points of the cloud, :math:`\sigma_c \sim U(0.075,
  0.125)`; an added point with :math:`\lVert q\rVert^2 > 1` becomes
  :math:`q / \lVert q\rVert^2` [``n + T``].
- ``scale``: :math:`p \odot s`, :math:`s \sim U(1/S, S)^3`, :math:`S = 1.6 + 0.1 l`,
  then unit-sphere normalised [``n``].
- ``rotate``: :math:`p R_z R_y R_x`, angles :math:`U(-\theta, \theta)`,
  :math:`\theta = \tfrac{\pi}{30}(l+1)` [``n``].
- ``uniform_noise``: :math:`p + U(-c, c)^3`, :math:`c = 0.01(l+1)`, box-normalised [``n``].
- ``gaussian_noise``: :math:`\mathrm{clip}(p + c\varepsilon, -1, 1)`,
  :math:`c = 0.01, 0.015, 0.02, 0.025, 0.03` [``n``].
- ``background_noise``: add :math:`\lfloor n/d\rfloor` points :math:`U(-1, 1)^3`,
  :math:`d = 45, 40, 35, 30, 20`, box-normalised [more].
- ``impulse_noise``: :math:`\lfloor n/d\rfloor` distinct points move by
  :math:`\pm 0.1` per axis, :math:`d = 30, 25, 20, 15, 10`, box-normalised [``n``].
- ``upsampling``: add copies of :math:`\lfloor n/d\rfloor` distinct points
  :math:`+ U(-0.05, 0.05)^3`, :math:`d = 5, 4, 3, 2, 1`, box-normalised [more].
- ``shear``: :math:`p M`, :math:`M = [[1,0,b],[d,1,e],[f,0,1]]`, each factor
  :math:`\pm U(c - 0.05, c + 0.05)`, :math:`c = 0.05(l+1)`, box-normalised [``n``].
- ``cutout``: :math:`k = 2, 3, 5, 7, 10` times remove the 30 points nearest to
  a random point [``n - 30k``].
- ``density_decrease``: :math:`k = l + 1` times, of the 100 points nearest to a
  random point remove 75 at random [``n - 75k``].

"Unit-sphere normalised" is ModelNet-C's ``_pc_normalize`` (centroid to 0,
farthest point to radius 1); "box-normalised" is ModelNet40-C's
``normalize`` (bounding-box centre to 0, longest side to 2).

**Absolute counts** (``drop_local``, ``add_global``, ``add_local``, ``cutout``,
``density_decrease``; the 30, 100 and 75 above) are the published numbers for
clouds of :data:`REFERENCE_POINTS` = 1024 points. By default they scale with
the cloud, :math:`\operatorname{round}(c \cdot n / 1024)` (half to even), so the
corruption removes or adds the same share of any cloud and is exactly the
published one at 1024 points; ``reference_points=None`` uses the absolute
counts. The ModelNet40-C counts :math:`\lfloor n/d\rfloor` are relative already.
Every cloud keeps at least one point.

**Input and output.** Each corruption is a pure function
``(points, level, generator=None, *, mask=None)``:

- a PyG ``Batch`` (or one ``Data``) gives a new ``Batch`` (``Data``); clouds may
  change size. Per-point attributes (``part``, normals ``x``) follow their
  points; a point the corruption creates gets 0 in float attributes and
  ``-1`` in integer ones (``part = -1``: no part), and an ``upsampling`` copy
  those of the point it copies. Normals are not transformed (both benchmarks
  corrupt coordinates only). Edge attributes are dropped.
- dense points ``[B, N, C]`` (the first three channels are ``x, y, z``; the
  others follow their points like attributes) with an optional ``mask [B, N]``
  of valid points give ``(points [B, M, C], mask [B, M])`` for **every**
  corruption: each cloud's points packed at the front of its row, zeros after
  them, ``M = N`` unless points are added (then ``N`` plus the largest
  possible addition). ``[N, C]`` points give ``([M, C], [M])``.

The point order is not the reference's: kept points keep their input order
and added points follow them (the references shuffle; classifiers are
permutation invariant). Random numbers come from ``generator`` (on the
points' device), drawn for all clouds at once, so the same seed and the same
batch give the same output; a cloud's draws depend on its place in the batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.data.batching import describe
from reldrop3d.evaluate._cloud_ops import (
    nearest_mask,
    normalize_box,
    normalize_sphere,
    random_point,
    random_sign,
    random_subset,
    rotation_matrices,
    uniform,
    unit_ball,
)
from reldrop3d.evaluate._grid import Grid, concat, from_input, keep, to_output

__all__ = [
    "CONSTANTS",
    "CORRUPTIONS",
    "LEVELS",
    "MODELNET40_C",
    "MODELNET40_C_PARAMS",
    "MODELNET_C_PARAMS",
    "REFERENCE_POINTS",
    "SUITES",
    "add_global",
    "add_local",
    "background_noise",
    "cutout",
    "density_decrease",
    "drop_global",
    "drop_local",
    "gaussian_noise",
    "impulse_noise",
    "resolve_corruptions",
    "rotate",
    "scale",
    "shear",
    "uniform_noise",
    "upsampling",
]

#: Levels of every corruption (ModelNet-C numbering; ModelNet40-C severity = level + 1).
LEVELS = range(5)
#: Cloud size for which the absolute point counts were published.
REFERENCE_POINTS = 1024

#: ModelNet-C, per level 0..4 (``corrupt_utils.py`` of jiawei-ren/ModelNet-C).
MODELNET_C_PARAMS: dict[str, tuple[float, ...]] = {
    "jitter": (0.01, 0.02, 0.03, 0.04, 0.05),  # Gaussian sigma, 0.01 * (level + 1)
    "drop_global": (0.25, 0.375, 0.5, 0.625, 0.75),  # share of points dropped
    "drop_local": (100, 200, 300, 400, 500),  # points removed in total, 100 * (level + 1)
    "add_global": (10, 20, 30, 40, 50),  # points added in the unit ball, 10 * (level + 1)
    "add_local": (100, 200, 300, 400, 500),  # points added in clusters, 100 * (level + 1)
    "scale": (1.6, 1.7, 1.8, 1.9, 2.0),  # S: per-axis factor in U(1/S, S)
    "rotate": tuple(math.pi / 6 / 5 * (level + 1) for level in range(5)),  # angle bound (rad)
}

#: ModelNet40-C, per severity 1..5 = level 0..4 (``data/generate_c.py`` of jiachens/ModelNet40-C).
MODELNET40_C_PARAMS: dict[str, tuple[float, ...]] = {
    "uniform_noise": (0.01, 0.02, 0.03, 0.04, 0.05),  # c: noise U(-c, c) per coordinate
    "gaussian_noise": (0.01, 0.015, 0.02, 0.025, 0.03),  # c: noise c * N(0, 1)
    "background_noise": (45, 40, 35, 30, 20),  # d: n // d points added in [-1, 1]^3
    "impulse_noise": (30, 25, 20, 15, 10),  # d: n // d points moved by +-0.1 per axis
    "upsampling": (5, 4, 3, 2, 1),  # d: n // d points duplicated with U(-0.05, 0.05) noise
    "shear": (0.05, 0.1, 0.15, 0.2, 0.25),  # c: shear factors +-U(c - 0.05, c + 0.05)
    "cutout": (2, 3, 5, 7, 10),  # clusters of CONSTANTS["cutout_size"] points removed
    "density_decrease": (1, 2, 3, 4, 5),  # clusters of CONSTANTS["density_size"] points thinned
}

#: Level-independent constants of both references.
CONSTANTS: dict[str, float | tuple[float, float]] = {
    "clusters": (1, 7),  # drop_local / add_local: number of clusters, uniform integer
    "add_local_sigma": (0.075, 0.125),  # add_local: per-cluster sigma, uniform
    "impulse": 0.1,  # impulse_noise: displacement per axis
    "upsampling_noise": 0.05,  # upsampling: U(-a, a) added to the copies
    "shear_spread": 0.05,  # shear: factors in U(c - a, c + a)
    "cutout_size": 30,  # cutout: points per cluster (at 1024 points)
    "density_size": 100,  # density_decrease: neighbourhood size (at 1024 points)
    "density_removed": 0.75,  # density_decrease: share of each neighbourhood removed
}

Points = Data | Tensor
Output = Data | tuple[Tensor, Tensor]


# ----------------------------------------------------------------------------- ModelNet-C


def jitter(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""Gaussian jitter :math:`p + \sigma\varepsilon`, :math:`\sigma = 0.01 (l + 1)` no clip."""
    sigma = _param(MODELNET_C_PARAMS, "jitter", level)

    def core(grid: Grid) -> Grid:
        noise = torch.randn(
            grid.pos.shape, generator=generator, device=grid.pos.device, dtype=grid.pos.dtype
        )
        return grid._replace(pos=(grid.pos + sigma * noise) * grid.valid.unsqueeze(-1))

    return _run(points, mask, generator, core)


def drop_global(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""Keep :math:`\max(1, \lfloor n (1 - \rho)\rfloor)` random points.

    :math:`\rho = 0.25, 0.375, 0.5, 0.625, 0.75`.
    """
    rate = _param(MODELNET_C_PARAMS, "drop_global", level)

    def core(grid: Grid) -> Grid:
        kept = torch.floor(grid.counts.double() * (1.0 - rate)).long().clamp(min=1)
        return keep(grid, random_subset(grid.valid, kept, generator))

    return _run(points, mask, generator, core)


def drop_local(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
    reference_points: int | None = REFERENCE_POINTS,
) -> Output:
    r"""Remove :math:`T = 100 (l + 1)` points in ``C ~ U{1, ..., 7}`` local clusters.

    Each of the ``T`` points picks a cluster uniformly (multinomial sizes
    :math:`K_c`); then, one cluster after the other, a remaining point is drawn
    as centre and its :math:`K_c` nearest remaining points (itself included) are
    removed. ``T`` scales with the cloud (see the module docstring).
    """
    total = _param(MODELNET_C_PARAMS, "drop_local", level)

    def core(grid: Grid) -> Grid:
        count = _count(total, grid.counts, reference_points)
        sizes = _cluster_sizes(
            count, _bound(total, grid.valid.size(1), reference_points), grid, generator
        )
        return keep(grid, _remove_clusters(grid, sizes.unbind(1), generator))

    return _run(points, mask, generator, core)


def add_global(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
    reference_points: int | None = REFERENCE_POINTS,
) -> Output:
    r"""Add :math:`10 (l + 1)` points uniform in the unit ball (:math:`r = U^{1/3}`).

    The count scales with the cloud (see the module docstring).
    """
    number = _param(MODELNET_C_PARAMS, "add_global", level)

    def core(grid: Grid) -> Grid:
        count = _count(number, grid.counts, reference_points)
        width = _bound(number, grid.valid.size(1), reference_points)
        added = unit_ball((grid.pos.size(0), width), grid.pos, generator)
        return concat(grid, _new_points(added, count))

    return _run(points, mask, generator, core)


def add_local(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
    reference_points: int | None = REFERENCE_POINTS,
) -> Output:
    r"""Add :math:`T = 100 (l + 1)` points in ``C ~ U{1, ..., 7}`` Gaussian clusters.

    Cluster ``c`` is centred on a point :math:`q_c` of the cloud (distinct
    points, drawn at random) with :math:`\sigma_c \sim U(0.075, 0.125)`; each
    added point picks its cluster uniformly and is :math:`q_c + \sigma_c
    \varepsilon`. As in the reference, an added point with :math:`\lVert a\rVert^2
    > 1` is replaced by :math:`a / \lVert a\rVert^2` (norm :math:`1/\lVert a\rVert < 1`), so all
    added points lie in the unit ball. ``T`` scales with the cloud.
    """
    total = _param(MODELNET_C_PARAMS, "add_local", level)
    low, high = CONSTANTS["clusters"]
    s_low, s_high = CONSTANTS["add_local_sigma"]

    def core(grid: Grid) -> Grid:
        pos, valid, _ = grid
        num, n = pos.size(0), grid.counts
        count = _count(total, n, reference_points)
        width = _bound(total, valid.size(1), reference_points)
        clusters = torch.randint(low, high + 1, (num,), generator=generator, device=pos.device)
        clusters = torch.minimum(clusters, n.clamp(min=1))
        # the first `clusters` entries of a random permutation: distinct centres
        keys = torch.rand(valid.shape, generator=generator, device=pos.device)
        order = keys.masked_fill(~valid, 2.0).argsort(dim=1)
        centre_cols = order.gather(
            1, (torch.arange(high, device=pos.device).unsqueeze(0) % n.clamp(min=1).unsqueeze(1))
        )
        centres = pos.gather(1, centre_cols.unsqueeze(-1).expand(-1, -1, 3))  # [B, 7, 3]
        sigma = uniform((num, high), s_low, s_high, pos, generator)
        which = _cluster_ids(clusters, width, pos, generator)  # [B, width]
        noise = torch.randn(
            (num, width, 3), generator=generator, device=pos.device, dtype=pos.dtype
        )
        added = centres.gather(1, which.unsqueeze(-1).expand(-1, -1, 3))
        added = added + sigma.gather(1, which).unsqueeze(-1) * noise
        sq = added.square().sum(-1, keepdim=True)
        added = torch.where(sq > 1, added / sq, added)
        return concat(grid, _new_points(added, count))

    return _run(points, mask, generator, core)


def scale(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""Anisotropic scaling :math:`p \odot s`, :math:`s \sim U(1/S, S)^3`, then normalised.

    :math:`S = 1.6, 1.7, 1.8, 1.9, 2.0`; the result is centred on its centroid
    with its farthest point at radius 1 (ModelNet-C's ``_pc_normalize``).
    """
    bound = _param(MODELNET_C_PARAMS, "scale", level)

    def core(grid: Grid) -> Grid:
        factor = uniform((grid.pos.size(0), 1, 3), 1.0 / bound, bound, grid.pos, generator)
        return normalize_sphere(grid._replace(pos=grid.pos * factor))

    return _run(points, mask, generator, core)


def rotate(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""Rotation :math:`p' = p R_z(\gamma) R_y(\beta) R_x(\alpha)`, angles in :math:`\pm\theta`.

    :math:`\theta = \tfrac{\pi}{30}(l + 1)`, i.e. :math:`\pi/30` (6 degrees) to :math:`\pi/6` (30).
    """
    bound = _param(MODELNET_C_PARAMS, "rotate", level)

    def core(grid: Grid) -> Grid:
        angles = uniform((grid.pos.size(0), 3), -bound, bound, grid.pos, generator)
        return grid._replace(pos=grid.pos @ rotation_matrices(angles))

    return _run(points, mask, generator, core)


# ----------------------------------------------------------------------------- ModelNet40-C


def uniform_noise(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""ModelNet40-C *uniform*: :math:`p + U(-c, c)^3`, :math:`c = 0.01 (l + 1)`, box-normalised."""
    c = _param(MODELNET40_C_PARAMS, "uniform_noise", level)

    def core(grid: Grid) -> Grid:
        noise = uniform(tuple(grid.pos.shape), -c, c, grid.pos, generator)
        return normalize_box(grid._replace(pos=grid.pos + noise))

    return _run(points, mask, generator, core)


def gaussian_noise(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""ModelNet40-C *gaussian*: :math:`\mathrm{clip}(p + c\,\varepsilon, -1, 1)`.

    :math:`c = 0.01, 0.015, 0.02, 0.025, 0.03`.
    """
    c = _param(MODELNET40_C_PARAMS, "gaussian_noise", level)

    def core(grid: Grid) -> Grid:
        noise = torch.randn(
            grid.pos.shape, generator=generator, device=grid.pos.device, dtype=grid.pos.dtype
        )
        out = (grid.pos + c * noise).clamp(-1.0, 1.0)
        return grid._replace(pos=out * grid.valid.unsqueeze(-1))

    return _run(points, mask, generator, core)


def background_noise(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""ModelNet40-C *background*: add :math:`\lfloor n/d\rfloor` points :math:`U(-1, 1)^3`.

    :math:`d = 45, 40, 35, 30, 20`; then box-normalised.
    """
    d = int(_param(MODELNET40_C_PARAMS, "background_noise", level))

    def core(grid: Grid) -> Grid:
        width = grid.valid.size(1) // d
        added = uniform((grid.pos.size(0), width, 3), -1.0, 1.0, grid.pos, generator)
        return normalize_box(concat(grid, _new_points(added, grid.counts // d)))

    return _run(points, mask, generator, core)


def impulse_noise(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""ModelNet40-C *impulse*: :math:`\lfloor n/d\rfloor` points move :math:`\pm 0.1` per axis.

    Distinct points; :math:`d = 30, 25, 20, 15, 10`; then box-normalised.
    """
    d = int(_param(MODELNET40_C_PARAMS, "impulse_noise", level))
    step = CONSTANTS["impulse"]

    def core(grid: Grid) -> Grid:
        chosen = random_subset(grid.valid, grid.counts // d, generator)
        sign = random_sign(tuple(grid.pos.shape), grid.pos, generator)
        moved = grid.pos + step * sign * chosen.unsqueeze(-1)
        return normalize_box(grid._replace(pos=moved))

    return _run(points, mask, generator, core)


def upsampling(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""ModelNet40-C *upsampling*: add copies of :math:`\lfloor n/d\rfloor` distinct points.

    Each copy is shifted by :math:`U(-0.05, 0.05)^3`, :math:`d = 5, 4, 3, 2, 1`;
    then box-normalised. A copy carries the attributes of the point it copies.
    """
    d = int(_param(MODELNET40_C_PARAMS, "upsampling", level))
    a = CONSTANTS["upsampling_noise"]

    def core(grid: Grid) -> Grid:
        copies = keep(grid, random_subset(grid.valid, grid.counts // d, generator))
        noise = uniform(tuple(copies.pos.shape), -a, a, copies.pos, generator)
        copies = copies._replace(pos=(copies.pos + noise) * copies.valid.unsqueeze(-1))
        return normalize_box(concat(grid, copies))

    return _run(points, mask, generator, core)


def shear(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
) -> Output:
    r"""ModelNet40-C *shear*: :math:`p' = p M`, :math:`M = [[1, 0, b], [d, 1, e], [f, 0, 1]]`.

    Each of ``b, d, e, f`` is :math:`\pm U(c - 0.05, c + 0.05)` with a random
    sign, :math:`c = 0.05 (l + 1)`; then box-normalised (the reference also
    draws two unused factors; they are not drawn here).
    """
    c = _param(MODELNET40_C_PARAMS, "shear", level)
    spread = CONSTANTS["shear_spread"]

    def core(grid: Grid) -> Grid:
        num = grid.pos.size(0)
        factors = uniform((num, 4), c - spread, c + spread, grid.pos, generator)
        factors = factors * random_sign((num, 4), grid.pos, generator)
        b, d, e, f = factors.unbind(1)
        one, zero = torch.ones_like(b), torch.zeros_like(b)
        matrix = torch.stack([one, zero, b, d, one, e, f, zero, one], dim=-1).view(num, 3, 3)
        return normalize_box(grid._replace(pos=grid.pos @ matrix))

    return _run(points, mask, generator, core)


def cutout(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
    reference_points: int | None = REFERENCE_POINTS,
) -> Output:
    r"""ModelNet40-C *cutout*: ``k`` times remove the 30 points nearest to a random point.

    :math:`k = 2, 3, 5, 7, 10`, one cluster after the other among the remaining
    points (the centre included); the 30 scales with the cloud. Not normalised.
    """
    clusters = int(_param(MODELNET40_C_PARAMS, "cutout", level))
    size = CONSTANTS["cutout_size"]

    def core(grid: Grid) -> Grid:
        per = _count(size, grid.counts, reference_points)
        return keep(grid, _remove_clusters(grid, [per] * clusters, generator))

    return _run(points, mask, generator, core)


def density_decrease(
    points: Points,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
    reference_points: int | None = REFERENCE_POINTS,
) -> Output:
    r"""ModelNet40-C *density*: ``k = l + 1`` times thin a local patch.

    Of the 100 remaining points nearest to a random remaining point,
    :math:`\lfloor 0.75 \cdot 100\rfloor = 75` chosen at random are removed; the
    100 scales with the cloud. Not normalised.
    """
    clusters = int(_param(MODELNET40_C_PARAMS, "density_decrease", level))
    size, share = CONSTANTS["density_size"], CONSTANTS["density_removed"]

    def core(grid: Grid) -> Grid:
        per = _count(size, grid.counts, reference_points)
        removed = torch.floor(per.double() * share).long()
        alive = grid.valid.clone()
        for _ in range(clusters):
            left = alive.sum(1)
            center = _point_at(grid.pos, random_point(alive, generator))
            patch = nearest_mask(grid.pos, center, alive, torch.minimum(per, left))
            take = torch.minimum(removed, left - 1).clamp(min=0)
            alive &= ~random_subset(patch, take, generator)
        return keep(grid, alive)

    return _run(points, mask, generator, core)


# ----------------------------------------------------------------------------- registries

Corruption = Callable[..., Output]

#: The seven ModelNet-C corruptions, by name.
CORRUPTIONS: dict[str, Corruption] = {
    "jitter": jitter,
    "drop_global": drop_global,
    "drop_local": drop_local,
    "add_global": add_global,
    "add_local": add_local,
    "scale": scale,
    "rotate": rotate,
}

#: The eight mesh-free ModelNet40-C corruptions, by name.
MODELNET40_C: dict[str, Corruption] = {
    "uniform_noise": uniform_noise,
    "gaussian_noise": gaussian_noise,
    "background_noise": background_noise,
    "impulse_noise": impulse_noise,
    "upsampling": upsampling,
    "shear": shear,
    "cutout": cutout,
    "density_decrease": density_decrease,
}

#: Named suites (what ``reldrop3d eval --corruptions`` accepts).
SUITES: dict[str, dict[str, Corruption]] = {
    "modelnet-c": CORRUPTIONS,
    "modelnet40-c": MODELNET40_C,
    "all": {**CORRUPTIONS, **MODELNET40_C},
}


def resolve_corruptions(
    spec: str | Sequence[str] | Mapping[str, Corruption],
) -> dict[str, Corruption]:
    """Corruptions by suite name (:data:`SUITES`), comma-separated names, a list, or a mapping.

    ``"modelnet-c"``, ``"modelnet40-c"``, ``"all"``, ``"jitter,rotate"`` or
    ``["jitter", "cutout"]``; a mapping is returned as a dict unchanged.
    """
    if isinstance(spec, Mapping):
        return dict(spec)
    if isinstance(spec, str):
        if spec in SUITES:
            return dict(SUITES[spec])
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    known = SUITES["all"]
    names = list(spec)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(
            f"corruptions must be a suite {sorted(SUITES)} or names from "
            f"{sorted(known)}, got {unknown or names!r}"
        )
    return {n: known[n] for n in names}


# ----------------------------------------------------------------------------- helpers


def _param(table: Mapping[str, tuple[float, ...]], name: str, level: int) -> float:
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise ValueError(f"level must be an int in 0..4, got {level!r}")
    return table[name][level]


def _run(
    points: Points,
    mask: Tensor | None,
    generator: torch.Generator | None,
    core: Callable[[Grid], Grid],
) -> Output:
    grid, source = from_input(points, mask)
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {describe(generator)}"
            )
        if torch.device(generator.device).type != grid.pos.device.type:
            raise ValueError(
                f"generator must be on the points' device "
                f"{grid.pos.device}, got one on {generator.device}"
            )
    if grid.valid.size(1) == 0:  # no cloud has a point: nothing to corrupt
        return to_output(grid, source)
    return to_output(core(grid), source)


def _count(value: float, n: Tensor, reference_points: int | None) -> Tensor:
    """Per-cloud count: ``round(value * n / reference_points)`` or ``value`` (absolute)."""
    if reference_points is None:
        return torch.full_like(n, int(value))
    if (
        isinstance(reference_points, bool)
        or not isinstance(reference_points, int)
        or (reference_points < 1)
    ):
        raise ValueError(
            f"reference_points must be a positive int or None, got {reference_points!r}"
        )
    return torch.round(n.double() * value / reference_points).long()


def _bound(value: float, width: int, reference_points: int | None) -> int:
    """An upper bound of :func:`_count` over clouds of at most ``width`` points."""
    if reference_points is None:
        return int(value)
    return math.ceil(value * width / reference_points)


def _point_at(pos: Tensor, col: Tensor) -> Tensor:
    """``pos[b, col[b]]``: ``[B, 3]``."""
    return pos.gather(1, col.view(-1, 1, 1).expand(-1, 1, pos.size(-1))).squeeze(1)


def _remove_clusters(
    grid: Grid, sizes: Sequence[Tensor], generator: torch.Generator | None
) -> Tensor:
    """Remove clusters one after the other: the alive mask ``[B, W]`` afterwards.

    For each ``sizes[c] [B]``, a random remaining point of every cloud and its
    ``min(sizes[c], remaining - 1)`` nearest remaining points (itself included)
    are removed, so a cloud always keeps at least one point.
    """
    alive = grid.valid.clone()
    for size in sizes:
        center = _point_at(grid.pos, random_point(alive, generator))
        take = torch.minimum(size, alive.sum(1) - 1).clamp(min=0)
        alive &= ~nearest_mask(grid.pos, center, alive, take)
    return alive


def _cluster_ids(
    clusters: Tensor, width: int, like: Tensor, generator: torch.Generator | None
) -> Tensor:
    """A uniform cluster in ``[0, clusters[b])`` for each of ``width`` slots: ``[B, width]``."""
    u = torch.rand(
        (clusters.size(0), width), generator=generator, device=like.device, dtype=torch.float64
    )
    return (u * clusters.unsqueeze(1)).long().clamp_(max=CONSTANTS["clusters"][1] - 1)


def _cluster_sizes(
    count: Tensor, width: int, grid: Grid, generator: torch.Generator | None
) -> Tensor:
    """Multinomial sizes ``[B, 7]`` of ``count[b]`` points over ``C_b ~ U{1..7}`` clusters."""
    low, high = CONSTANTS["clusters"]
    clusters = torch.randint(
        low, high + 1, (count.size(0),), generator=generator, device=count.device
    )
    which = _cluster_ids(clusters, width, grid.pos, generator)
    used = torch.arange(width, device=count.device).unsqueeze(0) < count.unsqueeze(1)
    sizes = torch.zeros((count.size(0), high), dtype=torch.long, device=count.device)
    return sizes.scatter_add_(1, which, used.long())


def _new_points(pos: Tensor, count: Tensor) -> Grid:
    """A grid of created points (``source = -1``): the first ``count[b]`` of each row of ``pos``."""
    valid = torch.arange(pos.size(1), device=pos.device).unsqueeze(0) < count.unsqueeze(1)
    return Grid(pos * valid.unsqueeze(-1), valid, torch.full_like(valid, -1, dtype=torch.long))
