"""Point-level relevance: LRP through zennit (with a fast path) and attribution baselines.

- :func:`point_relevance`: one value per point of a PyG batch.
- :func:`point_relevance_dense`: the same for ``[B, N, C]`` models.
- :func:`lrp_composite`: the zennit composite used by ``method="lrp"``.
- :func:`rule_map` / :func:`register_rule_map`: which rule sits on which layer.
"""

from reldrop3d.relevance.api import METHODS, point_relevance
from reldrop3d.relevance.canonizers import DifferenceFold
from reldrop3d.relevance.composite import PointLRPComposite, lrp_composite
from reldrop3d.relevance.dense import DENSE_METHODS, point_relevance_dense
from reldrop3d.relevance.rulemaps import RuleMap, register_rule_map, rule_map

__all__ = [
    "DENSE_METHODS",
    "METHODS",
    "DifferenceFold",
    "PointLRPComposite",
    "RuleMap",
    "lrp_composite",
    "point_relevance",
    "point_relevance_dense",
    "register_rule_map",
    "rule_map",
]
