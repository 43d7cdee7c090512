"""Point relevance: rules attached, conservation, fast path = zennit, batching, state restored."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch
from zennit.composites import EpsilonPlusFlat
from zennit.core import Hook

from reldrop3d import names
from reldrop3d.models import GlobalMeanPool
from reldrop3d.relevance import (
    METHODS,
    DifferenceFold,
    PointLRPComposite,
    PoolNorm,
    RuleMap,
    lrp_composite,
    point_relevance,
    register_rule_map,
    rule_map,
)
from reldrop3d.relevance.rulemaps import RULE_MAPS
from tests._clouds import small_model as small
from tests._clouds import uneven_batch

NAMES = list(names.MODELS)


def realistic(model):
    """Non-trivial batch-norm statistics and affine parameters, eval mode."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
    return model.eval()


def bias_free(model):
    """Every bias and batch-norm shift zero: LRP-epsilon must then conserve relevance."""
    realistic(model)
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.zero_()
    return model


def per_cloud(r, batch):
    return torch.zeros(batch.num_graphs, dtype=r.dtype).index_add_(0, batch.batch, r)


def linears_without_rule(model, composite, batch) -> list[str]:
    """Names of the linear layers that run in a forward under ``composite`` with no zennit rule.

    A rule is a zennit ``Hook`` whose bound ``pre_forward`` sits among the
    module's pre-forward hooks while it runs.
    """
    missing, handles = [], []

    def check(module, inputs, output, name):
        hooks = module._forward_pre_hooks.values()
        if not any(isinstance(getattr(h, "__self__", None), Hook) for h in hooks):
            missing.append(name)

    with composite.context(model):
        for name, m in model.named_modules():
            if getattr(m, "weight", None) is not None and m.weight.dim() == 2:
                handles.append(
                    m.register_forward_hook(lambda mod, i, o, n=name: check(mod, i, o, n))
                )
        try:
            model(batch)
        finally:
            for h in handles:
                h.remove()
    return missing


BATCH = uneven_batch((70, 45, 100), seed=3)


@pytest.mark.parametrize("name", NAMES)
def test_every_linear_layer_runs_with_a_rule(name):
    m = realistic(small(name))
    b = BATCH.clone()
    b.pos = b.pos.requires_grad_()  # zennit hooks attach where the input requires grad
    assert linears_without_rule(m, lrp_composite(m), b) == []
    # the check can fail: zennit's stock composite does not know torch_geometric's Linear
    assert linears_without_rule(m, EpsilonPlusFlat(), b) != []


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("first_rule", ["flat", "epsilon", "wsquare"])
@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("seed", ["one", "logit"])
def test_relevance_is_conserved_per_cloud(name, first_rule, fast, seed):
    """Each cloud's relevance sums to the seeded output: 1, or the explained logit."""
    m = bias_free(small(name))
    comp = lrp_composite(m, first_rule=first_rule, epsilon=1e-9)
    r = point_relevance(m, BATCH, target="pred", composite=comp, fast=fast, seed=seed)
    assert r.shape == (BATCH.num_nodes,)
    with torch.no_grad():
        seeded = m(BATCH).max(-1).values if seed == "logit" else torch.ones(3)
    tol = 1e-4 * float(seeded.abs().max())
    torch.testing.assert_close(per_cloud(r, BATCH), seeded, rtol=0, atol=tol)


@pytest.mark.parametrize("fast", [True, False])
def test_the_logit_seed_scales_each_cloud_by_its_logit_and_keeps_the_sign(fast):
    m = realistic(small("dgcnn"))
    target = torch.tensor([0, 2, 3])
    with torch.no_grad():
        logit = m(BATCH)[torch.arange(3), target]
    assert (logit < 0).any() and (logit > 0).any()  # both signs, so the test can fail
    one = point_relevance(m, BATCH, target=target, fast=fast, seed="one")
    by_logit = point_relevance(m, BATCH, target=target, fast=fast, seed="logit")
    expected = one * logit[BATCH.batch]
    torch.testing.assert_close(
        by_logit, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max())
    )
    # the gradient methods differentiate the logit itself whatever the seed
    for method in ("input_x_gradient", "gradient"):
        a = point_relevance(m, BATCH, target=target, method=method, seed="logit")
        torch.testing.assert_close(a, point_relevance(m, BATCH, target=target, method=method))
    with pytest.raises(ValueError, match=r"seed must be one of \('one', 'logit'\), got 1"):
        point_relevance(m, BATCH, seed=1)


def test_without_the_difference_fold_conservation_breaks():
    # DGCNN: every path from the points to the output goes through x_j - x_i.
    # (In PointNet++ at initialisation nearly all relevance reaches the points
    # through the absolute positions of the global layer, so the sum hides it.)
    m = bias_free(small("dgcnn"))
    full = rule_map(m, "epsilon", 1e-9)
    unfolded = PointLRPComposite(RuleMap(rules=full.rules, merges=full.merges, folds=[]))
    r = point_relevance(m, BATCH, target="pred", composite=unfolded, fast=False)
    assert (per_cloud(r, BATCH) - 1).abs().max() > 1e-2


@pytest.mark.parametrize("name", NAMES)
def test_fast_path_matches_zennit(name):
    m = realistic(small(name))
    fast = point_relevance(m, BATCH, fast=True)
    ref = point_relevance(m, BATCH, fast=False)
    scale = ref.abs().max()
    torch.testing.assert_close(fast / scale, ref / scale, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_relevance_of_a_cloud_does_not_depend_on_the_batch(name):
    m = realistic(small(name))
    together = point_relevance(m, BATCH, target=torch.tensor([0, 1, 2]))
    alone = torch.cat(
        [
            point_relevance(m, Batch.from_data_list([d]), target=torch.tensor([t]))
            for d, t in zip(BATCH.to_data_list(), [0, 1, 2])
        ]
    )
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5 * float(alone.abs().max()))


@pytest.mark.parametrize("method", METHODS)
def test_model_state_restored_and_no_parameter_gradients(method):
    m = small("pointnet2").train()
    m.head.eval()  # a mixed state must come back exactly
    p0 = next(m.parameters())
    p0.requires_grad_(False)
    modes = [mod.training for mod in m.modules()]
    flags = [p.requires_grad for p in m.parameters()]
    stats = [b.clone() for b in m.buffers()]
    r = point_relevance(m, BATCH, method=method, generator=torch.Generator().manual_seed(0))
    assert r.shape == (BATCH.num_nodes,) and torch.isfinite(r).all()
    assert [mod.training for mod in m.modules()] == modes
    assert [p.requires_grad for p in m.parameters()] == flags
    assert all(p.grad is None for p in m.parameters())
    assert all(torch.equal(a, b) for a, b in zip(stats, m.buffers()))  # BN statistics untouched
    assert not any(isinstance(mod, torch.nn.Identity) for mod in m.modules())  # canonizers undone


def test_state_restored_after_an_exception():
    m = small("dgcnn").train()
    weights = {k: v.clone() for k, v in m.state_dict().items()}

    def boom(*_):
        raise RuntimeError("boom")

    handle = m.embed.register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="boom"):
        point_relevance(m, BATCH)
    handle.remove()
    assert m.training and all(p.requires_grad for p in m.parameters())
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in weights.items())
    assert not hasattr(m.convs[0], "message") or "message" not in m.convs[0].__dict__


def test_one_forward_pass_per_call():
    m = realistic(small("pointnet"))
    calls = []
    m.register_forward_hook(lambda *a: calls.append(1))
    for method in ("lrp", "gradient", "input_x_gradient", "saliency_map"):
        calls.clear()
        point_relevance(m, BATCH, method=method)
        assert len(calls) == 1, method


def test_targets():
    m = realistic(small("pointnet"))
    with torch.no_grad():
        pred = m(BATCH).argmax(-1)
    a = point_relevance(m, BATCH, target="pred")
    b = point_relevance(m, BATCH, target=pred)
    torch.testing.assert_close(a, b)
    c = point_relevance(m, BATCH, target=None)  # ground truth y
    d = point_relevance(m, BATCH, target=BATCH.y)
    torch.testing.assert_close(c, d)
    e = point_relevance(m, BATCH, target=2)
    f = point_relevance(m, BATCH, target=torch.full((3,), 2))
    torch.testing.assert_close(e, f)
    with pytest.raises(ValueError, match="one class index .* per cloud \\(3\\), got 2"):
        point_relevance(m, BATCH, target=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="class index in \\[0, 4\\), got 7"):
        point_relevance(m, BATCH, target=7)
    with pytest.raises(ValueError, match="method must be one of"):
        point_relevance(m, BATCH, method="shap")


def test_works_under_no_grad_and_inference_mode():
    m = realistic(small("pointnet"))
    ref = point_relevance(m, BATCH)
    with torch.no_grad():
        torch.testing.assert_close(point_relevance(m, BATCH), ref)
    with torch.inference_mode():
        b = BATCH.clone()
    with torch.inference_mode():
        torch.testing.assert_close(point_relevance(m, b), ref)


def test_baselines_follow_their_definitions():
    m = realistic(small("pointnet"))
    pos = BATCH.pos.clone().requires_grad_()
    b = BATCH.clone()
    b.pos = pos
    logits = m(b)
    onehot = torch.nn.functional.one_hot(BATCH.y.view(-1), 4).float()
    (g,) = torch.autograd.grad(logits, pos, onehot)
    torch.testing.assert_close(point_relevance(m, BATCH, method="gradient"), g.norm(dim=-1))
    torch.testing.assert_close(
        point_relevance(m, BATCH, method="input_x_gradient"), (BATCH.pos * g).sum(-1)
    )
    r1 = point_relevance(m, BATCH, method="random", generator=torch.Generator().manual_seed(5))
    r2 = point_relevance(m, BATCH, method="random", generator=torch.Generator().manual_seed(5))
    assert torch.equal(r1, r2) and r1.min() >= 0 and r1.max() < 1


def test_saliency_map_points_that_raise_the_loss_when_pulled_in_score_high():
    m = realistic(small("pointnet"))
    s = point_relevance(m, BATCH, method="saliency_map")
    # finite-difference check of the sign: pull the top point towards the median
    i = int(s[:70].argmax())
    pos = BATCH.pos.clone()
    med = pos[:70].median(dim=0).values
    loss = lambda p: torch.nn.functional.cross_entropy(  # noqa: E731
        m(Batch(pos=p, batch=BATCH.batch, y=BATCH.y, ptr=BATCH.ptr)),
        BATCH.y.view(-1),
        reduction="sum",
    )
    moved = pos.clone()
    moved[i] = pos[i] + 1e-2 * (med - pos[i])
    with torch.no_grad():
        assert loss(moved) >= loss(pos)


def test_feature_norm_maps_centroid_features_to_every_point():
    m = realistic(small("pointnet2"))
    r = point_relevance(m, BATCH, method="feature_norm")
    assert r.shape == (BATCH.num_nodes,) and torch.all(r > 0)
    rp = point_relevance(realistic(small("pointnet")), BATCH, method="feature_norm")
    assert torch.all(rp >= 0)


def test_custom_composite_and_difference_fold_are_usable_directly():
    m = realistic(small("dgcnn"))
    comp = lrp_composite(m)
    assert any(isinstance(c, DifferenceFold) for c in comp.canonizers)
    r = point_relevance(m, BATCH, composite=comp, fast=False)
    assert r.shape == (BATCH.num_nodes,)
    with pytest.raises(ValueError, match="composite= applies to method='lrp' only"):
        point_relevance(m, BATCH, method="gradient", composite=comp)
    with pytest.raises(TypeError, match="no LRP rule map for model type Linear"):
        lrp_composite(torch.nn.Linear(3, 3))


@pytest.mark.parametrize("method", ["lrp", "saliency_map"])
def test_chunked_passes_give_the_same_relevance(method):
    m = realistic(small("pointnet2"))
    whole = point_relevance(m, BATCH, method=method)
    chunked = point_relevance(m, BATCH, method=method, max_clouds=2)
    torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-6 * float(whole.abs().max()))
    with pytest.raises(ValueError, match="max_clouds must be a positive int or None, got 0"):
        point_relevance(m, BATCH, max_clouds=0)


def test_relevance_colours_diverge_around_white_and_clip_outliers():
    from reldrop3d.relevance.render import relevance_colours

    r = torch.cat([torch.linspace(-1.0, 1.0, 101), torch.tensor([1000.0])])
    rgb = relevance_colours(r, clip=0.99)
    assert rgb.shape == (102, 3) and rgb.min() >= 0.0 and rgb.max() <= 1.0
    assert abs(rgb[50] - 1.0).max() < 0.01  # zero is white
    assert rgb[100, 0] > 0.9 and rgb[100, 2] < 0.1  # +1 is red despite the outlier
    assert rgb[0, 2] > 0.9 and rgb[0, 0] < 0.1  # -1 is blue
    full = relevance_colours(r, clip=1.0)  # the outlier sets the scale: +1 is pale
    assert full[100, 1] > 0.99
    assert relevance_colours(torch.zeros(5)).min() > 0.99  # constant cloud: all white
    with pytest.raises(ValueError, match="clip must be in"):
        relevance_colours(r, clip=0.0)


class MeanOfPoints(torch.nn.Module):
    """Logits = the mean position of each cloud (3 classes): the mean pool alone."""

    def __init__(self):
        super().__init__()
        self.pool = GlobalMeanPool()

    def forward(self, data):
        return self.pool(data.pos, data.batch, data.num_graphs)


@pytest.mark.parametrize("fast", [True, False])
def test_pool_norm_gives_each_point_its_share_of_the_mean(fast):
    """R_p = x_p,t / (n_b (z_b,t + eps sign z_b,t)) for a seed of 1 at class t."""
    eps = 1e-3
    register_rule_map(MeanOfPoints, lambda model, first, e: RuleMap(rules={"pool": PoolNorm(e)}))
    try:
        m = MeanOfPoints()
        target = torch.tensor([0, 1, 2])
        comp = PointLRPComposite(rule_map(m, epsilon=eps))
        r = point_relevance(m, BATCH, target=target, composite=comp, fast=fast, seed="one")
    finally:
        RULE_MAPS.pop(MeanOfPoints)
    t = target[BATCH.batch]
    n = torch.bincount(BATCH.batch).float()[BATCH.batch]
    z = m(BATCH)[BATCH.batch, t]
    expected = BATCH.pos[torch.arange(BATCH.num_nodes), t] / (n * (z + eps * torch.sign(z)))
    torch.testing.assert_close(r, expected)
    assert r.std() > 0.1 * r.abs().mean()  # not an even split
    with pytest.raises(ValueError, match="epsilon must be a number >= 0, got -1"):
        PoolNorm(-1)
    assert repr(PoolNorm(1e-6)) == "PoolNorm(epsilon=1e-06)"
