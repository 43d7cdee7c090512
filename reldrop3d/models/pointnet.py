"""PointNet (Qi, Su, Mo and Guibas, CVPR 2017) on PyG batches."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import MLP

from reldrop3d.models._base import Classifier, cloud_inputs
from reldrop3d.models.pool import global_max_pool


class TNet(torch.nn.Module):
    r"""Spatial transformer of PointNet: predicts a ``[k, k]`` matrix per cloud.

    .. math::
        T_b = I + \mathrm{MLP}_2\big(\max_{p \in b} \mathrm{MLP}_1(h_p)\big)

    The last layer starts at zero, so ``T`` starts at the identity.
    """

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.local = MLP([k, 64, 128, 1024], plain_last=False)
        self.head = MLP([1024, 512, 256, k * k])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.local.reset_parameters()
        self.head.reset_parameters()
        torch.nn.init.zeros_(self.head.lins[-1].weight)
        torch.nn.init.zeros_(self.head.lins[-1].bias)

    def forward(self, h: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """``h [N, k]`` -> ``T [num_graphs, k, k]``."""
        g = global_max_pool(self.local(h), batch, num_graphs)
        eye = torch.eye(self.k, device=h.device, dtype=h.dtype)
        return self.head(g).view(-1, self.k, self.k) + eye


def apply_transform(h: Tensor, transform: Tensor, batch: Tensor) -> Tensor:
    """``h'_p = h_p T_{b(p)}``: ``h [N, k]``, ``transform [B, k, k]`` -> ``[N, k]``."""
    return torch.bmm(h.unsqueeze(1), transform[batch]).squeeze(1)


class PointNet(Classifier):
    r"""PointNet classifier: a shared per-point MLP, a global max pool, and a classifier MLP.

    .. math::
        h_p = \mathrm{MLP}_{64,64,64,128,1024}([\mathrm{pos}_p, x_p]), \qquad
        g_b = \max_{p \in b} h_p, \qquad
        \mathrm{logits}_b = \mathrm{MLP}_{512,256,C}(g_b)

    Every hidden layer is Linear, BatchNorm and ReLU; dropout ``dropout``
    before the last layer, as in the paper (keep ratio 0.7).

    Args:
        num_classes: number of classes ``C``.
        in_channels: extra per-point channels read from ``data.x`` (3 for normals).
        tnet: add the input (3 x 3) and feature (64 x 64) transformers of the
            paper. Off by default: the relevance rules treat the learned
            transforms as constants, so LRP conservation is only exact without them.
        dropout: dropout probability before the last layer.

    Shapes:
        forward: ``Batch(pos [N, 3], x [N, in_channels]?, batch [N])`` ->
        ``logits [num_graphs, C]``. With ``tnet``, ``self.aux_loss`` holds the
        feature-transform regulariser ``0.001 * ||I - A A^T||^2`` of the last forward.
    """

    _shown = ("tnet",)

    def __init__(
        self, num_classes: int, in_channels: int = 0, tnet: bool = False, dropout: float = 0.3
    ):
        super().__init__(num_classes, in_channels)
        self.tnet = tnet
        self.input_transform = TNet(3) if tnet else None
        self.feature_transform = TNet(64) if tnet else None
        self.local1 = MLP([3 + in_channels, 64, 64], plain_last=False)
        self.local2 = MLP([64, 64, 128, 1024], plain_last=False)
        self.head = MLP([1024, 512, 256, num_classes], dropout=[0.0, dropout, 0.0])
        self.aux_loss = torch.zeros(())

    def forward_features(self, data) -> tuple[Tensor, Tensor, Tensor, int]:
        """Per-point features before the global pool: ``(h [N, 1024], pos, batch, num_graphs)``."""
        x, pos, batch, num_graphs = cloud_inputs(data, self)
        if self.input_transform is not None:
            pos = apply_transform(pos, self.input_transform(pos, batch, num_graphs), batch)
        h = self.local1(pos if x is None else torch.cat([pos, x], dim=-1))
        if self.feature_transform is not None:
            a = self.feature_transform(h, batch, num_graphs)
            h = apply_transform(h, a, batch)
            eye = torch.eye(a.size(-1), device=a.device, dtype=a.dtype)
            self.aux_loss = 1e-3 * (eye - a @ a.transpose(1, 2)).square().sum((1, 2)).mean()
        return self.local2(h), pos, batch, num_graphs
