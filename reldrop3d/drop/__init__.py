"""Dropping points from point clouds: RelDrop, its rate-matched control and random dropout.

- :func:`relevance_mask`: which points RelDrop drops (``threshold``, ``topk`` and
  ``sample`` rules, ``min_points`` guard), for all clouds of a flat batch at once.
- :func:`random_point_mask`: the PointNet++ random point dropout mask.
- :func:`apply_fill`: a drop mask applied to a PyG batch (remove, zero, first point).
- :class:`RelDrop`, :class:`RateMatchedDrop`, :class:`RandomPointDropout`: a rule and
  a fill, called on a PyG batch (``dropper(batch, relevance)``) or on dense
  ``[B, N, C]`` tensors (``dropper.dense(points, relevance, mask)``).
"""

from reldrop3d.drop.droppers import RandomPointDropout, RateMatchedDrop, RelDrop, apply_fill
from reldrop3d.drop.mask import FILLS, MODES, random_point_mask, relevance_mask

__all__ = [
    "FILLS",
    "MODES",
    "RandomPointDropout",
    "RateMatchedDrop",
    "RelDrop",
    "apply_fill",
    "random_point_mask",
    "relevance_mask",
]
