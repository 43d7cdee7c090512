"""ShapeNet part benchmark (16 categories, 50 parts), from its hdf5 or text layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch_geometric.data import Data

from reldrop3d.data import shapenet_layouts as layouts
from reldrop3d.data import shapenet_tables as tables
from reldrop3d.data.layout import Layout, LayoutDataset

#: Layouts in order of preference when a folder holds several.
LAYOUTS: tuple[Layout, ...] = (
    Layout(
        "hdf5",
        "hdf5: ply_data_*.h5 listed in {train,val,test}_hdf5_file_list.txt + "
        "all_object_categories.txt (shapenet_part_seg_hdf5_data/)",
        layouts.is_hdf5,
        layouts.read_hdf5_layout,
        1,
    ),
    Layout(
        "txt",
        "txt: synsetoffset2category.txt, train_test_split/shuffled_*_file_list.json, "
        "<synset>/<id>.txt (shapenetcore_partanno_segmentation_benchmark_v0_normal/)",
        layouts.is_txt,
        layouts.read_txt_layout,
        1,
    ),
)


class ShapeNetPart(LayoutDataset):
    r"""ShapeNet part benchmark (Yi et al. 2016): 16,881 shapes, 16 categories, 50 parts.

    Reads the PointNet ``hdf5`` layout or the ``txt`` layout with normals
    (see :mod:`reldrop3d.data.shapenet_layouts`), found in ``root`` itself,
    in ``root/raw`` or in an immediate subfolder. Item ``i`` is

    * ``pos [num_points, 3]`` float32;
    * ``y [1]`` int64: the category, an index into :attr:`classes`;
    * ``part [num_points]`` int64: the global part id (0..49) of each point,
      inside the category's range :attr:`category_parts`;
    * ``x [num_points, 3]`` float32 unit normals, if ``use_normals``.

    ``hdf5`` keeps the first ``num_points`` of the 2,048 stored points (an
    error if more are asked for). ``txt`` shapes have varying sizes: each is
    resampled to exactly ``num_points`` points with a fixed per-shape seed
    (a permutation, padded with repeats for small shapes), or kept whole
    with ``num_points=None``. The ``txt`` result is cached as ``.npz``.

    ShapeNet models are stored y-up, so :attr:`up_axis` is 1 (the convention
    of ShapeNetCore; the real files are not on this machine to measure).

    Args:
        root: the layout folder or a folder containing it.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"trainval"``.
        num_points: points per cloud (``None``: all stored).
        transform: optional ``Data -> Data`` applied to each item.
        use_normals: return normals as ``x`` (an error for hdf5 files without them).
        layout: force ``"hdf5"`` or ``"txt"`` instead of detecting it.

    Raises:
        FileNotFoundError: missing ``root``, no layout found, a missing listed file.
        ValueError: unknown ``split``; corrupt/truncated HDF5 file, categories
            or part ids out of range, NaN/inf coordinates (naming the file and item).
    """

    NAME = "ShapeNetPart"
    LAYOUTS = LAYOUTS
    SPLITS = ("train", "val", "test", "trainval")
    up_axis: int = 1
    #: Global part ids of each category (``{"Airplane": (0, 1, 2, 3), ...}``).
    category_parts: dict[str, tuple[int, ...]] = {
        cat: tuple(range(*tables.PART_RANGES[cat])) for cat in tables.CATEGORIES
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
        return tables.NUM_PARTS

    @property
    def part_names(self) -> list[str]:
        """``"<Category>/<part>"`` for each global part id (display names, see the tables)."""
        return tables.global_part_names()

    @property
    def part_category(self) -> torch.Tensor:
        """``[50]`` int64: the category label owning each part id."""
        return torch.from_numpy(tables.part_category())

    def _repr_extra(self) -> str:
        return f", {self.num_parts} parts, split={self.split!r}, layout={self.layout!r}"
