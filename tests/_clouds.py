"""Small random batches and small models shared by the tests."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

#: command-line arguments of a training run on SyntheticShapes small enough for a test
TINY_RUN = [
    "--data", "synthetic", "--samples-per-class", "6", "--num-points", "96",
    "--batch-size", "12", "--min-points", "16", "--eval-batch-size", "30",
]  # fmt: skip


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


def small_model(name: str, num_classes: int = 4, **kw) -> torch.nn.Module:
    """``models.build(name)`` after ``torch.manual_seed(0)``, DGCNN with ``k=8``, 64 dims."""
    from reldrop3d import models

    torch.manual_seed(0)
    if name == "dgcnn":
        kw.setdefault("k", 8)
        kw.setdefault("emb_dims", 64)
    return models.build(name, num_classes, **kw)


def warm_bn(model: torch.nn.Module, batch) -> torch.nn.Module:
    """Give the batch norms non-trivial running statistics (three train-mode forwards), then
    switch to eval mode."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(batch)
    return model.eval()
