"""ModelNet40 classification dataset, from whichever of its four layouts is on disk, and
the official ModelNet-C release of its corrupted test split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch_geometric.data import Data

from reldrop3d.data import modelnet_layouts as layouts
from reldrop3d.data.clouds import PointCloudDataset, clouds_from_h5
from reldrop3d.data.files import read_h5
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
      :class:`torch_geometric.transforms.FixedPoints`);
    * ``y [1]`` int64: the class, an index into :attr:`classes`;
    * ``x [num_points, 3]`` float32 unit normals, if ``use_normals``.

    **Up axis.** :attr:`up_axis` gives the vertical axis of the loaded layout:
    2 (z) for the shared ``modelnet40_1024`` h5 files, measured there (mean
    per-axis extents: ``bottle`` 0.57/0.57/1.72, ``person`` 0.76/0.57/1.79,
    ``lamp`` 0.82/0.77/1.52, flat ``airplane`` 1.70/1.76/0.50) and for the
    OFF meshes they come from; 1 (y) for the PointNet ``ply_hdf5`` shards and
    the PointNet++ ``txt`` files, whose code rotates about y. Rotate about it
    with ``RotateClouds(axis=dataset.up_axis)``.

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


#: File stem of each corruption in the official ModelNet-C release, by the name
#: :mod:`reldrop3d.evaluate` gives it.
MODELNET_C_FILES = {
    "scale": "scale",
    "jitter": "jitter",
    "rotate": "rotate",
    "drop_global": "dropout_global",
    "drop_local": "dropout_local",
    "add_global": "add_global",
    "add_local": "add_local",
}


class ModelNetC(PointCloudDataset):
    r"""The official ModelNet-C release (Ren et al. 2022): the 2,468 ModelNet40 test clouds
    under seven corruptions at five levels, read from its files instead of generated.

    ``root`` holds ``clean.h5`` and ``<file>_<level>.h5`` for the corruption file
    stems of :data:`MODELNET_C_FILES` (``dropout_global``, ``add_local``, ...) and
    levels 0-4, each with ``data [2468, N, 3]`` (``N`` depends on the corruption:
    1,024 for most, fewer after dropping, more after adding) and ``label``, in
    the order of ModelNet40's test split. There is no class list: labels are
    ModelNet40's class indices, named by ``classes`` when given.

    Args:
        root: the folder of the release.
        corruption: ``"clean"`` or one of :data:`MODELNET_C_FILES`.
        level: 0-4 (ignored for ``"clean"``).
        classes: the 40 class names (e.g. a checkpoint's ``classes``), default ``"0"``-``"39"``.
        transform: optional ``Data -> Data`` applied to each item.

    Item ``i``: ``pos [N, 3]`` float32 (every stored point), ``y [1]`` int64.
    """

    def __init__(
        self,
        root: str | Path,
        corruption: str = "clean",
        level: int = 0,
        classes: list[str] | None = None,
        transform: Callable[[Data], Data] | None = None,
    ) -> None:
        super().__init__(transform)
        if corruption != "clean" and corruption not in MODELNET_C_FILES:
            raise ValueError(
                f"corruption must be 'clean' or one of {sorted(MODELNET_C_FILES)}, "
                f"got {corruption!r}"
            )
        if isinstance(level, bool) or level not in range(5):
            raise ValueError(f"level must be one of 0, 1, 2, 3, 4, got {level!r}")
        self.classes = list(classes) if classes is not None else [str(c) for c in range(40)]
        stem = "clean" if corruption == "clean" else f"{MODELNET_C_FILES[corruption]}_{level}"
        path = Path(root) / f"{stem}.h5"
        arrays = read_h5(path, ["data", "label"])
        self._set_clouds(clouds_from_h5(arrays, path, len(self.classes), None, False))
        self.corruption, self.level = corruption, level

    def _repr_extra(self) -> str:
        return f", corruption={self.corruption!r}, level={self.level}"
