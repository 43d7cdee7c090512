r"""The decoy variant of SyntheticShapes: a small sphere whose position gives the class away.

A benchmark for shortcut learning (explanation guidance, issue 8). Every
object of class :math:`c` is generated as in :mod:`.generate` with
:math:`n - k` points (centred, largest radius 1), and a *decoy* is added: a
small sphere of radius :data:`DECOY_RADIUS` sampled with :math:`k` =
:func:`decoy_points` ``(n)`` points, centred at

.. math::
    d = q_{c'} + \delta, \qquad \lVert\delta\rVert \le \text{DECOY\_JITTER},

where :math:`q_0, \dots, q_{C-1}` (:func:`decoy_centres`) are :math:`C` points
of a Fibonacci sphere of radius :data:`DECOY_DISTANCE`, outside the object,
and :math:`c'` depends on the mode:

- ``"class"``: :math:`c' = c`; the decoy's position predicts the class
  perfectly (training split: the shortcut);
- ``"swap"``: :math:`c'` drawn uniformly from the *other* classes; the
  decoy points to a wrong class (the de-confounded test split: a model that
  uses the shortcut is wrong);
- ``"random"``: the centre is a uniform random point of the sphere of radius
  :data:`DECOY_DISTANCE` (``decoy_class`` is then the class of the nearest
  :math:`q`).

The decoy points are shuffled in with the object's; their part label is the
extra part id ``num_parts`` of the plain dataset (name ``"decoy"``) and their
normals point outwards. The cloud is not re-normalised, so the decoy's
position does not depend on the object; points lie within radius
``DECOY_DISTANCE + DECOY_JITTER + DECOY_RADIUS`` (1.38) of the object's centroid.

Object :math:`k` of class :math:`c` draws the object from
``default_rng([seed, split, c, k])`` (as the plain dataset, with fewer points)
and the decoy from ``default_rng([seed, split, c, k, 1])``: deterministic,
independent of the order of generation.
"""

from __future__ import annotations

import numpy as np

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


def decoy_points(num_points: int) -> int:
    """Points on the decoy of a cloud of ``num_points``: ``max(4, round(n / 16))``, below ``n``."""
    k = max(MIN_DECOY_POINTS, round(num_points * DECOY_SHARE))
    if k >= num_points:
        raise ValueError(f"num_points must exceed the {k} points of the decoy, got {num_points}")
    return k


def decoy_centres(num_classes: int, distance: float = DECOY_DISTANCE) -> np.ndarray:
    """``[num_classes, 3]``: class ``c``'s decoy centre, a Fibonacci-sphere point.

    :math:`z_c = 1 - (2c + 1) / C`, :math:`\\phi_c = c\\,\\pi (3 - \\sqrt 5)`,
    scaled to radius ``distance``; for 10 classes neighbouring centres are about
    1.3 apart, far more than the decoy's size and the training augmentation's shift.
    """
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
    """Add a ``k``-point decoy to one object.

    Args:
        pos, normals: ``[n - k, 3]`` of the object; ``part``: ``[n - k]``.
        label: the object's class; ``mode``: one of :data:`DECOY_MODES`.
        decoy_part: the decoy's part id.

    Returns:
        ``(pos [n, 3] float32, normals [n, 3] float32, part [n] int64, decoy_class)``,
        the points shuffled.
    """
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
