"""LRP that is right, not only conservative: on a bias-free network, LRP-epsilon seeded
with the logit equals input x gradient point by point (Ancona et al., ICLR 2018).

For every model family and for a model registered with ``register_rule_map``,
through the fast path and through zennit, after a few optimiser steps. In
float64 with epsilon 1e-12: the gap is proportional to epsilon (measured on
DGCNN: 4e-4, 4e-5, 4e-8, 4e-11 at 1e-6, 1e-9, 1e-12, 1e-15), and in float32 a
mean pool whose channels nearly cancel adds rounding of order 1e-4.
"""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MLP
from zennit.rules import Epsilon

from reldrop3d import models
from reldrop3d.data import SyntheticShapes
from reldrop3d.models import GlobalMeanPool
from reldrop3d.models.pool import global_max_pool
from reldrop3d.relevance import (
    PoolNorm,
    RuleMap,
    first_layer_rule,
    lrp_identity_gap,
    register_rule_map,
    rule_map,
)
from reldrop3d.relevance import rulemaps as rulemaps_module
from reldrop3d.relevance.identity import without_biases

pytestmark = pytest.mark.usefixtures("one_thread")

TOL = 1e-6  # measured gaps (float64, epsilon 1e-12): 4e-8 at most; without a mean-pool rule 1.3


class MaxMeanNet(torch.nn.Module):
    """A user's model: a per-point MLP, ``[max, mean]`` pooled, and a classifier."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.local = MLP([3, 32, 64], plain_last=False, act="relu")
        self.mean_pool = GlobalMeanPool()
        self.head = MLP([128, 32, num_classes])

    def forward(self, data):
        h = self.local(data.pos)
        g = torch.cat(
            [
                global_max_pool(h, data.batch, data.num_graphs),
                self.mean_pool(h, data.batch, data.num_graphs),
            ],
            dim=-1,
        )
        return self.head(g)


def max_mean_map(model: MaxMeanNet, first_rule: str, epsilon: float) -> RuleMap:
    m = RuleMap()
    m.add_mlp("local", model.local, first_layer_rule(first_rule, epsilon), epsilon)
    m.rules["mean_pool"] = PoolNorm(epsilon)
    m.add_mlp("head", model.head, Epsilon(epsilon), epsilon)
    return m


@pytest.fixture(scope="module", autouse=True)
def registered():
    register_rule_map(MaxMeanNet, max_mean_map)
    yield
    rulemaps_module.RULE_MAPS.pop(MaxMeanNet, None)


NAMES = ["pointnet", "pointnet2", "pointnet2-msg", "dgcnn", "custom"]


def build(name: str, num_classes: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "custom":
        return MaxMeanNet(num_classes)
    kw = {"k": 8, "emb_dims": 64} if name == "dgcnn" else {}
    return models.build(name, num_classes, **kw)


@pytest.fixture(scope="module")
def clouds(tmp_path_factory) -> Batch:
    """Four SyntheticShapes objects (surfaces with parts, unit sphere) of 256 to 128 points,
    in float64."""
    shapes = SyntheticShapes("train", 256, 1, root=tmp_path_factory.mktemp("shapes"))
    g = torch.Generator().manual_seed(0)
    data = []
    for i, n in zip((0, 3, 6, 9), (256, 200, 160, 128)):
        d = shapes[i]
        keep = torch.randperm(d.pos.size(0), generator=g)[:n]
        data.append(Data(pos=d.pos[keep].double(), y=torch.tensor([i % 4])))
    return Batch.from_data_list(data)


def trained(name: str, batch: Batch, steps: int = 3) -> torch.nn.Module:
    """Weights and batch-norm statistics moved away from initialisation."""
    model = build(name).double().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(batch), batch.y).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def models_of(clouds):
    """``name -> trained model``, each trained once for both paths."""
    cache = {}

    def get(name: str) -> torch.nn.Module:
        if name not in cache:
            cache[name] = trained(name, clouds)
        return cache[name]

    return get


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "zennit"])
@pytest.mark.parametrize("name", NAMES)
def test_lrp_epsilon_equals_input_x_gradient_on_a_bias_free_network(name, fast, clouds, models_of):
    model = models_of(name)
    gap = lrp_identity_gap(model, clouds, fast=fast, epsilon=1e-12)
    assert gap < TOL, f"{name}: max |LRP - input x gradient| / max |input x gradient| = {gap:.2e}"


def test_the_bias_free_copy_leaves_the_model_alone(clouds, models_of):
    model = models_of("pointnet")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = without_biases(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    biases = [m.bias for m in plain.modules() if isinstance(getattr(m, "bias", None), torch.Tensor)]
    assert biases and all((b == 0).all() for b in biases)
    norms = [m for m in plain.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert norms and all((n.running_mean == 0).all() and (n.running_var != 1).any() for n in norms)
    with pytest.raises(ValueError, match="epsilon must be a positive number, got 0"):
        lrp_identity_gap(model, clouds, epsilon=0)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "zennit"])
@pytest.mark.parametrize("name,least", [("dgcnn", 0.1), ("custom", 1e-3)])
def test_the_check_fails_where_a_mean_pool_splits_relevance_evenly(
    name, least, fast, clouds, models_of
):
    """The rule map before the mean pool had a rule: conservative, and wrong."""
    model = models_of(name)
    even = rule_map(model, "epsilon", 1e-12).without("mean_pool")
    gap = lrp_identity_gap(model, clouds, fast=fast, epsilon=1e-12, rules=even)
    assert gap > least
    with pytest.raises(
        ValueError, match=r"names must be modules with a rule .* unknown \['pool'\]"
    ):
        rule_map(model).without("pool")
