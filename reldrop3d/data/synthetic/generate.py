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
   matters only for parts added at a fixed absolute size; the stretches
   change the proportions).

With ``decoy=`` a decoy sphere is added after step 4 (:mod:`.decoy`).

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
from reldrop3d.data.synthetic.decoy import add_decoy, decoy_points
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
    split: str,
    num_points: int,
    samples_per_class: int,
    seed: int,
    progress: bool = True,
    decoy: str | None = None,
) -> dict[str, np.ndarray]:
    """All objects of ``split``, class by class.

    With ``decoy`` (one of :data:`~.decoy.DECOY_MODES`) every object gets a
    decoy sphere (:mod:`.decoy`) with part id ``sum(len(s.parts) for s in SHAPES)``.

    Returns:
        ``pos [M, n, 3]`` float32, ``normals [M, n, 3]`` float32,
        ``part [M, n]`` int16 (converted on load) and ``y [M]`` int64, with
        ``M = num_classes * samples_per_class``; with a decoy also
        ``decoy_class [M]`` int64, the class whose decoy position each object carries.
    """
    code = SPLIT_CODES[split]
    offsets = part_offsets()
    num_classes = len(SHAPES)
    m = num_classes * samples_per_class
    pos = np.empty((m, num_points, 3), dtype=np.float32)
    normals = np.empty((m, num_points, 3), dtype=np.float32)
    part = np.empty((m, num_points), dtype=np.int16)
    y = np.repeat(np.arange(num_classes, dtype=np.int64), samples_per_class)
    decoy_class = np.empty(m, dtype=np.int64)
    k_decoy = decoy_points(num_points) if decoy is not None else 0
    decoy_part = sum(len(s.parts) for s in SHAPES)
    name = f"SyntheticShapes {split}" + (f" (decoy: {decoy})" if decoy else "")
    bar = tqdm(total=m, desc=name, unit="obj", disable=not progress)
    with bar:
        for c, shape in enumerate(SHAPES):
            for k in range(samples_per_class):
                rng = np.random.default_rng([seed, code, c, k])
                i = c * samples_per_class + k
                obj = make_object(shape, offsets[c], num_points - k_decoy, rng)
                if decoy is not None:
                    decoy_rng = np.random.default_rng([seed, code, c, k, 1])
                    *obj, decoy_class[i] = add_decoy(
                        *obj, c, num_classes, k_decoy, decoy, decoy_part, decoy_rng
                    )
                pos[i], normals[i], part[i] = obj
                bar.update()
    out = {"pos": pos, "normals": normals, "part": part, "y": y}
    if decoy is not None:
        out["decoy_class"] = decoy_class
    return out
