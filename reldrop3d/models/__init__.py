"""Point-cloud classifiers on PyG batches: PointNet, PointNet++ (SSG/MSG) and DGCNN.

Every model maps a ``Batch(pos [N, 3], x [N, F]?, batch [N])`` to logits
``[num_graphs, num_classes]``, accepts clouds of different sizes in one
batch, and exposes ``forward_features`` (the per-point features before the
global pool).
"""

from __future__ import annotations

from torch import nn

from reldrop3d.models.batchnorm import recalibrate_batchnorm
from reldrop3d.models.dgcnn import DGCNN
from reldrop3d.models.pointnet import PointNet
from reldrop3d.models.pointnet2 import PointNet2, SetAbstraction
from reldrop3d.models.pool import GlobalMeanPool

MODELS = {
    "pointnet": lambda num_classes, **kw: PointNet(num_classes, **kw),
    "pointnet2": lambda num_classes, **kw: PointNet2(num_classes, variant="ssg", **kw),
    "pointnet2-msg": lambda num_classes, **kw: PointNet2(num_classes, variant="msg", **kw),
    "dgcnn": lambda num_classes, **kw: DGCNN(num_classes, **kw),
}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build a model by name: ``"pointnet" | "pointnet2" | "pointnet2-msg" | "dgcnn"``.

    Keyword arguments go to the model's constructor (e.g. ``in_channels=3``
    for normals, ``k=20`` for DGCNN).
    """
    if name not in MODELS:
        raise ValueError(f"model name must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](num_classes, **kwargs)


__all__ = [
    "DGCNN",
    "GlobalMeanPool",
    "MODELS",
    "PointNet",
    "PointNet2",
    "SetAbstraction",
    "build",
    "recalibrate_batchnorm",
]
