r"""The class builders of :mod:`.shapes` turned into labelled point clouds, with or
without a decoy.

One object of class ``c`` (:func:`make_object`): ``SHAPES[c].build(rng)``, meshes of
the same part name merged; every vertex scaled by ``s * (s_x, s_y, s_z)`` (all
``~ U(0.8, 1.25)``) and rotated about z by ``theta ~ U(0, 2 pi)``; the ``n`` points
split between parts by surface area (:func:`~reldrop3d.data.surface.allocate`) and
sampled uniformly on each (:func:`~reldrop3d.data.surface.sample_surface`); then
shuffled and scaled to the unit sphere. A point's part id is ``first_part +
parts.index(name)``. Object ``k`` of class ``c`` draws from
``default_rng([seed, SPLIT_CODES[split], c, k])`` and from nothing else.

**Decoy** (:func:`add_decoy`, a shortcut benchmark): the object gets :math:`n - k`
points (:math:`k` = :func:`decoy_points` ``(n)``) and a sphere of radius
:data:`DECOY_RADIUS` gets :math:`k`, centred at :math:`d = q_{c'} + \delta`,
:math:`\lVert\delta\rVert \le` :data:`DECOY_JITTER`, where :math:`q_0, \dots, q_{C-1}`
(:func:`decoy_centres`) lie on a sphere of radius :data:`DECOY_DISTANCE` and
:math:`c' = c` (``"class"``: the decoy predicts the class), :math:`c'` uniform among the
other classes (``"swap"``), or :math:`d` uniform on the sphere and :math:`c'` the
nearest class (``"random"``). Decoy points get part id ``num_parts()`` and outward
normals; the cloud is not re-normalised (radius <= 1.38). The decoy draws from
``default_rng([seed, split, c, k, 1])``.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from reldrop3d.data.surface import allocate, normalize_unit_sphere_np, sample_surface
from reldrop3d.data.synthetic.shapes import SHAPES, Mesh, ShapeClass, num_parts, rotation

SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1, "test": 2}
#: Decoy modes, and the one ``decoy=True`` picks per split.
DECOY_MODES = ("class", "swap", "random")
DEFAULT_DECOY = {"train": "class", "val": "class", "test": "swap"}
#: Distance of the decoy centres from the object's centroid (objects have radius 1).
DECOY_DISTANCE = 1.2
#: Radius of the decoy sphere, and the largest random offset of its centre.
DECOY_RADIUS = 0.08
DECOY_JITTER = 0.1
#: Share of a cloud's points on the decoy (at least :data:`MIN_DECOY_POINTS`).
DECOY_SHARE = 1 / 16
MIN_DECOY_POINTS = 4


def make_object(
    shape: ShapeClass, num_points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One object of ``shape``: ``(pos [n, 3] float32 in the unit sphere, normals [n, 3]
    float32, part [n] int64 global part ids)``."""
    by_name: dict[str, list[Mesh]] = {name: [] for name in shape.parts}
    for part in shape.build(rng):
        if part.name not in by_name:
            raise ValueError(
                f"class {shape.name!r} built a part named {part.name!r}, "
                f"expected one of {shape.parts}"
            )
        by_name[part.name].append(part.mesh)
    names = [name for name in shape.parts if by_name[name]]
    scale = rng.uniform(0.8, 1.25) * rng.uniform(0.8, 1.25, size=3)
    turn = rotation(2, rng.uniform(0.0, 2 * np.pi))
    meshes = [Mesh.merge(by_name[n]).scaled(scale).transformed(turn) for n in names]
    counts = allocate(np.array([m.area() for m in meshes]), num_points)
    pos, normals, part = [], [], []
    for name, mesh, count in zip(names, meshes, counts, strict=True):
        p, n = sample_surface(mesh.vertices, mesh.triangles, int(count), rng)
        pos.append(p)
        normals.append(n)
        part.append(np.full(int(count), shape.first_part + shape.parts.index(name), dtype=np.int64))
    order = rng.permutation(num_points)
    pos_all = normalize_unit_sphere_np(np.concatenate(pos)[order].astype(np.float64))
    return pos_all.astype(np.float32), np.concatenate(normals)[order], np.concatenate(part)[order]


def decoy_points(num_points: int) -> int:
    """Points on the decoy of a cloud of ``num_points``: ``max(4, round(n / 16))``, below ``n``."""
    k = max(MIN_DECOY_POINTS, round(num_points * DECOY_SHARE))
    if k >= num_points:
        raise ValueError(f"num_points must exceed the {k} points of the decoy, got {num_points}")
    return k


def decoy_centres(num_classes: int, distance: float = DECOY_DISTANCE) -> np.ndarray:
    r"""``[num_classes, 3]``: class ``c``'s decoy centre on a Fibonacci sphere of radius
    ``distance``, :math:`z_c = 1 - (2c + 1) / C`, :math:`\phi_c = c\,\pi (3 - \sqrt 5)`."""
    c = np.arange(num_classes, dtype=np.float64)
    z = 1 - (2 * c + 1) / num_classes
    r = np.sqrt(1 - z**2)
    phi = c * np.pi * (3 - np.sqrt(5))
    return distance * np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True).clip(min=1e-12)


def add_decoy(
    pos: np.ndarray,
    normals: np.ndarray,
    part: np.ndarray,
    label: int,
    num_classes: int,
    k: int,
    mode: str,
    decoy_part: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Add a ``k``-point decoy (``mode`` one of :data:`DECOY_MODES`, part id ``decoy_part``)
    to an object of class ``label`` (``pos``, ``normals [n - k, 3]``, ``part [n - k]``):
    ``(pos [n, 3] float32, normals [n, 3] float32, part [n] int64, decoy_class)``, shuffled."""
    centres = decoy_centres(num_classes)
    if mode == "class":
        target = label
        centre = centres[target]
    elif mode == "swap":
        target = int((label + 1 + rng.integers(num_classes - 1)) % num_classes)
        centre = centres[target]
    elif mode == "random":
        centre = DECOY_DISTANCE * _unit_vectors(1, rng)[0]
        target = int(np.linalg.norm(centres - centre, axis=1).argmin())
    else:
        raise ValueError(f"decoy must be one of {DECOY_MODES}, got {mode!r}")
    centre = centre + DECOY_JITTER * rng.uniform(0, 1) ** (1 / 3) * _unit_vectors(1, rng)[0]
    direction = _unit_vectors(k, rng)
    decoy = centre + DECOY_RADIUS * direction
    order = rng.permutation(pos.shape[0] + k)
    return (
        np.concatenate([pos, decoy]).astype(np.float32)[order],
        np.concatenate([normals, direction]).astype(np.float32)[order],
        np.concatenate([part, np.full(k, decoy_part, dtype=np.int64)])[order],
        target,
    )


def generate_split(
    split: str,
    num_points: int,
    samples_per_class: int,
    seed: int,
    progress: bool = True,
    decoy: str | None = None,
) -> dict[str, np.ndarray]:
    """All objects of ``split``, class by class, each with a decoy if ``decoy`` is a mode:
    ``pos [M, n, 3]`` float32, ``normals [M, n, 3]`` float32, ``part [M, n]`` int16,
    ``y [M]`` int64 (``M = num_classes * samples_per_class``) and, with a decoy,
    ``decoy_class [M]`` int64."""
    code = SPLIT_CODES[split]
    num_classes = len(SHAPES)
    m = num_classes * samples_per_class
    pos = np.empty((m, num_points, 3), dtype=np.float32)
    normals = np.empty((m, num_points, 3), dtype=np.float32)
    part = np.empty((m, num_points), dtype=np.int16)
    y = np.repeat(np.arange(num_classes, dtype=np.int64), samples_per_class)
    decoy_class = np.empty(m, dtype=np.int64)
    k_decoy = decoy_points(num_points) if decoy is not None else 0
    name = f"SyntheticShapes {split}" + (f" (decoy: {decoy})" if decoy else "")
    with tqdm(total=m, desc=name, unit="obj", disable=not progress) as bar:
        for c, shape in enumerate(SHAPES):
            for k in range(samples_per_class):
                rng = np.random.default_rng([seed, code, c, k])
                i = c * samples_per_class + k
                obj = make_object(shape, num_points - k_decoy, rng)
                if decoy is not None:
                    decoy_rng = np.random.default_rng([seed, code, c, k, 1])
                    *obj, decoy_class[i] = add_decoy(
                        *obj, c, num_classes, k_decoy, decoy, num_parts(), decoy_rng
                    )
                pos[i], normals[i], part[i] = obj
                bar.update()
    out = {"pos": pos, "normals": normals, "part": part, "y": y}
    if decoy is not None:
        out["decoy_class"] = decoy_class
    return out
