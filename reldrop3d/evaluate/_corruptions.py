r"""Point-cloud corruptions of ModelNet-C and ModelNet40-C: one table, one registry, one entry.

The seven corruptions of **ModelNet-C** (Ren, Pan and Liu, ICML 2022;
``build_modelnetc/corrupt_utils.py`` of ``jiawei-ren/ModelNet-C``) and the eight
mesh-free ones of **ModelNet40-C** (Sun et al., 2022; ``data/generate_c.py`` of
``jiachens/ModelNet40-C``), at levels 0..4 (ModelNet40-C's severity ``s`` is level
``s - 1``). Each is a function ``(grid, p, rng) -> grid`` of all clouds as one padded
:class:`Grid` (``n = n_b`` points in row ``b``), its level's published parameter
``p`` (:data:`PARAMETERS`) and an :class:`_Rng` that draws every random number for
all clouds at once; :func:`corrupt` is the one entry point. Brackets give the point
count after the corruption.

- *Unit-sphere normalised* (ModelNet-C's ``_pc_normalize``):
  :math:`p' = (p - \bar p) / \max_q \lVert q - \bar p\rVert` per cloud.
- *Box-normalised* (ModelNet40-C's ``normalize``): per axis
  :math:`p'_a = p_a - (\max_a + \min_a)/2`, then :math:`p' \cdot 2 / \max_a(\max_a - \min_a)`.
- *Absolute counts* (``drop_local``, ``add_global``, ``add_local``, ``cutout``,
  ``density_decrease``) were published for :data:`REFERENCE_POINTS` = 1024 points;
  by default they scale as :math:`\operatorname{round}(c\, n_b / 1024)` (half to even),
  exactly the published ones at 1024 points; ``reference_points=None`` keeps them
  absolute. ModelNet40-C's :math:`\lfloor n_b / d\rfloor` are relative already.
  Every cloud keeps at least one point.

Kept points keep their order and added points follow them (the references
shuffle; classifiers are permutation invariant). Everything is batched over the
clouds; the host syncs only for output sizes and for packing dense input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch_geometric.data import Data

from reldrop3d.data.batching import describe, from_dense, to_dense
from reldrop3d.data.transforms import normalize_unit_sphere

#: Levels of every corruption (ModelNet-C numbering; ModelNet40-C severity = level + 1).
LEVELS = range(5)
#: Cloud size for which the absolute point counts were published.
REFERENCE_POINTS = 1024

#: The level-dependent parameter of every corruption, levels 0..4, as published.
PARAMETERS: dict[str, tuple[float, ...]] = {
    # ModelNet-C, corrupt_utils.py of jiawei-ren/ModelNet-C
    "jitter": (0.01, 0.02, 0.03, 0.04, 0.05),  # sigma
    "drop_global": (0.25, 0.375, 0.5, 0.625, 0.75),  # share of points dropped
    "drop_local": (100, 200, 300, 400, 500),  # points removed (at 1024 points)
    "add_global": (10, 20, 30, 40, 50),  # points added (at 1024 points)
    "add_local": (100, 200, 300, 400, 500),  # points added (at 1024 points)
    "scale": (1.6, 1.7, 1.8, 1.9, 2.0),  # S: per-axis factors in U(1/S, S)
    "rotate": tuple(math.pi / 6 / 5 * (level + 1) for level in LEVELS),  # angle bound (rad)
    # ModelNet40-C, data/generate_c.py of jiachens/ModelNet40-C
    "uniform_noise": (0.01, 0.02, 0.03, 0.04, 0.05),  # c: noise U(-c, c)
    "gaussian_noise": (0.01, 0.015, 0.02, 0.025, 0.03),  # c: noise c N(0, 1)
    "background_noise": (45, 40, 35, 30, 20),  # d: n // d points added
    "impulse_noise": (30, 25, 20, 15, 10),  # d: n // d points moved
    "upsampling": (5, 4, 3, 2, 1),  # d: n // d points copied
    "shear": (0.05, 0.1, 0.15, 0.2, 0.25),  # c: factors +-U(c - 0.05, c + 0.05)
    "cutout": (2, 3, 5, 7, 10),  # clusters of 30 points removed
    "density_decrease": (1, 2, 3, 4, 5),  # patches of 100 points thinned by 75
}
CLUSTERS = 7  # drop_local, add_local: C ~ U{1, ..., 7} clusters


class Grid(NamedTuple):
    """Clouds padded by :func:`~reldrop3d.data.batching.to_dense`: ``pos [B, W, 3]`` (row ``b``
    holds cloud ``b``'s ``n_b`` points first, zeros after), ``valid [B, W]`` (``j < n_b``) and
    ``source [B, W]``, each point's input column (``-1``: created), which ``from_dense`` uses."""

    pos: Tensor
    valid: Tensor
    source: Tensor

    @property
    def counts(self) -> Tensor:
        """Points per cloud ``[B]``."""
        return self.valid.sum(1)

    def moved(self, pos: Tensor) -> Grid:
        """The same points at ``pos [B, W, 3]`` (padding set back to 0)."""
        return self._replace(pos=pos * self.valid.unsqueeze(-1))

    def keep(self, kept: Tensor) -> Grid:
        """The points where ``kept [B, W]`` is true, packed."""
        kept = kept & self.valid
        return _pack(self.pos * kept.unsqueeze(-1), kept, self.source.masked_fill(~kept, -1))

    def add(self, pos: Tensor, count: Tensor) -> Grid:
        """New points (``source = -1``), the first ``count[b]`` of row ``b`` of ``pos [B, K, 3]``,
        appended after each cloud's points."""
        valid = torch.arange(pos.size(1), device=pos.device) < count.unsqueeze(1)
        new = (pos * valid.unsqueeze(-1), valid, torch.full_like(valid, -1, dtype=torch.long))
        return self.concat(Grid(*new))

    def concat(self, other: Grid) -> Grid:
        """``other``'s points appended after this grid's, cloud by cloud, packed."""
        return _pack(*(torch.cat(pair, dim=1) for pair in zip(self, other)))


def _pack(pos: Tensor, valid: Tensor, source: Tensor) -> Grid:
    """Each row's valid entries moved, in order, to the front of the row; same width."""
    width = valid.size(1)
    target = valid.long().cumsum(1).sub_(1).masked_fill_(~valid, width)  # spare column W
    out_pos = pos.new_zeros(pos.size(0), width + 1, pos.size(2))
    out_pos.scatter_(1, target.unsqueeze(-1).expand_as(pos), pos)
    out_src = source.new_full((source.size(0), width + 1), -1).scatter_(1, target, source)
    packed = torch.arange(width, device=valid.device) < valid.sum(1, keepdim=True)
    return Grid(out_pos[:, :width], packed, out_src[:, :width])


def rank_in_row(keys: Tensor) -> Tensor:
    """Rank of every entry of ``keys [B, W]`` in its row (0 = smallest, ties by column)."""
    return keys.argsort(dim=1, stable=True).argsort(dim=1)


def _nearest(pos: Tensor, center: Tensor, alive: Tensor, count: Tensor) -> Tensor:
    """The ``count[b]`` alive points of row ``b`` nearest to ``center [B, 3]`` (squared
    Euclidean, the centre included, ties to the lower column): ``[B, W]`` bool."""
    dist = (pos - center.unsqueeze(1)).square().sum(-1).masked_fill(~alive, float("inf"))
    return (rank_in_row(dist) < count.unsqueeze(1)) & alive


class _Rng:
    """The random numbers of a corruption, drawn for all clouds at once from ``generator``
    on the clouds' device; and its point counts, which scale with ``reference_points``."""

    def __init__(self, generator: torch.Generator | None, like: Tensor, reference: int | None):
        self.generator, self.device, self.dtype = generator, like.device, like.dtype
        self.reference_points = reference

    def keys(self, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> Tensor:
        """``U[0, 1)`` in ``dtype`` (default: torch's default dtype)."""
        return torch.rand(shape, generator=self.generator, device=self.device, dtype=dtype)

    def uniform(self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0) -> Tensor:
        """``U[low, high)`` in the points' dtype."""
        return low + (high - low) * self.keys(shape, self.dtype)

    def normal(self, shape: tuple[int, ...]) -> Tensor:
        """``N(0, 1)`` in the points' dtype."""
        return torch.randn(shape, generator=self.generator, device=self.device, dtype=self.dtype)

    def sign(self, shape: tuple[int, ...]) -> Tensor:
        """``-1`` or ``+1`` with probability 1/2 each (``numpy.random.choice([-1, 1])``)."""
        bits = torch.randint(0, 2, shape, generator=self.generator, device=self.device)
        return (2 * bits - 1).to(self.dtype)

    def clusters(self, rows: int) -> Tensor:
        """A number of clusters ``U{1, ..., 7}`` per cloud ``[B]``."""
        return torch.randint(1, CLUSTERS + 1, (rows,), generator=self.generator, device=self.device)

    def subset(self, valid: Tensor, count: Tensor) -> Tensor:
        """``count[b]`` distinct valid entries of each row, uniformly: ``[B, W]`` bool."""
        keys = self.keys(valid.shape).masked_fill(~valid, 2.0)
        return (rank_in_row(keys) < count.unsqueeze(1)) & valid

    def point(self, valid: Tensor) -> Tensor:
        """One valid column per row, uniformly ``[B]`` (any column where none is valid)."""
        return self.keys(valid.shape).masked_fill(~valid, -1.0).argmax(dim=1)

    def scaled(self, value: float, grid: Grid) -> tuple[Tensor, int]:
        """``(count [B], most)``: ``round(value n_b / reference_points)`` (or ``value``) per
        cloud, and a bound of it for clouds of at most ``W`` points."""
        ref, n = self.reference_points, grid.counts
        if ref is None:
            return torch.full_like(n, int(value)), int(value)
        most = math.ceil(value * grid.valid.size(1) / ref)
        return torch.round(n.double() * value / ref).long(), most


# ----------------------------------------------------------------------------- ModelNet-C


def jitter(grid: Grid, sigma: float, rng: _Rng) -> Grid:
    r""":math:`p + \sigma\varepsilon`, :math:`\varepsilon \sim N(0, I)`, not clipped [``n``];
    :math:`\sigma = 0.01 (l + 1)`."""
    return grid.moved(grid.pos + sigma * rng.normal(grid.pos.shape))


def drop_global(grid: Grid, rate: float, rng: _Rng) -> Grid:
    r"""Keep :math:`\max(1, \lfloor n(1 - \rho)\rfloor)` random points [fewer];
    :math:`\rho = 0.25, 0.375, 0.5, 0.625, 0.75`."""
    kept = torch.floor(grid.counts.double() * (1.0 - rate)).long().clamp(min=1)
    return grid.keep(rng.subset(grid.valid, kept))


def drop_local(grid: Grid, total: float, rng: _Rng) -> Grid:
    r"""Remove :math:`T` points in ``C ~ U{1..7}`` local clusters [``n - T``].

    Each of the ``T`` points picks a cluster uniformly (multinomial sizes
    :math:`K_c`); then, cluster after cluster, a random remaining point and its
    :math:`K_c - 1` nearest remaining points go. :math:`T = 100 (l + 1)` at 1024 points.
    """
    count, most = rng.scaled(total, grid)
    which = _cluster_of(rng.clusters(grid.pos.size(0)), most, rng)
    used = torch.arange(most, device=count.device) < count.unsqueeze(1)
    sizes = count.new_zeros(count.size(0), CLUSTERS).scatter_add_(1, which, used.long())
    return _remove_patches(grid, sizes.unbind(1), rng)


def add_global(grid: Grid, number: float, rng: _Rng) -> Grid:
    r"""Add :math:`10 (l + 1)` points (at 1024 points) uniform in the unit ball [more]:
    :math:`r = U^{1/3}`, :math:`\cos\theta \sim U[-1, 1]`, :math:`\phi \sim U[0, 2\pi)`."""
    count, most = rng.scaled(number, grid)
    shape = (grid.pos.size(0), most)
    radius = rng.uniform(shape).pow(1.0 / 3.0)
    cos = rng.uniform(shape, -1.0, 1.0)
    phi = rng.uniform(shape, 0.0, 2.0 * math.pi)
    sin = (1.0 - cos.square()).clamp(min=0.0).sqrt()
    added = torch.stack([radius * sin * phi.cos(), radius * sin * phi.sin(), radius * cos], dim=-1)
    return grid.add(added, count)


def add_local(grid: Grid, total: float, rng: _Rng) -> Grid:
    r"""Add :math:`T` points in ``C ~ U{1..7}`` Gaussian clusters [``n + T``].

    Cluster ``c`` is centred on a point :math:`q_c` of the cloud (distinct points
    while there are enough) with :math:`\sigma_c \sim U(0.075, 0.125)`; each added
    point picks its cluster uniformly and is :math:`a = q_c + \sigma_c\varepsilon`,
    replaced by :math:`a / \lVert a\rVert^2` when :math:`\lVert a\rVert > 1`, so it
    lies in the unit ball. :math:`T = 100 (l + 1)` at 1024 points.
    """
    count, most = rng.scaled(total, grid)
    rows, n = grid.pos.size(0), grid.counts.clamp(min=1)
    clusters = torch.minimum(rng.clusters(rows), n)
    order = rng.keys(grid.valid.shape).masked_fill(~grid.valid, 2.0).argsort(dim=1)
    first = torch.arange(CLUSTERS, device=n.device).unsqueeze(0) % n.unsqueeze(1)
    centres = grid.pos.gather(1, order.gather(1, first).unsqueeze(-1).expand(-1, -1, 3))
    sigma = rng.uniform((rows, CLUSTERS), 0.075, 0.125)
    which = _cluster_of(clusters, most, rng)
    added = centres.gather(1, which.unsqueeze(-1).expand(-1, -1, 3))
    added = added + sigma.gather(1, which).unsqueeze(-1) * rng.normal((rows, most, 3))
    square = added.square().sum(-1, keepdim=True)
    return grid.add(torch.where(square > 1, added / square, added), count)


def scale(grid: Grid, bound: float, rng: _Rng) -> Grid:
    r""":math:`p \odot s`, :math:`s \sim U(1/S, S)^3`, unit-sphere normalised [``n``];
    :math:`S = 1.6 + 0.1 l`."""
    factor = rng.uniform((grid.pos.size(0), 1, 3), 1.0 / bound, bound)
    return _unit_sphere(grid.moved(grid.pos * factor))


def rotate(grid: Grid, bound: float, rng: _Rng) -> Grid:
    r""":math:`p R_z(\gamma) R_y(\beta) R_x(\alpha)`, angles :math:`U(-\theta, \theta)` [``n``];
    :math:`\theta = \frac{\pi}{30} (l + 1)`: 6 to 30 degrees."""
    angles = rng.uniform((grid.pos.size(0), 3), -bound, bound)
    c, s = angles.cos().unbind(1), angles.sin().unbind(1)
    one, zero = torch.ones_like(c[0]), torch.zeros_like(c[0])
    rx = torch.stack([one, zero, zero, zero, c[0], -s[0], zero, s[0], c[0]], -1)
    ry = torch.stack([c[1], zero, s[1], zero, one, zero, -s[1], zero, c[1]], -1)
    rz = torch.stack([c[2], -s[2], zero, s[2], c[2], zero, zero, zero, one], -1)
    rx, ry, rz = (m.view(-1, 3, 3) for m in (rx, ry, rz))
    return grid.moved(grid.pos @ (rz @ ry @ rx))


# ----------------------------------------------------------------------------- ModelNet40-C


def uniform_noise(grid: Grid, c: float, rng: _Rng) -> Grid:
    r""":math:`p + U(-c, c)^3`, box-normalised [``n``]; :math:`c = 0.01 (l + 1)`."""
    return _box(grid.moved(grid.pos + rng.uniform(grid.pos.shape, -c, c)))


def gaussian_noise(grid: Grid, c: float, rng: _Rng) -> Grid:
    r""":math:`\mathrm{clip}(p + c\varepsilon, -1, 1)`, :math:`\varepsilon \sim N(0, I)` [``n``];
    :math:`c = 0.01, 0.015, 0.02, 0.025, 0.03`."""
    return grid.moved((grid.pos + c * rng.normal(grid.pos.shape)).clamp(-1.0, 1.0))


def background_noise(grid: Grid, d: int, rng: _Rng) -> Grid:
    r"""Add :math:`\lfloor n/d\rfloor` points :math:`U(-1, 1)^3`, box-normalised [more];
    :math:`d = 45, 40, 35, 30, 20`."""
    added = rng.uniform((grid.pos.size(0), grid.valid.size(1) // d, 3), -1.0, 1.0)
    return _box(grid.add(added, grid.counts // d))


def impulse_noise(grid: Grid, d: int, rng: _Rng) -> Grid:
    r""":math:`\lfloor n/d\rfloor` distinct points move by :math:`\pm 0.1` per axis,
    box-normalised [``n``]; :math:`d = 30, 25, 20, 15, 10`."""
    chosen = rng.subset(grid.valid, grid.counts // d).unsqueeze(-1)
    return _box(grid.moved(grid.pos + 0.1 * rng.sign(grid.pos.shape) * chosen))


def upsampling(grid: Grid, d: int, rng: _Rng) -> Grid:
    r"""Add copies of :math:`\lfloor n/d\rfloor` distinct points, each shifted by
    :math:`U(-0.05, 0.05)^3`, box-normalised [more]; :math:`d = 5, 4, 3, 2, 1`. A copy
    carries the attributes of its point."""
    copies = grid.keep(rng.subset(grid.valid, grid.counts // d))
    copies = copies.moved(copies.pos + rng.uniform(copies.pos.shape, -0.05, 0.05))
    return _box(grid.concat(copies))


def shear(grid: Grid, c: float, rng: _Rng) -> Grid:
    r""":math:`p M`, :math:`M = [[1, 0, b], [d, 1, e], [f, 0, 1]]`, box-normalised [``n``];
    each of ``b, d, e, f`` is :math:`\pm U(c - 0.05, c + 0.05)`, :math:`c = 0.05 (l + 1)`
    (the reference also draws two factors it does not use; they are not drawn here)."""
    rows = grid.pos.size(0)
    factors = rng.uniform((rows, 4), c - 0.05, c + 0.05) * rng.sign((rows, 4))
    b, d, e, f = factors.unbind(1)
    one, zero = torch.ones_like(b), torch.zeros_like(b)
    matrix = torch.stack([one, zero, b, d, one, e, f, zero, one], dim=-1).view(rows, 3, 3)
    return _box(grid.moved(grid.pos @ matrix))


def cutout(grid: Grid, k: int, rng: _Rng) -> Grid:
    r"""``k`` times remove a random remaining point and its 29 nearest remaining points
    [``n - 30k``]; not normalised. :math:`k = 2, 3, 5, 7, 10`; 30 at 1024 points."""
    size, _ = rng.scaled(30, grid)
    return _remove_patches(grid, [size] * k, rng)


def density_decrease(grid: Grid, k: int, rng: _Rng) -> Grid:
    r"""``k`` times remove :math:`\lfloor 0.75 \cdot 100\rfloor = 75` random points of the 100
    remaining points nearest to a random remaining point [``n - 75k``]; not normalised.
    :math:`k = l + 1`; 100 at 1024 points."""
    size, _ = rng.scaled(100, grid)
    return _remove_patches(grid, [size] * k, rng, thinned=torch.floor(size.double() * 0.75).long())


# ----------------------------------------------------------------------------- helpers


def _at(pos: Tensor, col: Tensor) -> Tensor:
    """``pos[b, col[b]]``: ``[B, 3]``."""
    return pos.gather(1, col.view(-1, 1, 1).expand(-1, 1, pos.size(-1))).squeeze(1)


def _cluster_of(clusters: Tensor, width: int, rng: _Rng) -> Tensor:
    """A uniform cluster in ``[0, clusters[b])`` for each of ``width`` slots: ``[B, width]``."""
    u = rng.keys((clusters.size(0), width), torch.float64)
    return (u * clusters.unsqueeze(1)).long().clamp_(max=CLUSTERS - 1)


def _remove_patches(
    grid: Grid, sizes: Sequence[Tensor], rng: _Rng, thinned: Tensor | None = None
) -> Grid:
    """For each ``size [B]`` in turn, remove the patch of a random remaining point and its
    nearest remaining points, ``size`` in all; with ``thinned [B]``, only that many random
    points of the patch. Every cloud keeps at least one point."""
    alive = grid.valid.clone()
    for size in sizes:
        left = alive.sum(1)
        centre = _at(grid.pos, rng.point(alive))
        if thinned is None:
            alive &= ~_nearest(grid.pos, centre, alive, torch.minimum(size, left - 1).clamp(min=0))
        else:
            patch = _nearest(grid.pos, centre, alive, torch.minimum(size, left))
            alive &= ~rng.subset(patch, torch.minimum(thinned, left - 1).clamp(min=0))
    return grid.keep(alive)


def _unit_sphere(grid: Grid) -> Grid:
    """Unit-sphere normalisation of every row (padding sent to a spare cloud ``B``)."""
    rows, width = grid.valid.shape
    cloud = torch.arange(rows, device=grid.pos.device).unsqueeze(1).expand(rows, width)
    batch = torch.where(grid.valid, cloud, rows).reshape(-1)
    pos = normalize_unit_sphere(grid.pos.reshape(-1, 3), batch, rows + 1)
    return grid.moved(pos.view_as(grid.pos))


def _box(grid: Grid) -> Grid:
    """Box normalisation of every row (module docstring); a degenerate cloud is only centred."""
    big, v = torch.finfo(grid.pos.dtype).max, grid.valid.unsqueeze(-1)
    high = grid.pos.masked_fill(~v, -big).amax(dim=1, keepdim=True)
    low = grid.pos.masked_fill(~v, big).amin(dim=1, keepdim=True)
    extent = (high - low).amax(dim=-1, keepdim=True)
    extent = torch.where(extent > 0, extent, torch.full_like(extent, 2.0))
    return grid.moved((grid.pos - (high + low) / 2) * (2.0 / extent))


# ----------------------------------------------------------------------------- registry

#: Every corruption ``(grid, p, rng) -> grid``, by name: the functions named in :data:`PARAMETERS`.
_REGISTRY: dict[str, Callable[[Grid, float, _Rng], Grid]] = {n: globals()[n] for n in PARAMETERS}
#: The seven ModelNet-C corruptions.
CORRUPTIONS = ("jitter", "drop_global", "drop_local", "add_global", "add_local", "scale", "rotate")
#: Named suites of corruptions (what ``reldrop3d eval --corruptions`` accepts).
SUITES: dict[str, tuple[str, ...]] = {
    "modelnet-c": CORRUPTIONS,
    "modelnet40-c": tuple(n for n in PARAMETERS if n not in CORRUPTIONS),
    "all": tuple(PARAMETERS),
}


def corrupt(
    points: Data | Tensor,
    name: str,
    level: int,
    generator: torch.Generator | None = None,
    *,
    mask: Tensor | None = None,
    reference_points: int | None = REFERENCE_POINTS,
) -> Data | tuple[Tensor, Tensor]:
    r"""Corrupt every cloud of ``points`` with corruption ``name`` at ``level`` (0..4).

    ``points``: a PyG ``Batch`` / ``Data``, or dense ``[B, N, C]`` / ``[N, C]`` whose first
    three channels are ``x, y, z`` (the others, e.g. normals, follow their points),
    ``mask [B, N]`` (``[N]``) marking its valid points. ``name``: one of ``SUITES["all"]``.
    ``generator``: on the points' device; the same seed and batch give the same output
    (a cloud's draws depend on its place in the batch). ``reference_points``: the cloud
    size of the absolute counts (module docstring); ``None``: absolute counts.

    A PyG input gives a new object of its class: per-point attributes (``part``,
    normals ``x``, not transformed) follow their points, a created point gets 0
    (``-1`` in integer attributes: ``part = -1``, no part), an ``upsampling`` copy
    those of its point; edges are dropped. Dense input gives ``(points [B, M, C],
    valid [B, M])`` (``([M, C], [M])``), each cloud's points first in its row, zeros
    after; ``M = N`` unless points are added. Input with no points comes back unchanged.
    """
    function = _REGISTRY.get(name) if isinstance(name, str) else None
    if function is None:
        raise ValueError(f"name must be one of {sorted(_REGISTRY)}, got {name!r}")
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
        raise ValueError(f"level must be an int in 0..4, got {level!r}")
    ref = reference_points
    if ref is not None and (isinstance(ref, bool) or not isinstance(ref, int) or ref < 1):
        raise ValueError(f"reference_points must be a positive int or None, got {ref!r}")
    data, width, single = _as_batch(points, mask)
    device = data.pos.device
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {describe(generator)}")
    if generator is not None and torch.device(generator.device).type != device.type:
        raise ValueError(
            f"generator must be on the points' device {device}, got one on {generator.device}"
        )
    pos, valid = to_dense(data, width=width)
    grid = Grid(pos, valid, torch.where(valid, torch.arange(valid.size(1), device=device), -1))
    if valid.size(1):  # else no cloud has a point: nothing to corrupt
        grid = function(grid, PARAMETERS[name][level], _Rng(generator, pos, ref))
    out = from_dense(grid.pos, grid.valid, like=data, source=grid.source)
    if width is None:
        return out
    dense, valid = to_dense(out, torch.cat([out.pos, out.x], dim=-1), width=grid.valid.size(1))
    return (dense[0], valid[0]) if single else (dense, valid)


def _as_batch(points: Data | Tensor, mask: Tensor | None) -> tuple[Data, int | None, bool]:
    """``(data, width, single)``: a PyG input as is (``width = None``), or the valid points of
    dense ``[B, N, C]`` (``single``: ``[N, C]``) as a flat batch, ``pos`` their first three
    channels and ``x`` the others, ``width = N``."""
    if isinstance(points, Data):
        if mask is not None:
            raise TypeError(
                f"mask applies to dense points only, got a mask with a {describe(points)}"
            )
        pos = getattr(points, "pos", None)
        ok = isinstance(pos, Tensor) and pos.dim() == 2 and pos.size(-1) == 3
        if not ok or not pos.is_floating_point():
            raise TypeError(f"points.pos must be a floating tensor [P, 3], got {describe(pos)}")
        return points, None, False
    ok = isinstance(points, Tensor) and points.dim() in (2, 3) and points.size(-1) >= 3
    if not ok or not points.is_floating_point():
        raise TypeError(
            f"points must be a PyG Batch/Data or a floating tensor [B, N, C] or "
            f"[N, C] with C >= 3, got {describe(points)}"
        )
    single = points.dim() == 2
    dense = points.unsqueeze(0) if single else points
    if mask is not None:
        ok = isinstance(mask, Tensor) and mask.dtype == torch.bool
        if not ok or mask.shape != points.shape[:-1]:
            want = "[N]" if single else "[B, N]"
            raise TypeError(f"mask must be a bool tensor {want} like points, got {describe(mask)}")
        if mask.device != dense.device:
            raise ValueError(
                f"mask must be on the points' device {dense.device}, got {mask.device}"
            )
        mask = mask.view(dense.shape[:2])
    flat = from_dense(dense, mask)
    flat.pos, flat.x = flat.pos[:, :3], flat.pos[:, 3:]
    return flat, dense.size(1), single


def resolve(spec: str | Sequence[str] | Mapping[str, Callable]) -> dict[str, Callable]:
    """``{name: corruption(points, level, generator)}`` of a suite name (:data:`SUITES`),
    comma-separated names, a list of names, or a mapping to the user's own functions."""
    if isinstance(spec, str):
        spec = SUITES.get(spec) or [s.strip() for s in spec.split(",") if s.strip()]
    own = isinstance(spec, Mapping)
    unknown = [] if own else [n for n in spec if n not in _REGISTRY]
    if unknown or not spec:
        raise ValueError(
            f"corruptions must be a suite {sorted(SUITES)} or names from "
            f"{sorted(_REGISTRY)}, got {unknown or list(spec)!r}"
        )
    if own:
        return dict(spec)
    return {n: lambda points, level, gen, n=n: corrupt(points, n, level, gen) for n in spec}
