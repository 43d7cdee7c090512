"""The batch the speed benchmarks run on: real ModelNet40 when present, else SyntheticShapes."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch


def benchmark_batch(batch_size: int, num_points: int, normals: bool = False, seed: int = 0):
    """``(Batch, num_classes, source)``: the first ``batch_size`` shuffled training clouds.

    Real ModelNet40 (``$RELDROP3D_DATA/modelnet40_1024``) when it is there; the
    h5 layout has no normals, so with ``normals=True`` the unit radial
    direction stands in for them (only the shape of the input matters for
    speed and memory). Otherwise SyntheticShapes at ``num_points``.
    """
    from reldrop3d.data import ModelNet40, SyntheticShapes, default_data_root

    root = default_data_root() / "modelnet40_1024"
    if (root / "train.h5").is_file() and num_points <= 1024:
        ds, source = ModelNet40(root, "train", num_points=num_points), "modelnet40_1024"
    else:
        ds, source = SyntheticShapes("train", num_points=num_points), "synthetic"
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:batch_size].tolist()
    clouds = [ds[i] for i in idx]
    if normals:
        for d in clouds:
            d.x = torch.nn.functional.normalize(d.pos, dim=-1)
    return Batch.from_data_list(clouds), ds.num_classes, source
