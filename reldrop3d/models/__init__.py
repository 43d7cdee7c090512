"""Point-cloud classifiers on PyG batches: PointNet, PointNet++ (SSG/MSG) and DGCNN.

Every model maps a ``Batch(pos [N, 3], x [N, F]?, batch [N])`` to logits
``[num_graphs, num_classes]``, accepts clouds of different sizes in one
batch, and exposes ``forward_features`` (the per-point features before the
global pool).
"""

from __future__ import annotations

from functools import partial

from torch import nn

from reldrop3d import names
from reldrop3d.models.batchnorm import recalibrate_batchnorm
from reldrop3d.models.dgcnn import DGCNN
from reldrop3d.models.pointnet import PointNet
from reldrop3d.models.pointnet2 import PointNet2, SetAbstraction
from reldrop3d.models.pool import GlobalMeanPool

_BUILDERS = {  # one per name of reldrop3d.names.MODELS (tests/test_models.py checks)
    "pointnet": PointNet,
    "pointnet2": partial(PointNet2, variant="ssg"),
    "pointnet2-msg": partial(PointNet2, variant="msg"),
    "dgcnn": DGCNN,
}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build a model by name, one of :data:`reldrop3d.names.MODELS`: ``"pointnet" |
    "pointnet2" | "pointnet2-msg" | "dgcnn"``.

    Keyword arguments go to the model's constructor (e.g. ``in_channels=3``
    for normals, ``k=20`` for DGCNN).
    """
    if name not in _BUILDERS:
        raise ValueError(f"model name must be one of {sorted(names.MODELS)}, got {name!r}")
    return _BUILDERS[name](num_classes, **kwargs)


__all__ = [
    "DGCNN",
    "GlobalMeanPool",
    "PointNet",
    "PointNet2",
    "SetAbstraction",
    "build",
    "recalibrate_batchnorm",
]
