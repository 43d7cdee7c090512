"""The ShapeNet part benchmark (16 categories, 50 parts) from its hdf5 or text layout."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch_geometric.data import Data
from tqdm import tqdm

from reldrop3d.data.clouds import Layout, LayoutDataset, Loaded, flat_clouds
from reldrop3d.data.files import (
    cached_beside,
    check_finite,
    check_parts,
    fingerprint,
    h5_shards,
    read_names,
    read_points_txt,
)

#: The categories in label order with their ShapeNetCore synset and part names; each owns
#: the next contiguous range of global part ids (Airplane 0-3, ..., Table 47-49). The part
#: names (Yi et al. 2016) are for display, not checked against the annotation files.
TABLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "Airplane": ("02691156", ("body", "wing", "tail", "engine")),
    "Bag": ("02773838", ("handle", "body")),
    "Cap": ("02954340", ("panels", "peak")),
    "Car": ("02958343", ("roof", "hood", "wheel", "body")),
    "Chair": ("03001627", ("back", "seat", "leg", "arm")),
    "Earphone": ("03261776", ("earphone", "headband", "data_wire")),
    "Guitar": ("03467517", ("head", "body", "neck")),
    "Knife": ("03624134", ("blade", "handle")),
    "Lamp": ("03636649", ("base", "shade", "canopy", "tube")),
    "Laptop": ("03642806", ("keyboard", "screen")),
    "Motorbike": ("03790512", ("gas_tank", "seat", "wheel", "handle", "light", "body")),
    "Mug": ("03797390", ("handle", "cup")),
    "Pistol": ("03948459", ("barrel", "handle", "trigger")),
    "Rocket": ("04099429", ("body", "fin", "nose")),
    "Skateboard": ("04225987", ("wheel", "deck", "belt")),
    "Table": ("04379243", ("top", "leg", "support")),
}
CATEGORIES: tuple[str, ...] = tuple(TABLE)
SYNSETS: dict[str, str] = {cat: synset for cat, (synset, _) in TABLE.items()}
_STARTS = np.cumsum([0] + [len(parts) for _, parts in TABLE.values()])
#: ``[16, 2]`` int64: ``(start, stop)`` of the part ids of each category, in label order.
PART_RANGE_ARRAY = np.stack([_STARTS[:-1], _STARTS[1:]], axis=1).astype(np.int64)
#: Global part ids of each category, ``(start, stop)``: ``range(start, stop)``.
PART_RANGES: dict[str, tuple[int, int]] = {
    cat: (int(a), int(b)) for cat, (a, b) in zip(CATEGORIES, PART_RANGE_ARRAY, strict=True)
}
NUM_PARTS = int(_STARTS[-1])

#: Files each split is made of (``trainval`` is ``train`` followed by ``val``).
SPLIT_PARTS = {s: (s,) for s in ("train", "val", "test")} | {"trainval": ("train", "val")}
#: Seed mixed with each text file's ``<synset>/<id>`` to resample its points.
RESAMPLE_SEED = 0
#: Bump when the cached arrays of the txt layout change meaning.
CACHE_VERSION = 1


def read_categories(path: Path) -> dict[str, int]:
    """``{synset: label}`` from a ``<Category> <synset>`` file, checked against the benchmark."""
    rows = [line.split() for line in read_names(path)]
    names = [r[0].lower() for r in rows if len(r) == 2]
    if names != [c.lower() for c in CATEGORIES] or len(names) != len(rows):
        raise ValueError(
            f"{path} must list the 16 ShapeNet part categories as '<Category> <synset>' lines "
            f"in the order {list(CATEGORIES)}, got {[' '.join(r) for r in rows]}"
        )
    return {r[1]: label for label, r in enumerate(rows)}


def read_hdf5_layout(folder: Path, split: str, num_points: int | None, use_normals: bool) -> Loaded:
    """``shapenet_part_seg_hdf5_data/`` (PointNet): the shards listed in
    ``<split>_hdf5_file_list.txt``, with ``data [M, 2048, 3]``, ``label [M, 1]``,
    ``pid [M, 2048]`` (global part id) and maybe ``normal``; the first ``num_points`` kept."""
    read_categories(folder / "all_object_categories.txt")
    listings = [folder / f"{part}_hdf5_file_list.txt" for part in SPLIT_PARTS[split]]
    dense = h5_shards(listings, CATEGORIES, num_points, use_normals, PART_RANGE_ARRAY)
    return list(CATEGORIES), flat_clouds(**dense)


def resample_indices(n: int, num_points: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``num_points`` of ``n`` points: a random permutation cut to ``num_points``,
    padded with draws with replacement when ``n < num_points`` (as PointNet++ does);
    ``None``: all ``n`` in file order."""
    if num_points is None:
        return np.arange(n)
    perm = rng.permutation(n)
    if n >= num_points:
        return perm[:num_points]
    return np.concatenate([perm, rng.choice(n, num_points - n, replace=True)])


def read_txt_layout(folder: Path, split: str, num_points: int | None, use_normals: bool) -> Loaded:
    """``shapenetcore_partanno_segmentation_benchmark_v0_normal/``: ``<synset>/<id>.txt``
    lines ``x y z nx ny nz part`` for the ``"shape_data/<synset>/<id>"`` entries of
    ``train_test_split/shuffled_<split>_file_list.json``, each resampled by
    :func:`resample_indices` seeded by its ``<synset>/<id>``; cached as one ``.npz``."""
    categories_file = folder / "synsetoffset2category.txt"
    synset_label = read_categories(categories_file)
    ids: list[str] = []
    for part in SPLIT_PARTS[split]:
        path = folder / "train_test_split" / f"shuffled_{part}_file_list.json"
        try:
            entries = json.loads(path.read_text())  # a missing file raises, naming it
        except ValueError as err:
            raise ValueError(f"cannot parse split file {path}: {err}") from err
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ValueError(
                f"split file {path} must hold a JSON list of 'shape_data/<synset>/<id>' strings"
            )
        ids += entries
    if not ids:
        raise ValueError(f"split {split!r} lists no shapes in {folder / 'train_test_split'}")

    def build() -> dict[str, np.ndarray]:
        tables, y, names = [], [], []
        for entry in tqdm(ids, desc=f"ShapeNetPart txt {split}", unit="file"):
            synset, shape = entry.rstrip("/").split("/")[-2:]
            if synset not in synset_label:
                raise ValueError(
                    f"split entry {entry!r} names synset {synset!r}, not in {categories_file}"
                )
            path = folder / synset / f"{shape}.txt"
            table = read_points_txt(path, 7)
            check_finite(table[None, :, :6], path)
            if np.any(table[:, 6] != np.round(table[:, 6])):
                raise ValueError(f"part labels in {path} must be integers")
            label = synset_label[synset]
            part = table[None, :, 6].astype(np.int64)
            check_parts(part, np.array([label]), PART_RANGE_ARRAY, CATEGORIES, path)
            rng = np.random.default_rng([RESAMPLE_SEED, zlib.crc32(f"{synset}/{shape}".encode())])
            tables.append(table[resample_indices(len(table), num_points, rng)])
            y.append(label)
            names.append(f"{synset}/{shape}")
        return flat_clouds(
            [t[:, :3] for t in tables],
            y,
            normals=[t[:, 3:6] for t in tables],
            part=[t[:, 6] for t in tables],
            names=names,
        )

    key = f"txt_{split}_n{num_points or 'all'}_v{CACHE_VERSION}_{fingerprint(*ids)}"
    return list(CATEGORIES), cached_beside(folder, "shapenetpart", key, build)


class ShapeNetPart(LayoutDataset):
    r"""ShapeNet part benchmark (Yi et al. 2016): 16,881 shapes, 16 categories, 50 parts.

    Reads the PointNet ``hdf5`` layout (:func:`read_hdf5_layout`: the first ``num_points``
    of 2,048) or the ``txt`` layout (:func:`read_txt_layout`: resampled to ``num_points``),
    found in ``root``, ``root/raw`` or an immediate subfolder. Item ``i`` is ``pos
    [num_points, 3]`` float32, ``y [1]`` int64 (the category), ``part [num_points]`` int64
    (global part id, checked to lie in the category's :data:`PART_RANGES`) and, if
    ``use_normals``, ``x [num_points, 3]`` unit normals. ShapeNetCore is y-up
    (:attr:`up_axis` 1).

    Args:
        root: the layout folder or a folder containing it.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"trainval"`` (train, then val).
        num_points: points per cloud (``None``: all stored).
        transform: optional ``Data -> Data`` applied to each item.
        use_normals: return normals as ``x`` (an error for hdf5 files without them).
        layout: force ``"hdf5"`` or ``"txt"`` instead of detecting it.

    Raises:
        FileNotFoundError: missing ``root``, no layout found, a missing listed file.
        ValueError: unknown ``split``, a corrupt file, categories or part ids out of
            range, NaN/inf coordinates (naming the file and item).
    """

    SPLITS = tuple(SPLIT_PARTS)
    LAYOUTS = (
        Layout(
            "hdf5",
            read_hdf5_layout,
            1,
            ("all_object_categories.txt", "*_hdf5_file_list.txt"),
            "shapenet_part_seg_hdf5_data/",
        ),
        Layout(
            "txt",
            read_txt_layout,
            1,
            ("synsetoffset2category.txt", "train_test_split"),
            "shapenetcore_partanno_segmentation_benchmark_v0_normal/",
        ),
    )
    up_axis: int = 1
    #: Global part ids of each category (``{"Airplane": (0, 1, 2, 3), ...}``).
    class_parts: dict[str, tuple[int, ...]] = {
        cat: tuple(range(*PART_RANGES[cat])) for cat in CATEGORIES
    }

    def __init__(
        self,
        root: str | Path,
        split: str = "trainval",
        num_points: int | None = 2048,
        transform: Callable[[Data], Data] | None = None,
        use_normals: bool = False,
        layout: str | None = None,
    ) -> None:
        super().__init__(root, split, num_points, transform, use_normals, layout)

    @property
    def num_parts(self) -> int:
        """Number of global part ids, 50."""
        return NUM_PARTS

    @property
    def part_names(self) -> list[str]:
        """``"<Category>/<part>"`` for each global part id (display names, see :data:`TABLE`)."""
        return [f"{cat}/{name}" for cat, (_, names) in TABLE.items() for name in names]

    def _repr_extra(self) -> str:
        return f", {self.num_parts} parts" + super()._repr_extra()
