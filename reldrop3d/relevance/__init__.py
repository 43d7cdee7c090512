"""Point-level relevance: LRP through zennit (with a fast path) and attribution baselines.

- :func:`point_relevance`: one value per point of a PyG batch (:data:`METHODS`).
- :func:`point_relevance_dense`: the same for ``[B, N, C]`` models.
- :func:`lrp_composite`: the zennit composite used by ``method="lrp"``.
- :func:`rule_map` / :func:`register_rule_map`: which rule sits on which layer;
  :class:`PoolNorm`: the rule of mean pools; :class:`DifferenceFold`: the canonizer
  of difference features.
- :func:`lrp_identity_gap`: checks a rule map against input x gradient.
"""

from reldrop3d.relevance.api import METHODS, point_relevance
from reldrop3d.relevance.canonizers import DifferenceFold
from reldrop3d.relevance.dense import point_relevance_dense
from reldrop3d.relevance.identity import lrp_identity_gap
from reldrop3d.relevance.rulemaps import (
    PointLRPComposite,
    RuleMap,
    first_layer_rule,
    lrp_composite,
    register_rule_map,
    rule_map,
)
from reldrop3d.relevance.rules import PoolNorm

__all__ = [
    "METHODS",
    "DifferenceFold",
    "PointLRPComposite",
    "PoolNorm",
    "RuleMap",
    "first_layer_rule",
    "lrp_composite",
    "lrp_identity_gap",
    "point_relevance",
    "point_relevance_dense",
    "register_rule_map",
    "rule_map",
]
