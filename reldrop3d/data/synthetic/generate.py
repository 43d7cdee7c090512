r"""Turning the class builders of :mod:`.shapes` into labelled point clouds.

One object of class ``c`` (:func:`make_object`):

1. ``parts = SHAPES[c].build(rng)``; meshes of the same part name are merged;
2. every vertex is scaled by ``s * (s_x, s_y, s_z)`` with ``s`` and the
   per-axis stretches drawn from ``U(0.8, 1.25)``, then rotated about the up
   axis z by ``theta ~ U(0, 2 pi)``;
3. the ``n`` points are split between parts in proportion to their surface
   area (:func:`~reldrop3d.data.surface.allocate`, exact total ``n``), and
   each part is sampled uniformly (:func:`~reldrop3d.data.surface.sample_surface`);
4. the points are shuffled, centred at their centroid and scaled so the
   largest radius is 1 (the overall scale ``s`` of step 2 cancels here; it
   matters only for parts added at a fixed absolute size, such as a future
   decoy; the stretches change the proportions).

Point ``j`` gets the global part id ``part_offset(c) + parts.index(name)``.
Object ``k`` of class ``c`` in split ``split`` draws from
``numpy.random.default_rng([seed, SPLIT_CODES[split], c, k])``: the result
depends on nothing else (not on the order of generation or on the other
classes), and the splits use disjoint streams.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from reldrop3d.data.surface import allocate, normalize_unit_sphere_np, sample_surface
from reldrop3d.data.synthetic.primitives import Mesh, rot_z
from reldrop3d.data.synthetic.shapes import SHAPES, ShapeClass

SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1, "test": 2}


def part_offsets() -> list[int]:
    """Global id of the first part of each class, in class order."""
    sizes = [len(s.parts) for s in SHAPES]
    return [int(o) for o in np.cumsum([0, *sizes[:-1]])]


def make_object(
    shape: ShapeClass, part_offset: int, num_points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample one object of ``shape``.

    Returns:
        ``(pos [n, 3] float32, normals [n, 3] float32, part [n] int64)``,
        ``pos`` inside the unit sphere, ``part`` global part ids.
    """
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
    rotation = rot_z(rng.uniform(0.0, 2 * np.pi))
    meshes = [Mesh.merge(by_name[n]).scaled(scale).transformed(rotation) for n in names]
    counts = allocate(np.array([m.area() for m in meshes]), num_points)
    pos, normals, part = [], [], []
    for name, mesh, count in zip(names, meshes, counts, strict=True):
        p, n, _ = sample_surface(mesh.vertices, mesh.triangles, int(count), rng)
        pos.append(p)
        normals.append(n)
        part.append(np.full(int(count), part_offset + shape.parts.index(name), dtype=np.int64))
    order = rng.permutation(num_points)
    pos_all = normalize_unit_sphere_np(np.concatenate(pos)[order].astype(np.float64))
    return (
        pos_all.astype(np.float32),
        np.concatenate(normals)[order],
        np.concatenate(part)[order],
    )


def generate_split(
    split: str, num_points: int, samples_per_class: int, seed: int, progress: bool = True
) -> dict[str, np.ndarray]:
    """All objects of ``split``, class by class.

    Returns:
        ``pos [M, n, 3]`` float32, ``normals [M, n, 3]`` float32,
        ``part [M, n]`` int16 (converted on load) and ``y [M]`` int64, with
        ``M = num_classes * samples_per_class``.
    """
    code = SPLIT_CODES[split]
    offsets = part_offsets()
    m = len(SHAPES) * samples_per_class
    pos = np.empty((m, num_points, 3), dtype=np.float32)
    normals = np.empty((m, num_points, 3), dtype=np.float32)
    part = np.empty((m, num_points), dtype=np.int16)
    y = np.repeat(np.arange(len(SHAPES), dtype=np.int64), samples_per_class)
    bar = tqdm(total=m, desc=f"SyntheticShapes {split}", unit="obj", disable=not progress)
    with bar:
        for c, shape in enumerate(SHAPES):
            for k in range(samples_per_class):
                rng = np.random.default_rng([seed, code, c, k])
                i = c * samples_per_class + k
                pos[i], normals[i], part[i] = make_object(shape, offsets[c], num_points, rng)
                bar.update()
    return {"pos": pos, "normals": normals, "part": part, "y": y}
