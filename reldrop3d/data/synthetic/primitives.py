"""Triangle meshes from open3d primitives, as plain numpy arrays.

:class:`Mesh` is ``vertices [V, 3]`` float64 and ``triangles [T, 3]`` int64.
The constructors (:func:`box`, :func:`cylinder`, :func:`cone`,
:func:`sphere`, :func:`torus`) call ``open3d.geometry.TriangleMesh.create_*``
(open3d is imported on first use, never at package import), then place the
result: sizes in world units, ``center`` in world coordinates, and ``axis``
one of ``"x", "y", "z", "-x", "-y", "-z"`` for the direction of the shape's
own z axis (the height of a cylinder or cone, the hole of a torus).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reldrop3d.data.surface import triangle_areas

Vec = Sequence[float] | np.ndarray


def rot_x(angle: float) -> np.ndarray:
    """``[3, 3]`` rotation by ``angle`` (radians) about x."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle: float) -> np.ndarray:
    """``[3, 3]`` rotation by ``angle`` (radians) about y."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle: float) -> np.ndarray:
    """``[3, 3]`` rotation by ``angle`` (radians) about z."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


#: Rotation taking +z to each named axis.
AXES: dict[str, np.ndarray] = {
    "z": np.eye(3),
    "-z": rot_x(np.pi),
    "x": rot_y(np.pi / 2),
    "-x": rot_y(-np.pi / 2),
    "y": rot_x(-np.pi / 2),
    "-y": rot_x(np.pi / 2),
}


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh: ``vertices [V, 3]`` float64, ``triangles [T, 3]`` int64."""

    vertices: np.ndarray
    triangles: np.ndarray

    def transformed(self, rotation: np.ndarray | None = None, shift: Vec = (0, 0, 0)) -> Mesh:
        """``v -> rotation @ v + shift`` for every vertex."""
        v = self.vertices if rotation is None else self.vertices @ np.asarray(rotation).T
        return Mesh(v + np.asarray(shift, dtype=np.float64), self.triangles)

    def scaled(self, factor: float | Vec) -> Mesh:
        """Scale every vertex by ``factor`` (a number, or one per axis) about the origin."""
        return Mesh(self.vertices * np.asarray(factor, dtype=np.float64), self.triangles)

    def area(self) -> float:
        return float(triangle_areas(self.vertices, self.triangles).sum())

    @staticmethod
    def merge(meshes: Sequence[Mesh]) -> Mesh:
        """One mesh holding all of ``meshes`` (triangle indices offset)."""
        offsets = np.cumsum([0] + [m.vertices.shape[0] for m in meshes[:-1]])
        return Mesh(
            np.concatenate([m.vertices for m in meshes]),
            np.concatenate([m.triangles + o for m, o in zip(meshes, offsets, strict=True)]),
        )


def _o3d() -> Any:
    import open3d

    return open3d


def _place(mesh: Any, axis: str, center: Vec) -> Mesh:
    if axis not in AXES:
        raise ValueError(f"axis must be one of {list(AXES)}, got {axis!r}")
    base = Mesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.triangles, np.int64))
    return base.transformed(AXES[axis], center)


def box(size: Vec, center: Vec = (0, 0, 0)) -> Mesh:
    """Axis-aligned box of extents ``size = (sx, sy, sz)`` centred at ``center``."""
    sx, sy, sz = (float(s) for s in size)
    m = _o3d().geometry.TriangleMesh.create_box(width=sx, height=sy, depth=sz)
    return _place(m, "z", np.asarray(center, dtype=np.float64) - np.array([sx, sy, sz]) / 2)


def cylinder(
    radius: float, height: float, center: Vec = (0, 0, 0), axis: str = "z", resolution: int = 20
) -> Mesh:
    """Closed cylinder of ``radius`` and ``height`` along ``axis``, centred at ``center``."""
    m = _o3d().geometry.TriangleMesh.create_cylinder(
        radius=float(radius), height=float(height), resolution=resolution, split=1
    )
    return _place(m, axis, center)


def cone(
    radius: float, height: float, base: Vec = (0, 0, 0), axis: str = "z", resolution: int = 20
) -> Mesh:
    """Closed cone with its base disc centred at ``base`` and its apex ``height`` along ``axis``."""
    m = _o3d().geometry.TriangleMesh.create_cone(
        radius=float(radius), height=float(height), resolution=resolution, split=1
    )
    return _place(m, axis, base)


def sphere(radius: float, center: Vec = (0, 0, 0), resolution: int = 10) -> Mesh:
    """Sphere of ``radius`` centred at ``center``."""
    m = _o3d().geometry.TriangleMesh.create_sphere(radius=float(radius), resolution=resolution)
    return _place(m, "z", center)


def torus(
    radius: float, tube: float, center: Vec = (0, 0, 0), axis: str = "z", resolution: int = 20
) -> Mesh:
    """Torus of centre-line ``radius`` and ``tube`` radius, its hole along ``axis``."""
    m = _o3d().geometry.TriangleMesh.create_torus(
        torus_radius=float(radius),
        tube_radius=float(tube),
        radial_resolution=resolution,
        tubular_resolution=max(resolution // 2, 6),
    )
    return _place(m, axis, center)
