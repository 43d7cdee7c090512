"""point_relevance_dense: the entry point for [B, N, C] models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reldrop3d.relevance import point_relevance_dense


class DensePointNet(nn.Module):
    """A PointNet as the published code writes it: Conv1d over [B, C, N], max over points."""

    def __init__(self, classes: int = 5, bias: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(3, 32, 1, bias=bias),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.Conv1d(32, 64, 1, bias=bias),
            nn.BatchNorm1d(64),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Linear(64, 32, bias=bias), nn.ReLU(), nn.Linear(32, classes, bias=bias)
        )

    def forward(self, x):  # x [B, 3, N]
        return self.head(self.features(x).max(dim=2).values)


def model(bias=True):
    torch.manual_seed(0)
    m = DensePointNet(bias=bias)
    with torch.no_grad():
        for bn in (m.features[1], m.features[4]):
            bn.running_var.uniform_(0.5, 2.0)
            if not bias:
                bn.bias.zero_()
            else:
                bn.running_mean.normal_(0, 0.1)
    return m.eval()


def test_shapes_and_conservation_on_a_bias_free_dense_model():
    pts = torch.rand(4, 3, 50) * 2 - 1
    r = point_relevance_dense(model(bias=False), pts, "pred", channels_first=True, seed="one")
    assert r.shape == (4, 50)
    torch.testing.assert_close(r.sum(1), torch.ones(4), rtol=0, atol=1e-4)


def test_logit_seed_conserves_the_logit_and_keeps_its_sign():
    pts = torch.rand(4, 3, 50) * 2 - 1
    m, target = model(bias=False), torch.tensor([0, 1, 2, 3])
    r = point_relevance_dense(m, pts, target=target, channels_first=True, seed="logit")
    one = point_relevance_dense(m, pts, target=target, channels_first=True, seed="one")
    with torch.no_grad():
        logit = m(pts)[torch.arange(4), target]
    assert (logit < 0).any() and (logit > 0).any()  # both signs, so the test can fail
    torch.testing.assert_close(r.sum(1), logit, rtol=0, atol=1e-4 * float(logit.abs().max()))
    torch.testing.assert_close(r, one * logit[:, None], rtol=1e-4, atol=1e-6)


def test_channels_last_and_mask():
    m = model()
    pts = torch.rand(2, 40, 3)

    class ChannelsLast(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x.transpose(1, 2))

    wrapped = ChannelsLast(m).eval()
    a = point_relevance_dense(wrapped, pts, target=torch.tensor([1, 2]))
    b = point_relevance_dense(
        m, pts.transpose(1, 2), target=torch.tensor([1, 2]), channels_first=True
    )
    torch.testing.assert_close(a, b)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[:, 30:] = False
    c = point_relevance_dense(wrapped, pts, target=1, mask=mask)
    assert torch.all(c[:, 30:] == 0)


@pytest.mark.parametrize("method", ["gradient", "input_x_gradient", "random"])
def test_baselines(method):
    m = model()
    pts = torch.rand(3, 3, 20)
    r = point_relevance_dense(
        m,
        pts,
        "pred",
        method=method,
        channels_first=True,
        generator=torch.Generator().manual_seed(0),
    )
    assert r.shape == (3, 20) and torch.isfinite(r).all()
    assert not m.training


def test_bad_input():
    with pytest.raises(ValueError, match=r"points must be a \[B, N, C\] tensor, got \(3, 4\)"):
        point_relevance_dense(model(), torch.rand(3, 4), "pred")
    with pytest.raises(ValueError, match="method must be one of"):
        point_relevance_dense(model(), torch.rand(1, 3, 4), "pred", method="lime")
    with pytest.raises(ValueError, match=r"seed must be one of \('one', 'logit'\), got 'two'"):
        point_relevance_dense(model(), torch.rand(1, 3, 4), "pred", seed="two")


def test_target_has_no_default():
    """Unlike point_relevance (labels by default), the dense form must be told what to explain."""
    with pytest.raises(TypeError, match="target"):
        point_relevance_dense(model(), torch.rand(1, 3, 4))
