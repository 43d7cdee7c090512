"""Small random batches shared by the tests."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data


def uneven_batch(
    sizes=(7, 1, 30, 12), channels: int = 3, seed: int = 0, num_classes: int = 4, features: int = 0
) -> Batch:
    """A PyG batch of random clouds with the given sizes (points in the unit cube)."""
    g = torch.Generator().manual_seed(seed)
    clouds = []
    for i, n in enumerate(sizes):
        d = Data(
            pos=torch.rand(n, channels, generator=g) * 2 - 1, y=torch.tensor([i % num_classes])
        )
        if features:
            d.x = torch.randn(n, features, generator=g)
        clouds.append(d)
    return Batch.from_data_list(clouds)
