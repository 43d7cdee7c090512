"""Explanation guidance: the losses, differentiable attributions, and guided training."""

from __future__ import annotations

import json

import pytest
import torch
from torch_geometric.data import Batch, Data

from reldrop3d import RelDrop
from reldrop3d.data import SyntheticShapes
from reldrop3d.guidance import (
    GUIDANCE_METHODS,
    LOSSES,
    check_guidance_model,
    cyborg,
    energy,
    forward_with_attribution,
    guidance_term,
    guided_loss,
    lrp_relevance,
    rrr,
)
from reldrop3d.models import build
from reldrop3d.relevance import PointLRPComposite, point_relevance, rule_map
from reldrop3d.train import ConfigError, TrainConfig, Trainer
from reldrop3d.train.trainer import annotated_clouds
from tests._clouds import warm_bn

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- losses


def reference(name: str, a: torch.Tensor, m: torch.Tensor) -> float:
    """The issue's formulas for one cloud, written out (a loop over clouds is fine here)."""
    m = m.double()
    a = a.double()
    if name == "energy":
        pos = a.clamp(min=0)
        return 0.0 if pos.sum() == 0 else float(1 - (pos * m).sum() / pos.sum())
    if name == "rrr":
        top = a.abs().max()
        return 0.0 if top == 0 else float((((1 - m) * a / top) ** 2).sum())
    span = a.max() - a.min()
    normed = torch.zeros_like(a) if span == 0 else (a - a.min()) / span
    return float(((normed - m) ** 2).mean())


def random_batch(seed: int = 0, sizes=(7, 1, 12, 5)):
    g = torch.Generator().manual_seed(seed)
    n = sum(sizes)
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    a = torch.randn(n, generator=g)
    m = torch.rand(n, generator=g) < 0.6
    return a, m, batch


@pytest.mark.parametrize("name", list(LOSSES))
def test_losses_follow_their_definitions_per_cloud(name):
    a, m, batch = random_batch()
    out = LOSSES[name](a, m, batch)
    assert out.shape == (4,)
    expected = [reference(name, a[batch == i], m[batch == i]) for i in range(4)]
    assert torch.allclose(out.double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)
    # unsorted batch vectors and float masks give the same values
    perm = torch.randperm(a.numel(), generator=torch.Generator().manual_seed(1))
    assert torch.allclose(LOSSES[name](a[perm], m[perm].float(), batch[perm], 4), out, atol=1e-6)


def test_energy_and_rrr_are_zero_inside_the_mask_and_positive_outside():
    m = torch.tensor([1, 1, 1, 0, 0, 1, 1, 0], dtype=torch.bool)
    batch = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    inside = torch.tensor([0.5, 2.0, 0.1, 0.0, 0.0, 1.0, 3.0, 0.0])
    assert torch.equal(energy(inside, m, batch), torch.zeros(2))
    assert torch.equal(rrr(inside, m, batch), torch.zeros(2))
    # energy counts positive attribution only: negative attribution outside is allowed
    negative_outside = inside.clone()
    negative_outside[3] = -4.0
    assert energy(negative_outside, m, batch)[0] == 0 and rrr(negative_outside, m, batch)[0] > 0
    leak = inside.clone()
    leak[3], leak[7] = 0.3, 1e-3
    assert (energy(leak, m, batch) > 0).all() and (rrr(leak, m, batch) > 0).all()
    assert torch.isclose(energy(leak, m, batch)[0], torch.tensor(0.3 / 2.9))


def test_cyborg_is_zero_when_the_normalised_map_equals_the_mask():
    m = torch.tensor([1, 1, 0, 0, 1, 0], dtype=torch.bool)
    batch = torch.tensor([0, 0, 0, 0, 1, 1])
    assert torch.equal(cyborg(2.5 * m.float(), m, batch), torch.zeros(2))
    assert torch.equal(cyborg(0.5 * m.float() - 3.0, m, batch), torch.zeros(2))
    inside_but_not_flat = torch.tensor([1.0, 0.5, 0.0, 0.0, 1.0, 0.0])
    assert cyborg(inside_but_not_flat, m, batch)[0] > 0
    leak = 2.5 * m.float()
    leak[3] = 1.0
    assert (cyborg(leak, m, batch) > 0)[0]


@pytest.mark.parametrize("name", list(LOSSES))
def test_degenerate_clouds_give_finite_values_and_gradients(name):
    # cloud 0: all zero; cloud 1: all negative (no positive attribution); cloud 2: constant;
    # cloud 3: empty (num_graphs = 4)
    a = torch.tensor([0.0, 0.0, -1.0, -2.0, 0.7, 0.7], requires_grad=True)
    m = torch.tensor([1, 0, 1, 0, 1, 0], dtype=torch.bool)
    batch = torch.tensor([0, 0, 1, 1, 2, 2])
    out = LOSSES[name](a, m, batch, 4)
    assert torch.isfinite(out).all() and out[3] == 0
    if name == "energy":
        assert out[:2].tolist() == [0.0, 0.0]  # no positive attribution: nothing outside
    if name == "rrr":
        assert out[0] == 0  # max |A| = 0
    if name == "cyborg":
        assert out[0] == 0.5 and out[2] == 0.5  # constant map -> 0, loss = mean(M^2)
    out.sum().backward()
    assert torch.isfinite(a.grad).all()


def test_losses_name_bad_arguments():
    a, m, batch = random_batch()
    with pytest.raises(TypeError, match="attribution must be a 1-D float tensor"):
        energy(a.long(), m, batch)
    with pytest.raises(TypeError, match=r"mask must be a bool or float tensor of the attribution"):
        rrr(a, m[:-1], batch)
    with pytest.raises(TypeError, match="batch must be a long tensor"):
        cyborg(a, m, batch.int())
    with pytest.raises(ValueError, match="num_graphs must be a non-negative int"):
        energy(a, m, batch, -1)
    assert energy(a[:5], m[:5]).shape == (1,)  # batch=None: one cloud


def test_clouds_without_a_mask_contribute_only_cross_entropy():
    ce = torch.tensor(0.7, requires_grad=True)
    values = torch.tensor([0.2, float("nan"), 0.4, 1e9], requires_grad=True)
    has = torch.tensor([True, False, True, False])
    total = guided_loss(ce, values, has, lam=2.0)
    assert torch.isclose(total, torch.tensor(0.7 + 2.0 * 0.3))
    total.backward()
    assert values.grad.tolist() == [1.0, 0.0, 1.0, 0.0] and ce.grad == 1
    none = torch.zeros(4, dtype=torch.bool)
    assert guided_loss(ce, values, none, 5.0) == ce and guidance_term(values[:1]) == 0.2
    with pytest.raises(ValueError, match="lam must be a number >= 0"):
        guided_loss(ce, values, has, lam=-1)
    with pytest.raises(TypeError, match="has_mask must be a bool tensor of shape"):
        guided_loss(ce, values, has.float())


# ----------------------------------------------------------------------------- attribution


def clouds(dtype=torch.float32, n=32, num=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = [
        Data(pos=torch.randn(n, 3, generator=g, dtype=dtype), y=torch.tensor([i % 4]))
        for i in range(num)
    ]
    return Batch.from_data_list(data)


def test_supported_methods():
    assert GUIDANCE_METHODS == ("input_x_gradient", "gradient", "lrp")
    model, batch = build("pointnet", 4), clouds()
    for method in ("saliency_map", "feature_norm", "random"):
        with pytest.raises(ValueError, match="input_x_gradient, gradient, lrp for guidance"):
            forward_with_attribution(model, batch, method)
        with pytest.raises(ConfigError, match="guidance_method must be one of input_x_gradient"):
            TrainConfig(guidance="energy", guidance_method=method).validate()


@pytest.mark.parametrize("method", GUIDANCE_METHODS)
@pytest.mark.parametrize("name,normals", [("pointnet", False), ("pointnet2", True)])
def test_eval_mode_attribution_is_point_relevance(method, name, normals):
    torch.manual_seed(0)
    batch = clouds()
    if normals:
        batch.x = torch.randn(batch.num_nodes, 3)
    model = warm_bn(build(name, 4, in_channels=3 if normals else 0), batch)
    logits, a = forward_with_attribution(model, batch, method)
    with torch.no_grad():
        assert torch.allclose(logits, model(batch))
    expected = point_relevance(model, batch, method=method)
    assert a.requires_grad and torch.allclose(a, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", GUIDANCE_METHODS)
def test_guidance_gradient_reaches_every_layer(method):
    torch.manual_seed(0)
    batch = clouds()
    model = build("pointnet", 4)
    model.train()
    mask = torch.rand(batch.num_nodes, generator=torch.Generator().manual_seed(0)) < 0.5
    _, a = forward_with_attribution(model, batch, method)
    loss = energy(a, mask, batch.batch).mean()
    names = ["local1.lins.1.weight", "local2.lins.2.weight", "head.lins.0.weight"]
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, [params[n] for n in names])
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


FD_PARAMS = {
    "pointnet": ("local1.lins.1.weight", "local2.norms.1.module.weight", "head.lins.0.weight"),
    "dgcnn": ("convs.1.nn.lins.0.weight", "embed.norms.0.module.weight", "head.lins.0.weight"),
}


@pytest.mark.parametrize("method", ["input_x_gradient", "lrp", "lrp-logit"])
@pytest.mark.parametrize("model_name", ["pointnet", "dgcnn"])
def test_guidance_gradient_matches_finite_differences(method, model_name):
    """d energy(A(theta)) / d theta along a random direction, autograd against central
    differences, in float64. LRP uses epsilon 0.05: with the default 1e-6 the stabiliser
    makes the relevance so curved in the weights that finite differences need h < 1e-8."""
    torch.manual_seed(0)
    batch = clouds(torch.float64, n=24)
    kw = {"k": 6, "emb_dims": 32} if model_name == "dgcnn" else {}
    model = warm_bn(build(model_name, 4, **kw).double(), batch)
    mask = torch.arange(batch.num_nodes) % 3 != 0
    rules = rule_map(model, epsilon=0.05)

    def attribution(create_graph: bool):
        if method.startswith("lrp"):
            seed = "logit" if method == "lrp-logit" else "one"  # "logit": through the seed too
            if create_graph:
                return lrp_relevance(model, batch, rules=rules, seed=seed)
            comp = PointLRPComposite(rules)
            return point_relevance(model, batch, method="lrp", composite=comp, seed=seed)
        return point_relevance(model, batch, method=method, create_graph=create_graph)

    def loss(a):
        return energy(a, mask, batch.batch).sum()

    for name in FD_PARAMS[model_name]:
        p = dict(model.named_parameters())[name]
        (g,) = torch.autograd.grad(loss(attribution(True)), p)
        d = torch.randn_like(p)
        # DGCNN is piecewise smooth: its k-NN graphs and max aggregations switch at
        # h = 1e-6 on this data, so its differences are taken closer in
        h = 1e-7 if model_name == "dgcnn" else 1e-6
        with torch.no_grad():
            p.add_(h * d)
            up = float(loss(attribution(False)))
            p.sub_(2 * h * d)
            down = float(loss(attribution(False)))
            p.add_(h * d)
        numeric, analytic = (up - down) / (2 * h), float((g * d).sum())
        assert analytic != 0
        assert numeric == pytest.approx(analytic, rel=1e-4, abs=1e-8), name


def test_lrp_relevance_follows_the_seed_and_refuses_rules_without_a_closed_form():
    from zennit.rules import AlphaBeta, Pass

    from reldrop3d.relevance import RuleMap

    torch.manual_seed(0)
    batch = clouds()
    model = warm_bn(build("dgcnn", 4, k=6, emb_dims=32), batch)
    for seed in ("one", "logit"):
        expected = point_relevance(model, batch, seed=seed)
        got = lrp_relevance(model, batch, seed=seed, create_graph=False)
        torch.testing.assert_close(
            got, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max())
        )
    rules = rule_map(model)
    rules.rules["head.lins.0"] = AlphaBeta()
    with pytest.raises(ValueError, match="closed forms.*AlphaBeta"):
        lrp_relevance(model, batch, rules=rules)
    with pytest.raises(KeyError, match="names modules the model does not have: \\['nope'\\]"):
        lrp_relevance(model, batch, rules=RuleMap(rules={"nope": Pass()}))
    with pytest.raises(ValueError, match="seed must be one of"):
        lrp_relevance(model, batch, seed="two")


def test_lrp_with_create_graph_reaches_the_merged_layers_weights():
    """The canonizers put weights that are functions of the parameters in place and the rules
    read the activations of a first, rule-free pass; zennit's hooks (frozen copies) refuse."""
    torch.manual_seed(0)
    batch = clouds()
    model = warm_bn(build("pointnet", 4), batch)
    a = point_relevance(model, batch, method="lrp", create_graph=True)
    torch.testing.assert_close(a, lrp_relevance(model, batch))
    (g,) = torch.autograd.grad(a.clamp(min=0).sum(), model.local1.lins[1].weight)
    assert g.abs().sum() > 0
    with pytest.raises(ValueError, match="create_graph=True need a PointLRPComposite"):
        point_relevance(model, batch, method="lrp", fast=False, create_graph=True)


def test_train_mode_attribution_comes_from_the_training_forward():
    torch.manual_seed(0)
    batch = clouds()
    model = build("pointnet", 4)
    model.train()
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    before = model.local1.norms[0].module.num_batches_tracked.clone()
    forward_with_attribution(model, batch, "input_x_gradient")
    assert len(calls) == 1 and model.local1.norms[0].module.num_batches_tracked == before + 1
    calls.clear()
    forward_with_attribution(model, batch, "lrp")  # + an eval-mode explanation, stats untouched
    assert model.training and model.local1.norms[0].module.num_batches_tracked == before + 2


def test_weight_leaves_clouds_out_of_the_attribution():
    torch.manual_seed(0)
    batch = clouds()
    model = warm_bn(build("pointnet", 4), batch)
    weight = torch.tensor([True, False, True])
    _, a = forward_with_attribution(model, batch, "input_x_gradient", weight=weight)
    assert (a[batch.batch == 1] == 0).all() and (a[batch.batch != 1] != 0).any()


def test_pools_can_be_differentiated_twice_and_tnets_are_refused():
    from torch_scatter import segment_csr

    from reldrop3d.models.pool import global_mean_pool

    x = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    seed = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    out = segment_csr(x, torch.tensor([0, 2, 6]), reduce="mean")
    (g,) = torch.autograd.grad(out, x, seed, create_graph=True)
    assert not g.requires_grad  # segment_csr's mean cuts the graph: hence DGCNN's index_add pool
    batch = torch.tensor([0, 0, 1, 1, 1, 1])
    out = global_mean_pool(x, batch, 2)
    torch.testing.assert_close(out, segment_csr(x, torch.tensor([0, 2, 6]), reduce="mean"))
    (g,) = torch.autograd.grad(out, x, seed, create_graph=True)
    assert g.requires_grad
    with pytest.raises(ValueError, match="tnet=True"):
        check_guidance_model(build("pointnet", 4, tnet=True))
    for name in ("pointnet2", "dgcnn"):
        check_guidance_model(build(name, 4))


# ----------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def decoy(tmp_path_factory):
    root = tmp_path_factory.mktemp("decoy")
    return (
        SyntheticShapes("train", 64, 4, root=root, decoy=True),
        SyntheticShapes("test", 64, 1, root=root, decoy=True),
    )


def config(tmp_path, **kw) -> TrainConfig:
    base = dict(
        data="synthetic-decoy",
        model="pointnet",
        augment="none",
        guidance="energy",
        epochs=1,
        batch_size=10,
        num_points=64,
        min_points=16,
        out=str(tmp_path / "run"),
        eval_batch_size=40,
    )
    base.update(kw)
    return TrainConfig(**base)


def records(tmp_path, name="run"):
    return [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("augment", ["none", "reldrop"])
def test_guided_training_runs_alone_and_with_reldrop(tmp_path, decoy, augment, monkeypatch):
    import reldrop3d.train.trainer as trainer_module

    seen = []
    real = trainer_module.forward_with_attribution

    def spy(model, batch, method, **kw):
        seen.append((batch.num_nodes, batch.mask.clone(), batch.part.clone()))
        return real(model, batch, method, **kw)

    monkeypatch.setattr(trainer_module, "forward_with_attribution", spy)
    t = Trainer(config(tmp_path, augment=augment), *decoy, progress=False)
    rec = t.fit()["last"]
    assert rec["train_guidance"] is not None and 0 <= rec["train_guidance"] <= 1
    assert rec["guided_per_epoch"] == 40 and len(seen) == 4
    decoy_part = decoy[0].decoy_part
    for points, mask, part in seen:  # the mask travelled with its points
        assert torch.equal(mask, part != decoy_part)
        if augment == "reldrop":
            assert points < 40 * 64 / 4
    if augment == "reldrop":
        assert rec["dropped_per_cloud"] > 0


def test_fraction_uses_a_fixed_subset(tmp_path, decoy):
    a = annotated_clouds(1000, 0.01, seed=3)
    assert int(a.sum()) == 10 and torch.equal(a, annotated_clouds(1000, 0.01, seed=3))
    assert not torch.equal(a, annotated_clouds(1000, 0.01, seed=4))
    assert int(annotated_clouds(50, 0.001, 0).sum()) == 1 and annotated_clouds(7, 1.0, 0).all()
    t = Trainer(config(tmp_path, guidance_fraction=0.25, epochs=2), *decoy, progress=False)
    t.fit()
    assert int(t.annotated.sum()) == 10
    assert [r["guided_per_epoch"] for r in records(tmp_path)] == [10, 10]


def test_guided_run_resumes_exactly(tmp_path, decoy):
    kw = dict(guidance="rrr", guidance_fraction=0.5, augment="reldrop", batch_size=20)
    Trainer(config(tmp_path / "a", epochs=2, **kw), *decoy, progress=False).fit()
    Trainer(config(tmp_path / "b", epochs=1, **kw), *decoy, progress=False).fit()
    Trainer(config(tmp_path / "b", epochs=2, **kw), *decoy, progress=False, resume=True).fit()

    def strip(rows):
        return [{k: v for k, v in r.items() if not k.startswith("seconds")} for r in rows]

    assert strip(records(tmp_path / "a")) == strip(records(tmp_path / "b"))


def test_guidance_needs_masks(tmp_path):
    root = tmp_path / "plain"
    plain = (
        SyntheticShapes("train", 64, 1, root=root),
        SyntheticShapes("test", 64, 1, root=root),
    )
    with pytest.raises(ConfigError, match="needs a per-point 'mask'.*--data synthetic-decoy"):
        Trainer(config(tmp_path, data="synthetic"), *plain, progress=False)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"guidance": "gradcam"}, "guidance must be one of none, energy, rrr, cyborg"),
        ({"guidance_lambda": -1.0}, "guidance_lambda must be a finite number >= 0"),
        ({"guidance_fraction": 0.0}, r"guidance_fraction must be a number in \(0, 1\]"),
        ({"guidance_fraction": 1.5}, r"guidance_fraction must be a number in \(0, 1\]"),
    ],
)
def test_bad_guidance_config_is_named(kw, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kw).validate()


def test_cli_train_with_guidance(tmp_path, capsys, monkeypatch, decoy):
    import reldrop3d.data.synthetic.dataset as dataset_module
    from reldrop3d.cli import main

    monkeypatch.setattr(dataset_module, "default_synthetic_root", lambda: decoy[0].root)
    argv = [
        "train",
        "--data",
        "synthetic-decoy",
        "--samples-per-class",
        "4",
        "--num-points",
        "64",
        "--batch-size",
        "10",
        "--epochs",
        "1",
        "--augment",
        "none",
        "--out",
        str(tmp_path / "run"),
    ]
    guidance = ["--guidance", "cyborg", "--guidance-lambda", "0.5"]
    assert main([*argv, *guidance, "--guidance-method", "gradient"]) == 0
    written = (tmp_path / "run" / "config.toml").read_text()
    assert 'guidance = "cyborg"' in written and "guidance_lambda = 0.5" in written
    assert main([*argv, *guidance, "--guidance-method", "saliency_map"]) == 2
    assert "guidance_method must be one of input_x_gradient, gradient, lrp" in (
        capsys.readouterr().err
    )


def test_reldrop_keeps_masks_aligned_for_every_fill(decoy):
    batch = Batch.from_data_list([decoy[0][i] for i in range(6)])
    relevance = torch.randn(batch.num_nodes, generator=torch.Generator().manual_seed(0))
    for fill in ("remove", "zero", "first"):
        out = RelDrop(fill=fill, min_points=8)(batch, relevance)
        assert out.mask.dtype == torch.bool
        assert torch.equal(out.mask, out.part != decoy[0].decoy_part), fill
