"""The three model families: shapes, invariances, batching, and that they learn."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from reldrop3d import models, names
from tests._clouds import small_model as small
from tests._clouds import uneven_batch, warm_bn

# small but real: clouds big enough for the PointNet++ neighbourhoods
NAMES = list(names.MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_logits_shape_on_uneven_batch(name):
    b = uneven_batch((64, 40, 90), seed=1)
    m = small(name)
    assert m(b).shape == (3, 4)
    m.eval()
    assert m(b).shape == (3, 4)


@pytest.mark.parametrize("name", NAMES)
def test_normals_as_extra_channels(name):
    b = uneven_batch((50, 70), seed=2, features=3)
    m = small(name, in_channels=3).eval()
    assert m(b).shape == (2, 4)
    with pytest.raises(ValueError, match="in_channels=3"):
        m(uneven_batch((50,), seed=2))


@pytest.mark.parametrize("name", NAMES)
def test_permutation_invariance_within_a_cloud(name):
    b = uneven_batch((80,), seed=3)
    m = warm_bn(small(name), uneven_batch((80, 60), seed=4))
    perm = torch.randperm(80, generator=torch.Generator().manual_seed(1))
    shuffled = Batch.from_data_list([Data(pos=b.pos[perm], y=b.y)])
    with torch.no_grad():
        torch.testing.assert_close(m(b), m(shuffled), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_alone_in_eval_mode(name):
    b = uneven_batch((70, 45, 100), seed=5)
    m = warm_bn(small(name), b)
    with torch.no_grad():
        together = m(b)
        alone = torch.cat([m(Batch.from_data_list([d])) for d in b.to_data_list()])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_a_few_steps_lower_the_loss(name):
    g = torch.Generator().manual_seed(0)
    # two separable classes: flat discs versus tall sticks
    clouds = []
    for i in range(8):
        p = torch.rand(48, 3, generator=g) * 2 - 1
        p = p * (torch.tensor([1.0, 1.0, 0.05]) if i % 2 else torch.tensor([0.05, 0.05, 1.0]))
        clouds.append(Data(pos=p, y=torch.tensor([i % 2])))
    b = Batch.from_data_list(clouds)
    m = small(name, num_classes=2).train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(b), b.y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_pointnet_tnet_option():
    b = uneven_batch((40, 30), seed=6)
    m = models.PointNet(4, tnet=True)
    assert m(b).shape == (2, 4)
    assert m.aux_loss.ndim == 0 and float(m.aux_loss.detach()) >= 0


def test_build_knows_every_model_name_and_rejects_others():
    assert tuple(models._BUILDERS) == names.MODELS  # the names the CLI and configs offer
    for name in names.MODELS:
        assert repr(small(name)).startswith(type(small(name)).__name__ + "(num_classes=4, ")
    with pytest.raises(ValueError, match="model name must be one of .* got 'resnet'"):
        models.build("resnet", 10)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2, got 1"):
        models.PointNet(1)
    with pytest.raises(ValueError, match="variant must be one of"):
        models.PointNet2(10, variant="xxl")
    with pytest.raises(ValueError, match="k must be a positive int"):
        models.DGCNN(10, k=0)


def test_msg_and_ssg_differ_in_structure():
    assert len(models.build("pointnet2", 10).levels[0].convs) == 1
    assert len(models.build("pointnet2-msg", 10).levels[0].convs) == 3


def test_dgcnn_mean_pool_module_keeps_outputs_and_checkpoints():
    """The mean pool is a module (so LRP can give it a rule) without state: the state
    dict has the same keys as before, and the logits are those of the plain functions."""
    from reldrop3d.models.pool import GlobalMeanPool, global_max_pool, global_mean_pool

    torch.manual_seed(0)
    m = models.build("dgcnn", 4, k=8, emb_dims=64).eval()
    assert isinstance(m.mean_pool, GlobalMeanPool)
    assert not any(k.startswith("mean_pool") for k in m.state_dict())
    b = uneven_batch((20, 35, 12))
    with torch.no_grad():
        h, _, batch, n = m.forward_features(b)
        g = torch.cat([global_max_pool(h, batch, n), global_mean_pool(h, batch, n)], dim=-1)
        assert torch.equal(m(b), m.head(g))
    again = models.build("dgcnn", 4, k=8, emb_dims=64)
    again.load_state_dict(m.state_dict(), strict=True)
