"""DGCNN (Wang, Sun, Liu, Sarma, Bronstein and Solomon, ACM TOG 2019)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.nn import MLP, EdgeConv

from reldrop3d.models._base import Classifier, cloud_inputs
from reldrop3d.models.pool import GlobalMeanPool, SortedMaxAggregation, global_max_pool
from reldrop3d.ops import knn_graph

_LEAKY = {"act": "leaky_relu", "act_kwargs": {"negative_slope": 0.2}}


class DGCNN(Classifier):
    r"""Dynamic graph CNN classifier: four EdgeConv layers on k-NN graphs rebuilt in feature space.

    .. math::
        x^{(l+1)}_i = \max_{j \in \mathrm{kNN}_k(x^{(l)}_i)}
            \mathrm{LReLU}\big(\mathrm{BN}(W_l [x^{(l)}_i, x^{(l)}_j - x^{(l)}_i])\big)

    with widths 64, 64, 128, 256 (the first graph is built on the
    coordinates, the others on the features; a point is its own nearest
    neighbour, as in the paper), then ``h_i = MLP_1024([x^1_i, ..., x^4_i])``,
    ``g_b = [max_{i in b} h_i, mean_{i in b} h_i]`` and
    ``logits = MLP_{512,256,C}(g_b)`` with dropout 0.5. LeakyReLU slope 0.2.

    Args:
        num_classes: number of classes ``C``.
        in_channels: extra per-point channels read from ``data.x``.
        k: neighbours per point (20 in the paper).
        emb_dims: width of the per-point embedding before pooling.
        dropout: dropout probability in the classifier.

    Shapes:
        forward: ``Batch(pos [N, 3], x [N, in_channels]?, batch [N])`` ->
        ``logits [num_graphs, C]``.
    """

    _shown = ("k",)

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 0,
        k: int = 20,
        emb_dims: int = 1024,
        dropout: float = 0.5,
    ):
        super().__init__(num_classes, in_channels)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        self.k = k
        widths = [3 + in_channels, 64, 64, 128, 256]
        self.convs = torch.nn.ModuleList(
            EdgeConv(
                MLP([2 * c_in, c_out], plain_last=False, bias=False, **_LEAKY),
                aggr=SortedMaxAggregation(),
            )
            for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        self.embed = MLP([sum(widths[1:]), emb_dims], plain_last=False, bias=False, **_LEAKY)
        self.head = MLP(
            [2 * emb_dims, 512, 256, num_classes],
            dropout=dropout,
            bias=[False, True, True],
            **_LEAKY,
        )
        self.mean_pool = GlobalMeanPool()  # a module, so LRP can give it its rule

    def forward_features(self, data) -> tuple[Tensor, Tensor, Tensor, int]:
        """Per-point embeddings before pooling: ``(h [N, emb_dims], pos, batch, num_graphs)``."""
        x, pos, batch, num_graphs = cloud_inputs(data, self)
        h = pos if x is None else torch.cat([pos, x], dim=-1)
        graph = pos
        out = []
        for conv in self.convs:
            h = conv(h, knn_graph(graph, self.k, batch, loop=True))
            graph = h
            out.append(h)
        return self.embed(torch.cat(out, dim=-1)), pos, batch, num_graphs

    def forward(self, data) -> Tensor:
        h, _, batch, num_graphs = self.forward_features(data)
        g = torch.cat(
            [global_max_pool(h, batch, num_graphs), self.mean_pool(h, batch, num_graphs)], dim=-1
        )
        return self.head(g)
