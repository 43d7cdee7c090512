"""ModelNet40 from whichever of its four on-disk layouts is found, and the official
ModelNet-C release of its corrupted test split."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch_geometric.data import Data
from tqdm import tqdm

from reldrop3d.data.clouds import Layout, LayoutDataset, Loaded, PointCloudDataset, flat_clouds
from reldrop3d.data.files import (
    cached_beside,
    check_enough_points,
    check_finite,
    fingerprint,
    h5_clouds,
    h5_shards,
    read_names,
    read_off,
    read_points_txt,
)
from reldrop3d.data.surface import normalize_unit_sphere_np, sample_surface

#: Seed mixed with each OFF file's relative path to sample its surface points.
OFF_SEED = 0
#: Bump when the cached arrays of the txt/off layouts change meaning.
CACHE_VERSION = 1


def read_h5_layout(folder: Path, split: str, num_points: int | None, use_normals: bool) -> Loaded:
    """``shape_names.txt`` + ``<split>.h5`` with ``data [M, N, 3]``, ``label [M, 1]``, ``name``."""
    classes = read_names(folder / "shape_names.txt")
    path = folder / f"{split}.h5"
    return classes, flat_clouds(**h5_clouds(path, classes, num_points, use_normals))


def read_ply_hdf5_layout(
    folder: Path, split: str, num_points: int | None, use_normals: bool
) -> Loaded:
    """The PointNet shards ``ply_data_<split><k>.h5`` listed in ``<split>_files.txt``."""
    classes = read_names(folder / "shape_names.txt")
    listing = folder / f"{split}_files.txt"
    return classes, flat_clouds(**h5_shards([listing], classes, num_points, use_normals))


def read_txt_layout(folder: Path, split: str, num_points: int | None, use_normals: bool) -> Loaded:
    """``modelnet40_normal_resampled``: ``<class>/<id>.txt`` lines ``x,y,z,nx,ny,nz``, the first
    ``num_points`` of each; ids (``airplane_0001``) listed in ``modelnet40_<split>.txt``."""
    names_file = folder / "modelnet40_shape_names.txt"
    classes = read_names(names_file)
    listing = folder / f"modelnet40_{split}.txt"
    ids = read_names(listing)
    if not ids:
        raise ValueError(f"the file list {listing} is empty; expected shape ids")
    index = {c: i for i, c in enumerate(classes)}

    def build() -> dict[str, np.ndarray]:
        tables, y = [], []
        for shape_id in tqdm(ids, desc=f"ModelNet40 txt {split}", unit="file"):
            cls = shape_id.rsplit("_", 1)[0]
            if cls not in index:
                raise ValueError(
                    f"{listing} lists {shape_id!r} whose class {cls!r} is not in {names_file}"
                )
            path = folder / cls / f"{shape_id}.txt"
            table = read_points_txt(path, 6, delimiter=",", max_rows=num_points)
            check_enough_points(num_points, table.shape[0], path)
            check_finite(table[None], path)
            tables.append(table)
            y.append(index[cls])
        return flat_clouds([t[:, :3] for t in tables], y, normals=[t[:, 3:] for t in tables])

    key = f"txt_{split}_n{num_points or 'all'}_v{CACHE_VERSION}_{fingerprint(*classes, *ids)}"
    return classes, cached_beside(folder, "modelnet40", key, build)


def read_off_layout(folder: Path, split: str, num_points: int | None, use_normals: bool) -> Loaded:
    """PyG's raw tree ``<class>/<split>/*.off`` (classes: the sorted folders with a ``train/``
    or ``test/``): each mesh sampled uniformly by area to ``num_points`` points
    (:func:`~reldrop3d.data.surface.sample_surface`, seeded by its relative path) and
    scaled to the unit sphere; normals are those of the sampled triangles."""
    if num_points is None:
        raise ValueError("num_points must be a positive int for the OFF layout, got None")
    classes = sorted(
        d.name for d in folder.iterdir() if (d / "train").is_dir() or (d / "test").is_dir()
    )
    files = [
        (label, path)
        for label, cls in enumerate(classes)
        for path in sorted((folder / cls / split).glob("*.off"))
    ]
    if not files:
        raise FileNotFoundError(f"no {split} OFF files under {folder}/<class>/{split}/")
    rel = [p.relative_to(folder).as_posix() for _, p in files]

    def build() -> dict[str, np.ndarray]:
        points, normals = [], []
        for (_, path), name in tqdm(
            list(zip(files, rel, strict=True)), desc=f"ModelNet40 off {split}", unit="mesh"
        ):
            vertices, triangles = read_off(path)
            rng = np.random.default_rng([OFF_SEED, zlib.crc32(name.encode())])
            try:
                pts, nrm = sample_surface(vertices, triangles, num_points, rng)
            except ValueError as err:
                raise ValueError(f"cannot sample OFF file {path}: {err}") from err
            check_finite(pts[None], path)
            points.append(normalize_unit_sphere_np(pts))
            normals.append(nrm)
        return flat_clouds(points, [label for label, _ in files], normals=normals)

    sizes = [str(p.stat().st_size) for _, p in files]
    key = f"off_{split}_n{num_points}_v{CACHE_VERSION}_{fingerprint(*rel, *sizes)}"
    return classes, cached_beside(folder, "modelnet40", key, build)


class ModelNet40(LayoutDataset):
    r"""ModelNet40 (Wu et al., CVPR 2015): 12,311 CAD models in 40 classes, as point clouds.

    Reads any of four layouts, found in ``root`` itself, in ``root/raw`` or in
    an immediate subfolder of ``root`` (so ``root`` may be ``$RELDROP3D_DATA``
    holding ``modelnet40_1024/``):

    ============  ============================================  =======  =======
    layout        files                                         normals  up axis
    ============  ============================================  =======  =======
    ``h5``        ``{train,test}.h5`` + ``shape_names.txt``     if any   z (2)
    ``ply_hdf5``  ``ply_data_*.h5`` listed in ``*_files.txt``   if any   y (1)
    ``txt``       ``<class>/<id>.txt`` (``x,y,z,nx,ny,nz``)     yes      y (1)
    ``off``       ``<class>/{train,test}/*.off`` meshes         yes      z (2)
    ============  ============================================  =======  =======

    All clouds are loaded at construction; the txt and OFF layouts are cached as one
    ``.npz`` per split and ``num_points`` (:func:`~reldrop3d.data.files.cached_beside`).
    Item ``i`` is ``pos [num_points, 3]`` float32 (the first ``num_points`` stored
    points, as in the PointNet code; OFF meshes are sampled to exactly ``num_points``),
    ``y [1]`` int64 (an index into :attr:`classes`) and, if ``use_normals``,
    ``x [num_points, 3]`` float32 unit normals.

    :attr:`up_axis` (measured on the shared h5 files: tall classes such as bottle and
    person are longest along z) is the one to rotate about with
    ``RotateClouds(axis=dataset.up_axis)``; the PointNet and PointNet++ code rotates the
    ``ply_hdf5`` and ``txt`` files about y.

    Args:
        root: the layout folder or a folder containing it.
        split: ``"train"`` or ``"test"``.
        num_points: points per cloud, at most the number stored (``None``: all).
        transform: optional ``Data -> Data`` applied to each item.
        use_normals: return the stored normals as ``x``; an error for a layout
            that has none.
        layout: force one of ``"h5"``, ``"ply_hdf5"``, ``"txt"``, ``"off"``
            instead of detecting it.

    Raises:
        FileNotFoundError: missing ``root``, no layout found, a missing listed file.
        ValueError: unknown ``split``, ``num_points`` above the stored count, a corrupt
            file, labels out of range, NaN/inf coordinates (naming the file and item).
    """

    SPLITS = ("train", "test")
    LAYOUTS = (
        Layout(
            "h5", read_h5_layout, 2, ("shape_names.txt", "train.h5|test.h5"), "modelnet40_1024/"
        ),
        Layout(
            "ply_hdf5",
            read_ply_hdf5_layout,
            1,
            ("shape_names.txt", "train_files.txt|test_files.txt"),
            "modelnet40_ply_hdf5_2048/",
        ),
        Layout(
            "txt",
            read_txt_layout,
            1,
            ("modelnet40_shape_names.txt",),
            "modelnet40_normal_resampled/",
        ),
        Layout("off", read_off_layout, 2, ("*/train/*.off|*/test/*.off",), "PyG's raw ModelNet40/"),
    )

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
    under seven corruptions at five levels. ``root`` holds ``clean.h5`` and
    ``<file>_<level>.h5`` (file stems :data:`MODELNET_C_FILES`, levels 0-4), each with
    ``data [2468, N, 3]`` and ``label`` (ModelNet40's class indices, in test-split order).

    Args:
        root: the folder of the release.
        corruption: ``"clean"`` or one of :data:`MODELNET_C_FILES`.
        level: 0-4 (ignored for ``"clean"``).
        classes: the 40 class names (e.g. a checkpoint's ``classes``), default ``"0"``-``"39"``.
        transform: optional ``Data -> Data`` applied to each item.
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
        self._set_clouds(flat_clouds(**h5_clouds(path, self.classes, None, False)))
        self.corruption, self.level = corruption, level

    def _repr_extra(self) -> str:
        return f", corruption={self.corruption!r}, level={self.level}"
