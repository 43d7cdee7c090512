"""The four on-disk layouts of ModelNet40 and a reader for each.

Every reader has the signature
``read(folder, split, num_points, use_normals) -> (classes, Clouds)`` and
keeps the first ``num_points`` stored points of each cloud (``None``: all);
the OFF reader samples exactly ``num_points`` points per mesh instead.
The two text/mesh layouts are slow to parse (thousands of files), so their
result is cached as one ``.npz`` per (split, num_points) next to the data or,
when that folder is read-only, under ``~/.cache/reldrop3d/modelnet40``.

=================  ==========================================  =======  ===========
layout             files                                       normals  up axis
=================  ==========================================  =======  ===========
``h5``             ``{train,test}.h5`` + ``shape_names.txt``   no       z (2)
``ply_hdf5``       ``ply_data_*.h5`` via ``*_files.txt``       if any   y (1)
``txt``            ``<class>/<id>.txt`` (``x,y,z,nx,ny,nz``)   yes      y (1)
``off``            ``<class>/{train,test}/*.off`` meshes       yes      z (2)
=================  ==========================================  =======  ===========

Up axes: ``h5`` was measured on the shared ``modelnet40_1024`` data (mean
extent per axis of ``bottle`` 0.57/0.57/1.72, ``person`` 0.76/0.57/1.79,
``lamp`` 0.82/0.77/1.52, but ``airplane`` 1.70/1.76/0.50: z is up, as in
the original OFF meshes). ``ply_hdf5`` and ``txt`` are the PointNet /
PointNet++ releases, whose own augmentation rotates about y ("the up
direction"); not measured here, since those files are not on this machine.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reldrop3d.data._checks import check_enough_points, check_finite, read_names
from reldrop3d.data.clouds import Clouds, clouds_from_h5
from reldrop3d.data.files import read_h5, read_off, read_points_txt
from reldrop3d.data.layout import subdirs
from reldrop3d.data.paths import cache_dir_for, cached_npz
from reldrop3d.data.surface import normalize_unit_sphere_np, sample_surface

#: Seed mixed with each OFF file's relative path to sample its surface points.
OFF_SEED = 0
#: Bump when the cached arrays of the txt/off layouts change meaning.
CACHE_VERSION = 1


# ----------------------------------------------------------------------------- detection
def is_h5(folder: Path) -> bool:
    return (folder / "shape_names.txt").is_file() and any(
        (folder / f"{s}.h5").is_file() for s in ("train", "test")
    )


def is_ply_hdf5(folder: Path) -> bool:
    return (folder / "shape_names.txt").is_file() and any(
        (folder / f"{s}_files.txt").is_file() for s in ("train", "test")
    )


def is_txt(folder: Path) -> bool:
    return (folder / "modelnet40_shape_names.txt").is_file()


def is_off(folder: Path) -> bool:
    for sub in subdirs(folder):
        for split in ("train", "test"):
            if (sub / split).is_dir() and next((sub / split).glob("*.off"), None) is not None:
                return True
    return False


# ----------------------------------------------------------------------------- h5 layouts
def read_h5_layout(
    folder: Path, split: str, num_points: int | None, use_normals: bool
) -> tuple[list[str], Clouds]:
    """``shape_names.txt`` + ``<split>.h5`` with ``data [M, N, 3]``, ``label [M, 1]``, ``name``."""
    classes = read_names(folder / "shape_names.txt")
    path = folder / f"{split}.h5"
    arrays = read_h5(path, ["data", "label"], optional=["name", "normal"])
    return classes, clouds_from_h5(arrays, path, len(classes), num_points, use_normals)


def read_ply_hdf5_layout(
    folder: Path, split: str, num_points: int | None, use_normals: bool
) -> tuple[list[str], Clouds]:
    """The PointNet shards ``ply_data_<split><k>.h5`` listed in ``<split>_files.txt``.

    The list holds paths such as ``data/modelnet40_ply_hdf5_2048/ply_data_train0.h5``;
    each is looked up by its base name inside ``folder``.
    """
    classes = read_names(folder / "shape_names.txt")
    listing = folder / f"{split}_files.txt"
    entries = read_names(listing)
    if not entries:
        raise ValueError(f"the shard list {listing} is empty; expected HDF5 file names")
    chunks = []
    for entry in entries:
        path = folder / Path(entry).name
        if not path.is_file():
            raise FileNotFoundError(
                f"{listing} lists {entry!r}, but {path} does not exist (looked up by base name)"
            )
        arrays = read_h5(path, ["data", "label"], optional=["normal"])
        chunks.append(clouds_from_h5(arrays, path, len(classes), num_points, use_normals))
    return classes, Clouds.concat(chunks)


# ----------------------------------------------------------------------------- cached layouts
def _fingerprint(*texts: str) -> str:
    h = hashlib.sha1()
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _cached(
    folder: Path, key: str, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    return cached_npz(cache_dir_for(folder, "modelnet40") / f"{key}.npz", build)


def _to_clouds(arrays: dict[str, np.ndarray], use_normals: bool) -> Clouds:
    return Clouds(
        pos=arrays["pos"],
        ptr=arrays["ptr"],
        y=arrays["y"],
        normals=arrays["normals"] if use_normals else None,
    )


def _stack(points: list[np.ndarray], normals: list[np.ndarray], y: list[int]) -> dict:
    sizes = np.array([p.shape[0] for p in points], dtype=np.int64)
    return {
        "pos": np.concatenate(points).astype(np.float32),
        "normals": np.concatenate(normals).astype(np.float32),
        "ptr": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        "y": np.asarray(y, dtype=np.int64),
    }


def read_txt_layout(
    folder: Path, split: str, num_points: int | None, use_normals: bool
) -> tuple[list[str], Clouds]:
    """``modelnet40_normal_resampled``: ``<class>/<id>.txt`` lines ``x,y,z,nx,ny,nz``.

    Ids (``airplane_0001``) come from ``modelnet40_<split>.txt``; the class
    is the id without its ``_<number>`` suffix. Only the first
    ``num_points`` lines of each file are read.
    """
    names_file = folder / "modelnet40_shape_names.txt"
    classes = read_names(names_file)
    listing = folder / f"modelnet40_{split}.txt"
    ids = read_names(listing)
    if not ids:
        raise ValueError(f"the file list {listing} is empty; expected shape ids")
    index = {c: i for i, c in enumerate(classes)}

    def build() -> dict[str, np.ndarray]:
        points, normals, y = [], [], []
        for shape_id in tqdm(ids, desc=f"ModelNet40 txt {split}", unit="file"):
            cls = shape_id.rsplit("_", 1)[0]
            if cls not in index:
                raise ValueError(
                    f"{listing} lists {shape_id!r} whose class {cls!r} is not in {names_file}"
                )
            path = folder / cls / f"{shape_id}.txt"
            table = read_points_txt(path, 6, delimiter=",", max_rows=num_points)
            if num_points is not None:
                check_enough_points(num_points, table.shape[0], path)
            check_finite(table[None], path)
            points.append(table[:, :3])
            normals.append(table[:, 3:])
            y.append(index[cls])
        return _stack(points, normals, y)

    key = f"txt_{split}_n{num_points or 'all'}_v{CACHE_VERSION}_{_fingerprint(*classes, *ids)}"
    return classes, _to_clouds(_cached(folder, key, build), use_normals)


def read_off_layout(
    folder: Path, split: str, num_points: int | None, use_normals: bool
) -> tuple[list[str], Clouds]:
    """PyG's raw tree ``<class>/<split>/*.off``: meshes sampled to ``num_points`` points.

    Classes are the sorted folder names that have a ``train/`` or ``test/``
    subfolder; files are sorted by name. Each mesh is sampled uniformly by
    area (:func:`~reldrop3d.data.surface.sample_surface`) with a seed fixed
    by its relative path, so every run gives the same points, then centred
    and scaled to the unit sphere; normals are those of the sampled
    triangles.
    """
    if num_points is None:
        raise ValueError("num_points must be a positive int for the OFF layout, got None")
    classes = [d.name for d in subdirs(folder) if (d / "train").is_dir() or (d / "test").is_dir()]
    files = [
        (label, path)
        for label, cls in enumerate(classes)
        for path in sorted((folder / cls / split).glob("*.off"))
    ]
    if not files:
        raise FileNotFoundError(f"no {split} OFF files under {folder}/<class>/{split}/")
    rel = [p.relative_to(folder).as_posix() for _, p in files]
    sizes = [str(p.stat().st_size) for _, p in files]

    def build() -> dict[str, np.ndarray]:
        points, normals, y = [], [], []
        for (label, path), name in tqdm(
            list(zip(files, rel, strict=True)), desc=f"ModelNet40 off {split}", unit="mesh"
        ):
            vertices, triangles = read_off(path)
            rng = np.random.default_rng([OFF_SEED, zlib.crc32(name.encode())])
            try:
                pts, nrm, _ = sample_surface(vertices, triangles, num_points, rng)
            except ValueError as err:
                raise ValueError(f"cannot sample OFF file {path}: {err}") from err
            check_finite(pts[None], path)
            points.append(normalize_unit_sphere_np(pts))
            normals.append(nrm)
            y.append(label)
        return _stack(points, normals, y)

    key = f"off_{split}_n{num_points}_v{CACHE_VERSION}_{_fingerprint(*rel, *sizes)}"
    return classes, _to_clouds(_cached(folder, key, build), use_normals)
