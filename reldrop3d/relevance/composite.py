"""The zennit composite for a reldrop3d model: the reference LRP implementation."""

from __future__ import annotations

import torch
from zennit.composites import NameMapComposite

from reldrop3d.relevance.rulemaps import RuleMap, rule_map


class PointLRPComposite(NameMapComposite):
    """A zennit ``NameMapComposite`` built from a :class:`RuleMap`, which it keeps as ``rule_map``.

    zennit's stock composites match ``torch.nn.Linear`` by type and so miss
    ``torch_geometric.nn.Linear``; this one names every layer explicitly.
    """

    def __init__(self, rule_map: RuleMap):
        self.rule_map = rule_map
        name_map = [((name,), rule) for name, rule in rule_map.rules.items()]
        super().__init__(name_map=name_map, canonizers=rule_map.canonizers())


def lrp_composite(
    model: torch.nn.Module, first_rule: str = "flat", epsilon: float = 1e-6
) -> PointLRPComposite:
    """The zennit composite that ``point_relevance(method="lrp")`` uses on ``model``.

    Args:
        model: a reldrop3d model (or a class registered with
            :func:`~reldrop3d.relevance.register_rule_map`).
        first_rule: rule of the layers that see raw coordinates: ``"flat"``
            (default, as the published RelDrop), ``"wsquare"`` or ``"epsilon"``.
        epsilon: stabiliser of the epsilon rule on the other linear layers.

    Use it with zennit directly (``with composite.context(model): ...``), or
    inspect ``composite.rule_map`` to see which rule sits on which layer.
    """
    return PointLRPComposite(rule_map(model, first_rule, epsilon))
