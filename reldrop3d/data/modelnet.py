"""ModelNet40 classification dataset, from whichever of its four layouts is on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch_geometric.data import Data

from reldrop3d.data import modelnet_layouts as layouts
from reldrop3d.data.layout import Layout, LayoutDataset

#: Layouts in order of preference when a folder holds several.
LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "h5",
        "h5: train.h5/test.h5 + shape_names.txt (e.g. modelnet40_1024/)",
        layouts.is_h5,
        layouts.read_h5_layout,
        2,
    ),
    Layout(
        "ply_hdf5",
        "ply_hdf5: ply_data_*.h5 listed in train_files.txt/test_files.txt + shape_names.txt "
        "(modelnet40_ply_hdf5_2048/)",
        layouts.is_ply_hdf5,
        layouts.read_ply_hdf5_layout,
        1,
    ),
    Layout(
        "txt",
        "txt: modelnet40_shape_names.txt, modelnet40_{train,test}.txt, <class>/<id>.txt "
        "(modelnet40_normal_resampled/)",
        layouts.is_txt,
        layouts.read_txt_layout,
        1,
    ),
    Layout(
        "off",
        "off: <class>/{train,test}/*.off (PyG's raw ModelNet40/)",
        layouts.is_off,
        layouts.read_off_layout,
        2,
    ),
)


class ModelNet40(LayoutDataset):
    r"""ModelNet40 (Wu et al., CVPR 2015): 12,311 CAD models in 40 classes, as point clouds.

    Reads any of four layouts (see :mod:`reldrop3d.data.modelnet_layouts`),
    detected in ``root`` itself, in ``root/raw`` or in an immediate subfolder
    of ``root`` (so ``root`` may be ``$RELDROP3D_DATA`` holding
    ``modelnet40_1024/``). All clouds are loaded into memory at construction;
    item ``i`` is

    * ``pos [num_points, 3]`` float32: the first ``num_points`` stored points
      (deterministic, as in the PointNet code; random subsampling is
      :class:`~reldrop3d.data.transforms.RandomSubsample`);
    * ``y [1]`` int64: the class, an index into :attr:`classes`;
    * ``x [num_points, 3]`` float32 unit normals, if ``use_normals``.

    **Up axis.** :attr:`up_axis` gives the vertical axis of the loaded layout:
    2 (z) for the shared ``modelnet40_1024`` h5 files, measured there (mean
    per-axis extents: ``bottle`` 0.57/0.57/1.72, ``person`` 0.76/0.57/1.79,
    ``lamp`` 0.82/0.77/1.52, flat ``airplane`` 1.70/1.76/0.50) and for the
    OFF meshes they come from; 1 (y) for the PointNet ``ply_hdf5`` shards and
    the PointNet++ ``txt`` files, whose code rotates about y. Rotate about it
    with ``RandomRotate(axis=dataset.up_axis)``.

    Args:
        root: the layout folder or a folder containing it.
        split: ``"train"`` or ``"test"``.
        num_points: points per cloud, at most the number stored (``None``: all).
            The OFF layout samples exactly this many per mesh (cached).
        transform: optional ``Data -> Data`` applied to each item.
        use_normals: return the stored normals as ``x``; an error for a layout
            that has none.
        layout: force one of ``"h5"``, ``"ply_hdf5"``, ``"txt"``, ``"off"``
            instead of detecting it.

    Raises:
        FileNotFoundError: missing ``root``, no layout found, a missing listed file.
        ValueError: unknown ``split``, ``num_points`` above the stored count,
            corrupt or truncated HDF5 file, labels outside the class list,
            NaN/inf coordinates (the message names the file and the item).
    """

    NAME = "ModelNet40"
    LAYOUTS = LAYOUTS
    SPLITS = ("train", "test")
    #: Up axis of the shared ``modelnet40_1024`` data; instances set that of their layout.
    up_axis: int = 2

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        num_points: int | None = 1024,
        transform: Callable[[Data], Data] | None = None,
        use_normals: bool = False,
        layout: str | None = None,
    ) -> None:
        super().__init__(root, split, num_points, transform, use_normals, layout)

    def _repr_extra(self) -> str:
        return f", split={self.split!r}, layout={self.layout!r}"
