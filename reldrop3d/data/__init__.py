"""Datasets and transforms: point clouds as :class:`torch_geometric.data.Data`.

A cloud is ``Data(pos [N, 3] float32, y [1] int64)``, with ``x [N, 3]``
unit normals and ``part [N]`` int64 part labels where the dataset has them.
Datasets keep everything in memory after loading and expose ``classes``,
``num_classes`` and ``up_axis`` (and ``num_parts``, ``part_names``,
``class_parts`` where they have parts).

* :class:`ModelNet40`: four on-disk layouts (h5, ply_hdf5 shards, txt, OFF).
* :class:`ModelNetC`: the official ModelNet-C files (corrupted ModelNet40 test clouds).
* :class:`ShapeNetPart`: hdf5 and txt layouts, 16 categories, 50 parts.
* :class:`SyntheticShapes`: part-labelled shapes built from open3d primitives.
* :mod:`reldrop3d.data.transforms`: per-cloud augmentations of a ``Data`` or a ``Batch``.
* :mod:`reldrop3d.data.batching`: removing, selecting and padding the points of a batch.

open3d is imported only when :class:`SyntheticShapes` builds its cache.
"""

from reldrop3d.data.clouds import (
    CloudSubset,
    PointCloudDataset,
    labels_of,
    random_subset,
    stratified_split,
)
from reldrop3d.data.files import default_data_root
from reldrop3d.data.modelnet import ModelNet40, ModelNetC
from reldrop3d.data.shapenet import ShapeNetPart
from reldrop3d.data.synthetic import SyntheticShapes
from reldrop3d.data.transforms import JitterClouds, RotateClouds, ScaleClouds, ShiftClouds

__all__ = [
    "CloudSubset",
    "JitterClouds",
    "ModelNet40",
    "ModelNetC",
    "PointCloudDataset",
    "RotateClouds",
    "ScaleClouds",
    "ShapeNetPart",
    "ShiftClouds",
    "SyntheticShapes",
    "default_data_root",
    "labels_of",
    "random_subset",
    "stratified_split",
]
