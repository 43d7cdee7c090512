"""The classes of :class:`~reldrop3d.data.SyntheticShapes`: one builder per class, and
the open3d primitives they are made of.

A builder takes a :class:`numpy.random.Generator` and returns a list of named
:class:`Part` meshes (several may share a name: four legs are one part), z up, in
metre-like units, with proportions drawn per object; related classes overlap so that
the task is learnable but not trivial. ``@register("name", parts=(...))`` adds a class;
class indices and global part ids follow the order of registration.

The primitives (:func:`box`, :func:`cylinder`, :func:`cone`, :func:`torus`) wrap
``open3d.geometry.TriangleMesh.create_*`` (open3d imported on first use): ``center``
in world coordinates, ``axis`` (``"x"``, ``"y"``, ``"z"``) the direction of the
shape's own z axis (height of a cylinder or cone, hole of a torus).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from reldrop3d.data.surface import triangle_areas

Vec = Sequence[float] | np.ndarray


def rotation(axis: int, angle: float) -> np.ndarray:
    """``[3, 3]`` right-handed rotation by ``angle`` (radians) about ``axis`` (0, 1, 2)."""
    c, s = np.cos(angle), np.sin(angle)
    a, b = (axis + 1) % 3, (axis + 2) % 3
    r = np.eye(3)
    r[a, a], r[a, b], r[b, a], r[b, b] = c, -s, s, c
    return r


#: Rotation taking +z to each named axis.
AXES: dict[str, np.ndarray] = {
    "z": np.eye(3),
    "x": rotation(1, np.pi / 2),
    "y": rotation(0, -np.pi / 2),
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


def _open3d(create: str, axis: str, center: Vec, **kwargs) -> Mesh:
    """``open3d.geometry.TriangleMesh.<create>(**kwargs)``, its z turned to ``axis``, moved by
    ``center``."""
    import open3d

    if axis not in AXES:
        raise ValueError(f"axis must be one of {list(AXES)}, got {axis!r}")
    mesh = getattr(open3d.geometry.TriangleMesh, create)(**kwargs)
    base = Mesh(np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.triangles, np.int64))
    return base.transformed(AXES[axis], center)


def box(size: Vec, center: Vec = (0, 0, 0)) -> Mesh:
    """Axis-aligned box of extents ``size = (sx, sy, sz)`` centred at ``center``."""
    sx, sy, sz = (float(s) for s in size)
    corner = np.asarray(center, dtype=np.float64) - np.array([sx, sy, sz]) / 2
    return _open3d("create_box", "z", corner, width=sx, height=sy, depth=sz)


def cylinder(radius: float, height: float, center: Vec = (0, 0, 0), axis: str = "z") -> Mesh:
    """Closed 20-sided cylinder of ``radius``, ``height`` along ``axis``, centred at ``center``."""
    kw = {"radius": float(radius), "height": float(height), "resolution": 20, "split": 1}
    return _open3d("create_cylinder", axis, center, **kw)


def cone(radius: float, height: float, base: Vec = (0, 0, 0), axis: str = "z") -> Mesh:
    """Closed 20-sided cone, base disc centred at ``base``, apex ``height`` along ``axis``."""
    kw = {"radius": float(radius), "height": float(height), "resolution": 20, "split": 1}
    return _open3d("create_cone", axis, base, **kw)


def torus(radius: float, tube: float, center: Vec = (0, 0, 0), axis: str = "z") -> Mesh:
    """Torus (20 x 10 segments) of centre-line ``radius``, ``tube`` radius, hole along ``axis``."""
    kw = {"radial_resolution": 20, "tubular_resolution": 10}
    return _open3d(
        "create_torus", axis, center, torus_radius=float(radius), tube_radius=float(tube), **kw
    )


@dataclass(frozen=True)
class Part:
    """One named piece of an object; ``name`` is the part's name within its class."""

    name: str
    mesh: Mesh


Builder = Callable[[np.random.Generator], list[Part]]


@dataclass(frozen=True)
class ShapeClass:
    """A class: its name, part names, builder and the global id of its first part."""

    name: str
    parts: tuple[str, ...]
    build: Builder
    first_part: int

    @property
    def part_ids(self) -> tuple[int, ...]:
        return tuple(range(self.first_part, self.first_part + len(self.parts)))


#: The registered classes, in label order.
SHAPES: list[ShapeClass] = []


def register(name: str, parts: tuple[str, ...]) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to :data:`SHAPES` as class ``name`` with ``parts``."""

    def add(build: Builder) -> Builder:
        SHAPES.append(ShapeClass(name, parts, build, num_parts()))
        return build

    return add


def num_parts() -> int:
    """Number of global part ids of the registered classes."""
    return sum(len(s.parts) for s in SHAPES)


def _legs(
    rng: np.random.Generator, half_x: float, half_y: float, height: float, radius: float
) -> list[Part]:
    """Four vertical legs (all round or all square) under the corners ``(+-half_x, +-half_y)``."""
    square = rng.random() < 0.4
    corners = [(sx * half_x, sy * half_y, height / 2) for sx in (-1, 1) for sy in (-1, 1)]
    if square:
        return [Part("leg", box((2 * radius, 2 * radius, height), c)) for c in corners]
    return [Part("leg", cylinder(radius, height, c)) for c in corners]


@register("table", parts=("top", "leg", "shelf"))
def table(rng: np.random.Generator) -> list[Part]:
    """A board on four legs, sometimes with a lower shelf; higher and wider than a bench."""
    length = rng.uniform(0.7, 1.8)
    width = length * rng.uniform(0.35, 0.9)
    height = rng.uniform(0.45, 0.8)
    thick = rng.uniform(0.03, 0.07)
    inset = rng.uniform(0.03, 0.12)
    top = box((length, width, thick), (0, 0, height - thick / 2))
    legs = _legs(
        rng, length / 2 - inset, width / 2 - inset, height - thick, rng.uniform(0.02, 0.05)
    )
    parts = [Part("top", top), *legs]
    if rng.random() < 0.3:
        z = height * rng.uniform(0.15, 0.4)
        parts.append(Part("shelf", box((length - 2 * inset, width - 2 * inset, thick), (0, 0, z))))
    return parts


@register("chair", parts=("seat", "leg", "back", "arm"))
def chair(rng: np.random.Generator) -> list[Part]:
    """A square seat on four legs, a back rising from its rear edge, sometimes armrests."""
    side = rng.uniform(0.4, 0.6)
    depth = side * rng.uniform(0.85, 1.15)
    height = rng.uniform(0.4, 0.55)
    thick = rng.uniform(0.03, 0.07)
    seat = box((side, depth, thick), (0, 0, height - thick / 2))
    legs = _legs(rng, side / 2 - 0.03, depth / 2 - 0.03, height - thick, rng.uniform(0.015, 0.035))
    back_h = rng.uniform(0.12, 0.6)
    back_t = rng.uniform(0.03, 0.06)
    back = box((side, back_t, back_h), (0, -depth / 2 + back_t / 2, height + back_h / 2))
    parts = [Part("seat", seat), *legs, Part("back", back)]
    if rng.random() < 0.3:
        arm_h = rng.uniform(0.15, 0.25)
        for sx in (-1, 1):
            arm = box((0.04, depth, 0.04), (sx * (side / 2 - 0.02), 0, height + arm_h))
            parts.append(Part("arm", arm))
    return parts


@register("stool", parts=("seat", "leg", "footrest"))
def stool(rng: np.random.Generator) -> list[Part]:
    """A round or square seat on three or four legs, sometimes a footrest ring, no back."""
    radius = rng.uniform(0.15, 0.25)
    height = rng.uniform(0.45, 0.75)
    thick = rng.uniform(0.03, 0.06)
    centre = (0, 0, height - thick / 2)
    if rng.random() < 0.6:
        seat = cylinder(radius, thick, centre)
    else:
        seat = box((2 * radius, 2 * radius, thick), centre)
    n_legs = int(rng.integers(3, 5))
    at = radius * rng.uniform(0.6, 0.85)
    leg_r = rng.uniform(0.015, 0.03)
    parts = [Part("seat", seat)]
    for k in range(n_legs):
        angle = 2 * np.pi * k / n_legs
        xy = at * np.cos(angle), at * np.sin(angle)
        parts.append(Part("leg", cylinder(leg_r, height - thick, (*xy, (height - thick) / 2))))
    if rng.random() < 0.3:
        ring = torus(at, leg_r, (0, 0, height * rng.uniform(0.25, 0.45)))
        parts.append(Part("footrest", ring))
    return parts


@register("bench", parts=("seat", "leg", "back"))
def bench(rng: np.random.Generator) -> list[Part]:
    """A long narrow low board on two slab legs or four legs, sometimes with a backrest."""
    length = rng.uniform(0.8, 1.8)
    width = rng.uniform(0.28, 0.6)
    height = rng.uniform(0.38, 0.6)
    thick = rng.uniform(0.03, 0.07)
    seat = box((length, width, thick), (0, 0, height - thick / 2))
    inset = rng.uniform(0.05, 0.2)
    leg_h = height - thick
    if rng.random() < 0.5:
        slab_t = rng.uniform(0.03, 0.06)
        legs = [
            Part("leg", box((slab_t, width * 0.9, leg_h), (s * (length / 2 - inset), 0, leg_h / 2)))
            for s in (-1, 1)
        ]
    else:
        legs = _legs(rng, length / 2 - inset, width / 2 - 0.04, leg_h, rng.uniform(0.02, 0.04))
    parts = [Part("seat", seat), *legs]
    if rng.random() < 0.35:
        back_h, back_t = rng.uniform(0.2, 0.45), rng.uniform(0.03, 0.06)
        back = box((length, back_t, back_h), (0, -width / 2 + back_t / 2, height + back_h / 2))
        parts.append(Part("back", back))
    return parts


@register("lamp", parts=("base", "pole", "shade"))
def lamp(rng: np.random.Generator) -> list[Part]:
    """A disc base, a thin pole and a conical or drum shade on top."""
    base_r = rng.uniform(0.08, 0.16)
    base_t = rng.uniform(0.02, 0.05)
    pole_h = rng.uniform(0.3, 0.7)
    pole_r = rng.uniform(0.008, 0.02)
    shade_r = rng.uniform(0.1, 0.25)
    shade_h = rng.uniform(0.12, 0.3)
    top = base_t + pole_h
    if rng.random() < 0.5:
        shade = cone(shade_r, shade_h, (0, 0, top - shade_h / 2))
    else:
        shade = cylinder(shade_r, shade_h, (0, 0, top))
    return [
        Part("base", cylinder(base_r, base_t, (0, 0, base_t / 2))),
        Part("pole", cylinder(pole_r, pole_h, (0, 0, base_t + pole_h / 2))),
        Part("shade", shade),
    ]


@register("mug", parts=("body", "handle"))
def mug(rng: np.random.Generator) -> list[Part]:
    """A cylinder with a ring handle on its side."""
    radius = rng.uniform(0.035, 0.055)
    height = radius * rng.uniform(1.4, 3.0)
    handle_r = height * rng.uniform(0.2, 0.32)
    tube = rng.uniform(0.005, 0.01)
    return [
        Part("body", cylinder(radius, height, (0, 0, height / 2))),
        Part("handle", torus(handle_r, tube, (radius, 0, height / 2), axis="y")),
    ]


@register("bottle", parts=("body", "neck", "cap", "handle"))
def bottle(rng: np.random.Generator) -> list[Part]:
    """A cylinder with a conical shoulder, a narrow neck and a cap, sometimes a side handle."""
    radius = rng.uniform(0.03, 0.05)
    height = radius * rng.uniform(2.5, 6.0)
    shoulder = radius * rng.uniform(0.5, 1.2)
    neck_r = radius * rng.uniform(0.25, 0.45)
    neck_h = radius * rng.uniform(0.8, 2.0)
    neck_z = height + shoulder * (1 - neck_r / radius)
    cap_r = neck_r * rng.uniform(1.1, 1.4)
    cap_h = radius * rng.uniform(0.3, 0.7)
    body = Mesh.merge(
        [cylinder(radius, height, (0, 0, height / 2)), cone(radius, shoulder, (0, 0, height))]
    )
    parts = [
        Part("body", body),
        Part("neck", cylinder(neck_r, neck_h, (0, 0, neck_z + neck_h / 2))),
        Part("cap", cylinder(cap_r, cap_h, (0, 0, neck_z + neck_h + cap_h / 2))),
    ]
    if rng.random() < 0.3:
        ring = torus(radius * rng.uniform(0.5, 0.8), radius * 0.12, axis="y")
        parts.append(Part("handle", ring.transformed(shift=(radius, 0, height * 0.6))))
    return parts


@register("airplane", parts=("fuselage", "wing", "tail"))
def airplane(rng: np.random.Generator) -> list[Part]:
    """A horizontal fuselage with a nose cone, a pair of wings and a tail (fin + stabiliser)."""
    length = rng.uniform(1.4, 2.4)
    radius = rng.uniform(0.08, 0.14)
    nose = rng.uniform(0.15, 0.35)
    span = rng.uniform(1.2, 2.4)
    chord = rng.uniform(0.2, 0.45)
    thick = rng.uniform(0.02, 0.05)
    fuselage = Mesh.merge(
        [cylinder(radius, length, axis="x"), cone(radius, nose, (length / 2, 0, 0), axis="x")]
    )
    wing_x = rng.uniform(-0.15, 0.15) * length
    wing = box((chord, span, thick), (wing_x, 0, rng.uniform(-0.5, 0.5) * radius))
    fin_c, fin_h = rng.uniform(0.15, 0.3), rng.uniform(0.2, 0.4)
    tail_x = -length / 2 + fin_c / 2
    fin = box((fin_c, thick, fin_h), (tail_x, 0, radius + fin_h / 2 - 0.02))
    stab = box((fin_c, rng.uniform(0.4, 0.8), thick), (tail_x, 0, 0))
    return [Part("fuselage", fuselage), Part("wing", wing), Part("tail", Mesh.merge([fin, stab]))]


@register("rocket", parts=("body", "nose", "fin"))
def rocket(rng: np.random.Generator) -> list[Part]:
    """An upright cylinder with a nose cone and three or four fins at its foot."""
    radius = rng.uniform(0.06, 0.12)
    height = rng.uniform(0.7, 1.3)
    n_fins = int(rng.integers(3, 5))
    fin_l, fin_h = rng.uniform(0.08, 0.2), rng.uniform(0.15, 0.3)
    fin_t = rng.uniform(0.01, 0.03)
    fin = box((fin_l, fin_t, fin_h), (radius + fin_l / 2 - 0.01, 0, fin_h / 2))
    fins = [
        Part("fin", fin.transformed(rotation(2, 2 * np.pi * k / n_fins))) for k in range(n_fins)
    ]
    return [
        Part("body", cylinder(radius, height, (0, 0, height / 2))),
        Part("nose", cone(radius, radius * rng.uniform(1.5, 3.5), (0, 0, height))),
        *fins,
    ]


@register("shelf", parts=("side", "board", "back"))
def shelf(rng: np.random.Generator) -> list[Part]:
    """Two upright side panels holding two to five boards, sometimes a back panel."""
    width = rng.uniform(0.6, 1.4)
    depth = rng.uniform(0.25, 0.5)
    height = rng.uniform(0.6, 1.8)
    thick = rng.uniform(0.02, 0.04)
    sides = [
        Part("side", box((thick, depth, height), (s * (width / 2 - thick / 2), 0, height / 2)))
        for s in (-1, 1)
    ]
    levels = np.linspace(thick / 2, height - thick / 2, int(rng.integers(2, 6)))
    boards = [Part("board", box((width - 2 * thick, depth, thick), (0, 0, z))) for z in levels]
    parts = [*sides, *boards]
    if rng.random() < 0.4:
        back = box((width, thick, height), (0, -depth / 2 - thick / 2, height / 2))
        parts.append(Part("back", back))
    return parts
