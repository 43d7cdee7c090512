"""Which LRP rule goes on which layer: one map per model family, and its zennit composite.

A :class:`RuleMap` names, for one model instance, the rule of every layer
(by module name), the batch-norm layers to merge into the linear layer
before them, and the canonizers that fold difference features. It is the
single source for both the zennit composite (:func:`lrp_composite`) and the
fast path (:mod:`reldrop3d.relevance.fast`), so the two agree by construction.

Default rules, as is common for such networks (Montavon et al. 2019;
Kohlbrenner et al. 2020): the first layer, which sees raw coordinates,
gets the flat rule (as the published RelDrop does) or w-square; every other
linear layer gets epsilon; activations pass relevance through (``Pass``);
batch norms are merged into the preceding linear layer; dropout is the
identity in eval mode. Relevance at a max aggregation goes to the arg-max
(winner takes all, the gradient of a max). A mean pool is a linear layer
with weights :math:`1/n`: it needs a rule of its own, :class:`PoolNorm`
(:math:`R_p = x_p R_b / (n_b z_b)`, each point its share of the mean; zennit's
``Norm``), so it must be a named module (:class:`~reldrop3d.models.pool.GlobalMeanPool`).
Left without a rule, a mean pool passes the gradient, an even split
:math:`R_b / n_b` that conserves relevance but is not LRP: every point gets
the same share per channel whatever it contributed.

To support a model of your own, register a function
``(model, first_rule, epsilon) -> RuleMap`` with :func:`register_rule_map`,
and check it with :func:`~reldrop3d.relevance.lrp_identity_gap` (LRP-epsilon
against input x gradient on the bias-free model), which finds a layer that
mixes points without the right rule where conservation tests cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch_geometric.nn import MLP
from torch_geometric.nn.norm import BatchNorm
from zennit.canonizers import Canonizer
from zennit.composites import NameMapComposite
from zennit.core import Hook
from zennit.rules import Epsilon, Flat, Pass, WSquare

from reldrop3d.models import DGCNN, PointNet, PointNet2
from reldrop3d.relevance.canonizers import DifferenceFold, MergeBatchNorm
from reldrop3d.relevance.rules import PoolNorm

FIRST_RULES = {"flat": Flat, "wsquare": WSquare, "epsilon": None}


@dataclass
class RuleMap:
    """Rules by module name, batch-norm merges, and folds for one model instance."""

    rules: dict[str, Hook] = field(default_factory=dict)
    merges: list[tuple[list[str], str]] = field(default_factory=list)
    folds: list[str] = field(default_factory=list)

    def canonizers(self, differentiable: bool = False) -> list[Canonizer]:
        """Folds first, then batch-norm merges (see :mod:`reldrop3d.relevance.canonizers`);
        ``differentiable=True`` keeps the folded and merged weights functions of the
        parameters (for relevance that is differentiated again)."""
        out: list[Canonizer] = []
        if self.folds:
            out.append(DifferenceFold(self.folds, differentiable))
        if self.merges:
            out.append(MergeBatchNorm(self.merges, differentiable))
        return out

    def without(self, *names: str) -> RuleMap:
        """A copy without the rules of the modules ``names`` (relevance passes them as
        a gradient), e.g. ``without("mean_pool")`` for DGCNN's even split at the mean."""
        unknown = sorted(set(names) - set(self.rules))
        if unknown:
            raise ValueError(
                f"names must be modules with a rule in this map ({len(self.rules)} of them, "
                f"e.g. {sorted(self.rules)[:3]}), got unknown {unknown}"
            )
        rules = {k: v for k, v in self.rules.items() if k not in names}
        return RuleMap(rules=rules, merges=list(self.merges), folds=list(self.folds))

    def add_mlp(self, prefix: str, mlp: MLP, first: Hook, epsilon: float) -> None:
        """Rules for a PyG ``MLP`` at ``prefix``: ``first`` on its first linear layer,
        epsilon on the others, ``Pass`` on its activation, merges for its batch norms."""
        for i, _ in enumerate(mlp.lins):
            self.rules[f"{prefix}.lins.{i}"] = first if i == 0 else Epsilon(epsilon)
        if mlp.act is not None:
            self.rules[f"{prefix}.act"] = Pass()
        for i, norm in enumerate(mlp.norms):
            if isinstance(norm, BatchNorm):
                self.merges.append(([f"{prefix}.lins.{i}"], f"{prefix}.norms.{i}.module"))
            elif isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
                self.merges.append(([f"{prefix}.lins.{i}"], f"{prefix}.norms.{i}"))


def first_layer_rule(first_rule: str, epsilon: float) -> Hook:
    """The rule named by ``first_rule`` (``"flat"``, ``"wsquare"`` or ``"epsilon"``) for
    the layers that see raw coordinates; for rule maps of your own."""
    if first_rule not in FIRST_RULES:
        raise ValueError(f"first_rule must be one of {sorted(FIRST_RULES)}, got {first_rule!r}")
    rule = FIRST_RULES[first_rule]
    return Epsilon(epsilon) if rule is None else rule()


def pointnet_map(model: PointNet, first_rule: str, epsilon: float) -> RuleMap:
    """PointNet: the first layer of the shared MLP sees the coordinates.

    With ``tnet=True`` the transformer networks get epsilon rules too, but
    the product of the points with the predicted matrix passes relevance as
    a gradient: conservation is then approximate.
    """
    m = RuleMap()
    m.add_mlp("local1", model.local1, first_layer_rule(first_rule, epsilon), epsilon)
    m.add_mlp("local2", model.local2, Epsilon(epsilon), epsilon)
    m.add_mlp("head", model.head, Epsilon(epsilon), epsilon)
    for name in ("input_transform", "feature_transform"):
        tnet = getattr(model, name)
        if tnet is not None:
            first = (
                first_layer_rule(first_rule, epsilon)
                if name == "input_transform"
                else Epsilon(epsilon)
            )
            m.add_mlp(f"{name}.local", tnet.local, first, epsilon)
            m.add_mlp(f"{name}.head", tnet.head, Epsilon(epsilon), epsilon)
    return m


def pointnet2_map(model: PointNet2, first_rule: str, epsilon: float) -> RuleMap:
    """PointNet++: the first layer of every scale of the first level sees coordinates;
    every set-abstraction convolution has its relative positions folded."""
    m = RuleMap()
    for li, level in enumerate(model.levels):
        for ci, conv in enumerate(level.convs):
            name = f"levels.{li}.convs.{ci}"
            first = first_layer_rule(first_rule, epsilon) if li == 0 else Epsilon(epsilon)
            m.add_mlp(f"{name}.local_nn", conv.local_nn, first, epsilon)
            m.folds.append(name)
    m.add_mlp("global_mlp", model.global_mlp, Epsilon(epsilon), epsilon)
    m.add_mlp("head", model.head, Epsilon(epsilon), epsilon)
    return m


def dgcnn_map(model: DGCNN, first_rule: str, epsilon: float) -> RuleMap:
    """DGCNN: the first EdgeConv sees coordinates; every EdgeConv has ``x_j - x_i`` folded;
    the mean half of the global feature ``[max, mean]`` has the norm rule."""
    m = RuleMap()
    for i, conv in enumerate(model.convs):
        first = first_layer_rule(first_rule, epsilon) if i == 0 else Epsilon(epsilon)
        m.add_mlp(f"convs.{i}.nn", conv.nn, first, epsilon)
        m.folds.append(f"convs.{i}")
    m.add_mlp("embed", model.embed, Epsilon(epsilon), epsilon)
    m.rules["mean_pool"] = PoolNorm(epsilon)
    m.add_mlp("head", model.head, Epsilon(epsilon), epsilon)
    return m


RULE_MAPS: dict[type, Callable[[torch.nn.Module, str, float], RuleMap]] = {
    PointNet: pointnet_map,
    PointNet2: pointnet2_map,
    DGCNN: dgcnn_map,
}


def register_rule_map(cls: type, fn: Callable[[torch.nn.Module, str, float], RuleMap]) -> None:
    """Teach :func:`rule_map` (and so ``method="lrp"``) a model class of your own."""
    RULE_MAPS[cls] = fn


def rule_map(model: torch.nn.Module, first_rule: str = "flat", epsilon: float = 1e-6) -> RuleMap:
    """The :class:`RuleMap` of ``model`` (a reldrop3d model or a registered class)."""
    for cls in type(model).__mro__:
        if cls in RULE_MAPS:
            return RULE_MAPS[cls](model, first_rule, epsilon)
    raise TypeError(
        f"no LRP rule map for model type {type(model).__name__}; known: "
        f"{sorted(c.__name__ for c in RULE_MAPS)}. Register one with "
        f"reldrop3d.relevance.register_rule_map, or pass composite=... to point_relevance"
    )


class PointLRPComposite(NameMapComposite):
    """A zennit ``NameMapComposite`` built from a :class:`RuleMap`, kept as ``rule_map``.

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
        model: a reldrop3d model (or a class registered with :func:`register_rule_map`).
        first_rule: rule of the layers that see raw coordinates: ``"flat"``
            (default, as the published RelDrop), ``"wsquare"`` or ``"epsilon"``.
        epsilon: stabiliser of the epsilon rule on the other linear layers.

    Use it with zennit directly (``with composite.context(model): ...``), or
    inspect ``composite.rule_map`` to see which rule sits on which layer.
    """
    return PointLRPComposite(rule_map(model, first_rule, epsilon))
