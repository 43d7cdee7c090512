"""PointNet++ (Qi, Yi, Su and Guibas, NeurIPS 2017), single- and multi-scale grouping."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.nn import MLP, PointNetConv

from reldrop3d.models._base import Classifier, cloud_inputs
from reldrop3d.models.pool import SortedMaxAggregation
from reldrop3d.ops import fps, radius


class SetAbstraction(torch.nn.Module):
    r"""One set-abstraction level: sample centroids, group balls, a PointNet per ball.

    Centroids ``i`` come from farthest point sampling (a fraction ``ratio``
    of each cloud); for every radius ``r_s`` the (at most ``K_s`` nearest)
    points ``j`` within ``r_s`` of ``i`` form a ball, and

    .. math::
        h_i = \big\Vert_s \max_{j \in \mathcal{B}_{r_s}(i)}
              \mathrm{MLP}_s\big([x_j, \mathrm{pos}_j - \mathrm{pos}_i]\big)

    (one scale: single-scale grouping, several: multi-scale grouping).
    Each scale is a :class:`torch_geometric.nn.PointNetConv`.

    Shapes:
        forward: ``x [N, F]`` or ``None``, ``pos [N, 3]``, ``batch [N]`` ->
        ``(h [M, sum_s out_s], pos [M, 3], batch [M])`` for the ``M`` centroids.
    """

    def __init__(
        self,
        ratio: float,
        radii: Sequence[float],
        max_neighbors: Sequence[int],
        channels: Sequence[Sequence[int]],
    ):
        super().__init__()
        if not (len(radii) == len(max_neighbors) == len(channels)):
            raise ValueError(
                f"radii, max_neighbors and channels need one entry per scale, got "
                f"{len(radii)}, {len(max_neighbors)} and {len(channels)}"
            )
        self.ratio = ratio
        self.radii = tuple(radii)
        self.max_neighbors = tuple(max_neighbors)
        self.convs = torch.nn.ModuleList(
            PointNetConv(
                MLP(list(ch), plain_last=False), add_self_loops=False, aggr=SortedMaxAggregation()
            )
            for ch in channels
        )

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(
        self, x: Tensor | None, pos: Tensor, batch: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        idx = fps(pos, batch, self.ratio, random_start=self.training)
        pos_dst, batch_dst = pos[idx], batch[idx]
        out = []
        for r, k, conv in zip(self.radii, self.max_neighbors, self.convs):
            centre, neighbour = radius(pos, pos_dst, r, batch, batch_dst, max_num_neighbors=k)
            edge_index = torch.stack([neighbour, centre], dim=0)
            out.append(conv((x, None), (pos, pos_dst), edge_index))
        return torch.cat(out, dim=-1) if len(out) > 1 else out[0], pos_dst, batch_dst

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(ratio={self.ratio}, radii={self.radii}, "
            f"max_neighbors={self.max_neighbors})"
        )


# (ratio, radii, max neighbours, MLP widths per scale) for the two levels, as in the paper
VARIANTS = {
    "ssg": [
        (0.5, (0.2,), (32,), ((64, 64, 128),)),
        (0.25, (0.4,), (64,), ((128, 128, 256),)),
    ],
    "msg": [
        (0.5, (0.1, 0.2, 0.4), (16, 32, 128), ((32, 32, 64), (64, 64, 128), (64, 96, 128))),
        (0.25, (0.2, 0.4, 0.8), (32, 64, 128), ((64, 64, 128), (128, 128, 256), (128, 128, 256))),
    ],
}


class PointNet2(Classifier):
    r"""PointNet++ classifier: two set-abstraction levels, a global PointNet, a classifier MLP.

    ``variant="ssg"``: SA(512 centroids, r 0.2, 32 neighbours, [64, 64, 128]),
    SA(128, 0.4, 64, [128, 128, 256]); ``variant="msg"``: SA(512,
    r [0.1, 0.2, 0.4], [16, 32, 128] neighbours, [[32, 32, 64], [64, 64, 128],
    [64, 96, 128]]), SA(128, [0.2, 0.4, 0.8], [32, 64, 128], [[64, 64, 128],
    [128, 128, 256], [128, 128, 256]]) (numbers for 1,024-point clouds; the
    sampling is by ratio, 1/2 then 1/4). Then

    .. math::
        g_b = \max_{i \in b} \mathrm{MLP}_{256,512,1024}([h_i, \mathrm{pos}_i]), \qquad
        \mathrm{logits}_b = \mathrm{MLP}_{512,256,C}(g_b)

    with dropout 0.5 in the classifier. Farthest point sampling starts at a
    random point in training mode and at the point farthest from the centroid
    in eval mode, so evaluation is deterministic and independent of point order.

    Shapes:
        forward: ``Batch(pos [N, 3], x [N, in_channels]?, batch [N])`` ->
        ``logits [num_graphs, C]``.
    """

    _shown = ("variant",)

    def __init__(
        self, num_classes: int, in_channels: int = 0, variant: str = "ssg", dropout: float = 0.5
    ):
        super().__init__(num_classes, in_channels)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        self.variant = variant
        levels, c = [], in_channels
        for ratio, radii, ks, widths in VARIANTS[variant]:
            levels.append(SetAbstraction(ratio, radii, ks, [(c + 3, *w) for w in widths]))
            c = sum(w[-1] for w in widths)
        self.levels = torch.nn.ModuleList(levels)
        self.global_mlp = MLP([c + 3, 256, 512, 1024], plain_last=False)
        self.head = MLP([1024, 512, 256, num_classes], dropout=dropout)

    def forward_features(self, data) -> tuple[Tensor, Tensor, Tensor, int]:
        """Features before the global pool, at the last level's centroids:
        ``(h [M, 1024], pos [M, 3], batch [M], num_graphs)``."""
        x, pos, batch, num_graphs = cloud_inputs(data, self)
        for level in self.levels:
            x, pos, batch = level(x, pos, batch)
        return self.global_mlp(torch.cat([x, pos], dim=-1)), pos, batch, num_graphs
