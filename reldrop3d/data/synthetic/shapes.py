"""The classes of :class:`~reldrop3d.data.SyntheticShapes`: one small builder per class.

A builder takes a :class:`numpy.random.Generator` and returns the object as
a list of named :class:`Part` meshes, z up, standing on ``z = 0`` (or
centred, for the airplane), in metre-like units. Several meshes may share a
part name (four legs are one part, ``leg``). Proportions are drawn per
object; ranges overlap between related classes (table / bench / shelf,
chair / stool, bottle / mug / rocket / lamp) so that the task is learnable
but not trivial.

To add a class, write a builder and decorate it with
``@register("name", parts=(...))``: the class index and the global part ids
follow the order of registration. A variant such as a *decoy* (an extra
small part at a class-specific position) is a wrapper that appends one more
``Part`` to a builder's list, with a part name of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reldrop3d.data.synthetic.primitives import Mesh, box, cone, cylinder, rot_z, torus


@dataclass(frozen=True)
class Part:
    """One named piece of an object; ``name`` is the part's name within its class."""

    name: str
    mesh: Mesh


Builder = Callable[[np.random.Generator], list[Part]]


@dataclass(frozen=True)
class ShapeClass:
    """A class: its name, the names of its parts (in part-id order) and its builder."""

    name: str
    parts: tuple[str, ...]
    build: Builder


#: The registered classes, in label order.
SHAPES: list[ShapeClass] = []


def register(name: str, parts: tuple[str, ...]) -> Callable[[Builder], Builder]:
    """Decorator adding a builder to :data:`SHAPES` as class ``name`` with ``parts``."""

    def add(build: Builder) -> Builder:
        SHAPES.append(ShapeClass(name, parts, build))
        return build

    return add


def _legs(
    rng: np.random.Generator, half_x: float, half_y: float, height: float, radius: float
) -> list[Part]:
    """Four vertical legs (all round or all square) under the corners ``(+-half_x, +-half_y)``."""
    square = rng.random() < 0.4
    out = []
    for sx in (-1, 1):
        for sy in (-1, 1):
            centre = (sx * half_x, sy * half_y, height / 2)
            if square:
                mesh = box((2 * radius, 2 * radius, height), centre)
            else:
                mesh = cylinder(radius, height, centre)
            out.append(Part("leg", mesh))
    return out


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
    legs = []
    for k in range(n_legs):
        angle = 2 * np.pi * k / n_legs
        xy = at * np.cos(angle), at * np.sin(angle)
        legs.append(Part("leg", cylinder(leg_r, height - thick, (*xy, (height - thick) / 2))))
    parts = [Part("seat", seat), *legs]
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
    fins = [Part("fin", fin.transformed(rot_z(2 * np.pi * k / n_fins))) for k in range(n_fins)]
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
