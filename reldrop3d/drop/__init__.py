"""Dropping points from point clouds: RelDrop and the random-dropout baseline.

- :func:`relevance_mask`: the functional core, which points to drop
  (``threshold``, ``topk`` and ``sample`` rules, ``min_points`` guard).
- :func:`random_point_mask`: the PointNet++ random dropout mask.
- :func:`apply_fill`, :func:`apply_fill_dense`: remove / zero / first-point fill
  of a drop mask, on a PyG ``Batch`` or on dense ``[B, N, C]`` tensors.
- :class:`RelDrop`, :class:`RandomPointDropout`: thin transforms over these,
  each with a PyG call (``dropper(batch, relevance)``) and a dense one
  (``dropper.dense(points, relevance, mask)``).

Everything is batched over the clouds (no Python loop over them), works on
any device, and draws its random numbers from an optional ``torch.Generator``
in the flat order of the points, so a seed reproduces the same drops in both
input forms.
"""

from reldrop3d.drop._checks import FILLS, MODES
from reldrop3d.drop.fill import apply_fill, apply_fill_dense
from reldrop3d.drop.mask import random_point_mask, relevance_mask
from reldrop3d.drop.random_dropout import RandomPointDropout
from reldrop3d.drop.reldrop import RelDrop

__all__ = [
    "FILLS",
    "MODES",
    "RandomPointDropout",
    "RelDrop",
    "apply_fill",
    "apply_fill_dense",
    "random_point_mask",
    "relevance_mask",
]
