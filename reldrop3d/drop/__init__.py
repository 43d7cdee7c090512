"""RelDrop, its rate-matched control and random point dropout: masks (``mask``), droppers."""

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
