"""The two on-disk layouts of the ShapeNet part benchmark and a reader for each.

``hdf5`` (``shapenet_part_seg_hdf5_data/``, from PointNet)
    ``ply_data_{train,val,test}<k>.h5`` with ``data [M, 2048, 3]``,
    ``label [M, 1]`` (category 0..15), ``pid [M, 2048]`` (global part id
    0..49) and, in some copies, ``normal``; listed (by base name) in
    ``{train,val,test}_hdf5_file_list.txt``; ``all_object_categories.txt``
    holds ``<Category> <synset>`` lines in label order.
``txt`` (``shapenetcore_partanno_segmentation_benchmark_v0_normal/``)
    ``synsetoffset2category.txt`` (``<Category> <synset>`` lines),
    ``<synset>/<id>.txt`` with whitespace-separated ``x y z nx ny nz part``
    lines (a few thousand per shape, ``part`` the global id), and
    ``train_test_split/shuffled_{train,val,test}_file_list.json``, lists of
    ``"shape_data/<synset>/<id>"``.

Split ``trainval`` is ``train`` followed by ``val``. Part ids are checked to
lie in their category's range (:data:`~reldrop3d.data.shapenet_tables.PART_RANGES`).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from reldrop3d.data._checks import check_finite, read_names
from reldrop3d.data.clouds import Clouds, clouds_from_h5
from reldrop3d.data.files import read_h5, read_points_txt
from reldrop3d.data.paths import cache_dir_for, cached_npz
from reldrop3d.data.shapenet_tables import CATEGORIES, part_ranges_array

#: Files each split is made of.
SPLIT_PARTS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "val": ("val",),
    "test": ("test",),
    "trainval": ("train", "val"),
}
#: Seed mixed with each text file's ``<synset>/<id>`` to resample its points.
RESAMPLE_SEED = 0
#: Bump when the cached arrays of the txt layout change meaning.
CACHE_VERSION = 1


def is_hdf5(folder: Path) -> bool:
    return (folder / "all_object_categories.txt").is_file() and any(
        (folder / f"{s}_hdf5_file_list.txt").is_file() for s in ("train", "val", "test")
    )


def is_txt(folder: Path) -> bool:
    return (folder / "synsetoffset2category.txt").is_file() and (
        folder / "train_test_split"
    ).is_dir()


def read_categories(path: Path) -> dict[str, int]:
    """``{synset: label}`` from a ``<Category> <synset>`` file, checked against the benchmark."""
    rows = [line.split() for line in read_names(path)]
    names = [r[0] for r in rows]
    if any(len(r) != 2 for r in rows) or [n.lower() for n in names] != [
        c.lower() for c in CATEGORIES
    ]:
        raise ValueError(
            f"{path} must list the 16 ShapeNet part categories as '<Category> <synset>' lines "
            f"in the order {list(CATEGORIES)}, got {[' '.join(r) for r in rows]}"
        )
    return {r[1]: label for label, r in enumerate(rows)}


def check_parts(part: np.ndarray, y_per_point: np.ndarray, ptr: np.ndarray, source: str) -> None:
    """Raise if a point's part id is outside the range of its cloud's category.

    ``part [P]`` and ``y_per_point [P]`` are flat; ``ptr [M + 1]`` maps points to clouds.
    """
    ranges = part_ranges_array()
    lo, hi = ranges[y_per_point, 0], ranges[y_per_point, 1]
    bad = np.flatnonzero((part < lo) | (part >= hi))
    if bad.size:
        p = int(bad[0])
        item = int(np.searchsorted(ptr, p, side="right")) - 1
        cat = CATEGORIES[int(y_per_point[p])]
        raise ValueError(
            f"part id out of range in {source}: item {item} (category {cat}) has part id "
            f"{int(part[p])}, expected {lo[p]} <= part < {hi[p]} ({bad.size} bad points in all)"
        )


def _check_clouds_parts(clouds: Clouds, source: str) -> None:
    assert clouds.part is not None
    check_parts(clouds.part, np.repeat(clouds.y, clouds.sizes), clouds.ptr, source)


def read_hdf5_layout(
    folder: Path, split: str, num_points: int | None, use_normals: bool
) -> tuple[list[str], Clouds]:
    """Read the shards of ``split`` (``trainval``: train then val), first ``num_points`` points."""
    read_categories(folder / "all_object_categories.txt")
    chunks = []
    for part in SPLIT_PARTS[split]:
        listing = folder / f"{part}_hdf5_file_list.txt"
        entries = read_names(listing)
        if not entries:
            raise ValueError(f"the shard list {listing} is empty; expected HDF5 file names")
        for entry in entries:
            path = folder / Path(entry).name
            if not path.is_file():
                raise FileNotFoundError(
                    f"{listing} lists {entry!r}, but {path} does not exist (looked up by base name)"
                )
            arrays = read_h5(path, ["data", "label", "pid"], optional=["normal"])
            clouds = clouds_from_h5(
                arrays, path, len(CATEGORIES), num_points, use_normals, part_key="pid"
            )
            _check_clouds_parts(clouds, str(path))
            chunks.append(clouds)
    return list(CATEGORIES), Clouds.concat(chunks)


def _split_ids(folder: Path, split: str) -> list[str]:
    ids: list[str] = []
    for part in SPLIT_PARTS[split]:
        path = folder / "train_test_split" / f"shuffled_{part}_file_list.json"
        if not path.is_file():
            raise FileNotFoundError(f"expected the split file {path}, which does not exist")
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot parse split file {path}: {err}") from err
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ValueError(
                f"split file {path} must hold a JSON list of 'shape_data/<synset>/<id>' strings"
            )
        ids += entries
    if not ids:
        raise ValueError(f"split {split!r} lists no shapes in {folder / 'train_test_split'}")
    return ids


def resample_indices(n: int, num_points: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of exactly ``num_points`` of ``n`` points, in random order.

    A random permutation cut to ``num_points``; when ``n < num_points`` it is
    followed by ``num_points - n`` indices drawn with replacement (as the
    PointNet++ loader does). ``num_points=None`` keeps all ``n`` in file order.
    """
    if num_points is None:
        return np.arange(n)
    perm = rng.permutation(n)
    if n >= num_points:
        return perm[:num_points]
    return np.concatenate([perm, rng.choice(n, num_points - n, replace=True)])


def read_txt_layout(
    folder: Path, split: str, num_points: int | None, use_normals: bool
) -> tuple[list[str], Clouds]:
    """Read the text files of ``split``, each resampled to exactly ``num_points`` points.

    Shapes hold different numbers of points (and may be stored sorted by
    part), so each one is resampled by :func:`resample_indices` with a seed
    fixed by its ``<synset>/<id>``: the same points on every run.
    ``num_points=None`` keeps every stored point (clouds of varying size).
    The result is cached as one ``.npz`` per (split, num_points).
    """
    categories_file = folder / "synsetoffset2category.txt"
    synset_label = read_categories(categories_file)
    ids = _split_ids(folder, split)

    def build() -> dict[str, np.ndarray]:
        pos, normals, part, y, names = [], [], [], [], []
        for entry in tqdm(ids, desc=f"ShapeNetPart txt {split}", unit="file"):
            synset, shape = entry.rstrip("/").split("/")[-2:]
            if synset not in synset_label:
                raise ValueError(
                    f"split entry {entry!r} names synset {synset!r}, not in {categories_file}"
                )
            path = folder / synset / f"{shape}.txt"
            table = read_points_txt(path, 7)
            check_finite(table[None, :, :6], path)
            labels = table[:, 6]
            if np.any(labels != np.round(labels)):
                raise ValueError(f"part labels in {path} must be integers")
            label = synset_label[synset]
            n = len(labels)
            check_parts(labels.astype(np.int64), np.full(n, label), np.array([0, n]), str(path))
            rng = np.random.default_rng([RESAMPLE_SEED, zlib.crc32(f"{synset}/{shape}".encode())])
            table = table[resample_indices(n, num_points, rng)]
            labels = table[:, 6]
            pos.append(table[:, :3])
            normals.append(table[:, 3:6])
            part.append(labels.astype(np.int64))
            y.append(label)
            names.append(f"{synset}/{shape}")
        sizes = np.array([p.shape[0] for p in pos], dtype=np.int64)
        return {
            "pos": np.concatenate(pos).astype(np.float32),
            "normals": np.concatenate(normals).astype(np.float32),
            "part": np.concatenate(part),
            "ptr": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            "y": np.asarray(y, dtype=np.int64),
            "names": np.array(names, dtype=str),
        }

    digest = hashlib.sha1("\n".join(ids).encode()).hexdigest()[:12]
    key = f"txt_{split}_n{num_points or 'all'}_v{CACHE_VERSION}_{digest}"
    arrays = cached_npz(cache_dir_for(folder, "shapenetpart") / f"{key}.npz", build)
    clouds = Clouds(
        pos=arrays["pos"],
        ptr=arrays["ptr"],
        y=arrays["y"],
        normals=arrays["normals"] if use_normals else None,
        part=arrays["part"],
        names=[str(n) for n in arrays["names"]],
    )
    return list(CATEGORIES), clouds
