"""Uniform sampling of points on a triangle mesh (numpy, seeded).

A mesh is ``vertices [V, 3]`` float and ``triangles [T, 3]`` int. A triangle
``(a, b, c)`` is picked with probability ``area / total area``, then a point in
it with the square-root trick

.. math::
    p = (1 - \\sqrt{u})\\,a + \\sqrt{u}(1 - v)\\,b + \\sqrt{u}\\,v\\,c,
    \\qquad u, v \\sim \\mathcal{U}(0, 1),

which is uniform over the triangle. The normal of a sampled point is the unit
normal ``(b - a) x (c - a) / |...|`` of its triangle. All randomness comes from
the :class:`numpy.random.Generator` passed in, so a fixed seed gives the same
points on every machine.
"""

from __future__ import annotations

import numpy as np


def triangle_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area of each triangle, ``[T]``."""
    a, b, c = (vertices[triangles[:, k]] for k in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def sample_surface(
    vertices: np.ndarray, triangles: np.ndarray, num_points: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` points (may be 0) uniformly on the mesh ``vertices [V, 3]``,
    ``triangles [T, 3]``, and the unit normals of their triangles (zero for a degenerate
    one): ``(points [n, 3], normals [n, 3])`` float32. A ValueError if the mesh has no
    triangle or zero total area."""
    vertices = np.asarray(vertices, dtype=np.float64)
    triangles = np.asarray(triangles, dtype=np.int64)
    if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.shape[0] == 0:
        raise ValueError(f"triangles must have shape [T>0, 3], got {triangles.shape}")
    areas = triangle_areas(vertices, triangles)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f"mesh surface area must be finite and positive, got {total}")
    face = rng.choice(triangles.shape[0], size=num_points, p=areas / total)
    u, v = rng.random((2, num_points))
    r = np.sqrt(u)[:, None]
    v = v[:, None]
    a, b, c = (vertices[triangles[face, k]] for k in range(3))
    points = (1 - r) * a + r * (1 - v) * b
    points += r * v * c
    n = np.cross(b - a, c - a)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    normals = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
    return points.astype(np.float32), normals.astype(np.float32)


def allocate(weights: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` into integer counts proportional to ``weights`` (largest remainder): they
    sum to ``total``, each within 1 of ``total * w / sum(w)``; ties go to the earlier entry."""
    weights = np.asarray(weights, dtype=np.float64)
    share = total * weights / weights.sum()
    counts = np.floor(share).astype(np.int64)
    rest = total - int(counts.sum())
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


def normalize_unit_sphere_np(points: np.ndarray) -> np.ndarray:
    """Centre ``points [N, 3]`` at their centroid and scale the largest radius to 1."""
    centred = points - points.mean(axis=0, keepdims=True)
    radius = np.linalg.norm(centred, axis=1).max()
    return centred / radius if radius > 0 else centred
