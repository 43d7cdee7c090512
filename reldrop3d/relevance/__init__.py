"""Point-level relevance: LRP through zennit (with a fast path) and attribution baselines.

- :func:`point_relevance`: one value per point of a PyG batch.
- :func:`point_relevance_dense`: the same for ``[B, N, C]`` models.
- :func:`lrp_composite`: the zennit composite used by ``method="lrp"``.
- :func:`rule_map` / :func:`register_rule_map`: which rule sits on which layer;
  :class:`PoolNorm`: the rule of mean pools.
- :func:`lrp_identity_gap`: checks a rule map against input x gradient.

The pieces other LRP code builds on (explanation guidance's differentiable
LRP does): :func:`explaining` / :func:`unwrap` (eval mode and frozen
parameters, restored afterwards), :func:`resolve_target` and
:func:`output_relevance` (which class, and the seed: :data:`SEEDS`),
:func:`stabilize` and :func:`rule_epsilon` (the stabiliser), and
:func:`supports_fast` / :func:`ruled_modules` (which rule maps have closed
forms, and the modules they name).
"""

from reldrop3d.relevance._context import explaining, unwrap
from reldrop3d.relevance.api import METHODS, point_relevance
from reldrop3d.relevance.canonizers import DifferenceFold
from reldrop3d.relevance.composite import PointLRPComposite, lrp_composite
from reldrop3d.relevance.dense import DENSE_METHODS, point_relevance_dense
from reldrop3d.relevance.fast import (
    FAST_RULES,
    rule_epsilon,
    ruled_modules,
    stabilize,
    supports_fast,
)
from reldrop3d.relevance.identity import lrp_identity_gap, without_biases
from reldrop3d.relevance.rulemaps import RuleMap, first_layer_rule, register_rule_map, rule_map
from reldrop3d.relevance.rules import PoolNorm
from reldrop3d.relevance.targets import SEEDS, check_seed, output_relevance, resolve_target

__all__ = [
    "DENSE_METHODS",
    "FAST_RULES",
    "METHODS",
    "SEEDS",
    "DifferenceFold",
    "PointLRPComposite",
    "PoolNorm",
    "RuleMap",
    "check_seed",
    "explaining",
    "first_layer_rule",
    "lrp_composite",
    "lrp_identity_gap",
    "output_relevance",
    "point_relevance",
    "point_relevance_dense",
    "register_rule_map",
    "resolve_target",
    "rule_epsilon",
    "rule_map",
    "ruled_modules",
    "stabilize",
    "supports_fast",
    "unwrap",
    "without_biases",
]
