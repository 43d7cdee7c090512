"""SyntheticShapes: the embedded default dataset, built from open3d primitives with part labels."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from reldrop3d.data._checks import check_num_points, check_split
from reldrop3d.data.clouds import Clouds, PointCloudDataset
from reldrop3d.data.paths import (
    atomic_save_npz,
    is_writable_dir,
    load_npz,
    repository_root,
    user_cache_dir,
)
from reldrop3d.data.synthetic import generate
from reldrop3d.data.synthetic.shapes import SHAPES

#: Bump whenever generation changes, so that old cache files are not reused.
VERSION = 1
#: Objects per class when ``samples_per_class`` is not given.
DEFAULT_SAMPLES_PER_CLASS: dict[str, int] = {"train": 100, "val": 25, "test": 25}


def default_synthetic_root() -> Path:
    """``<repository>/data/synthetic`` if ``<repository>/data`` is writable, else the user cache."""
    data = repository_root() / "data"
    if is_writable_dir(data):
        return data / "synthetic"
    return user_cache_dir("synthetic")


class SyntheticShapes(PointCloudDataset):
    r"""Ten classes of simple furniture, vessels and vehicles built from open3d primitives.

    Every object is made of named parts (``table`` = top + legs, ``chair`` =
    seat + legs + back (+ arms), ``lamp`` = base + pole + shade, ...; see
    :mod:`reldrop3d.data.synthetic.shapes`), with random proportions, a
    random rotation about the up axis z and a random overall scale, sampled
    to exactly ``num_points`` surface points split between parts by area,
    and normalised to the unit sphere (see
    :mod:`reldrop3d.data.synthetic.generate`). Related classes share parts
    (table / bench / shelf, chair / stool, bottle / mug / rocket / lamp).
    Item ``i`` is

    * ``pos [num_points, 3]`` float32, max radius 1 about the centroid;
    * ``y [1]`` int64: the class, an index into :attr:`classes`;
    * ``part [num_points]`` int64: global part id in ``[0, num_parts)``, one
      of :attr:`class_parts` ``[classes[y]]``; names in :attr:`part_names`;
    * ``x [num_points, 3]`` float32 unit normals if ``use_normals``.

    The same ``(split, num_points, samples_per_class, seed)`` gives identical
    tensors; splits use different random streams. The whole split is built
    at first use (with a tqdm bar) and cached as one ``.npz`` file under
    ``root`` (default :func:`default_synthetic_root`), written atomically; a
    later construction only reads it. With the defaults (100 train / 25 test
    objects per class, 1,024 points) the train split (1,000 objects) builds
    in about 2 s on one CPU core (plus about 1 s to import open3d) and its
    cache file is 27 MB (7 MB for test).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_points: points per cloud.
        samples_per_class: objects per class (default
            :data:`DEFAULT_SAMPLES_PER_CLASS`: 100 train, 25 val, 25 test).
        seed: non-negative int seed.
        root: cache folder (created if needed).
        transform: optional ``Data -> Data`` applied to each item.
        use_normals: return normals as ``x``.
    """

    SPLITS = tuple(generate.SPLIT_CODES)
    up_axis: int = 2

    def __init__(
        self,
        split: str = "train",
        num_points: int = 1024,
        samples_per_class: int | None = None,
        seed: int = 0,
        root: str | Path | None = None,
        transform: Callable[[Data], Data] | None = None,
        use_normals: bool = False,
    ) -> None:
        super().__init__(transform)
        self.split = check_split(split, self.SPLITS)
        self.num_points = check_num_points(num_points, allow_none=False)
        if samples_per_class is None:
            samples_per_class = DEFAULT_SAMPLES_PER_CLASS[split]
        if isinstance(samples_per_class, bool) or not isinstance(samples_per_class, int):
            raise TypeError(
                f"samples_per_class must be a positive int or None, "
                f"got {type(samples_per_class).__name__}"
            )
        if samples_per_class < 1:
            raise ValueError(f"samples_per_class must be a positive int, got {samples_per_class}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.samples_per_class = samples_per_class
        self.seed = seed
        self.use_normals = bool(use_normals)
        self.root = Path(root).expanduser() if root is not None else default_synthetic_root()
        self.classes = [s.name for s in SHAPES]
        self.cache_path = self.root / (
            f"synthetic_{split}_n{num_points}_s{samples_per_class}_seed{seed}_v{VERSION}.npz"
        )
        arrays = self._load_or_build()
        self._set_clouds(
            Clouds.from_dense(
                arrays["pos"],
                arrays["y"],
                normals=arrays["normals"] if self.use_normals else None,
                part=arrays["part"],
            )
        )

    def _load_or_build(self) -> dict[str, np.ndarray]:
        arrays = load_npz(self.cache_path)
        if arrays is not None and arrays["pos"].shape[:2] == (
            self.num_classes * self.samples_per_class,
            self.num_points,
        ):
            return arrays
        arrays = generate.generate_split(
            self.split, self.num_points, self.samples_per_class, self.seed
        )
        try:
            atomic_save_npz(self.cache_path, arrays)
        except OSError:
            pass  # a cache we cannot write only costs time
        return arrays

    @property
    def part_names(self) -> list[str]:
        """``"<class>/<part>"`` for each global part id."""
        return [f"{s.name}/{p}" for s in SHAPES for p in s.parts]

    @property
    def num_parts(self) -> int:
        """Number of global part ids (summed over classes)."""
        return sum(len(s.parts) for s in SHAPES)

    @property
    def class_parts(self) -> dict[str, tuple[int, ...]]:
        """Global part ids of each class, ``{"table": (0, 1), "chair": (2, 3, 4), ...}``."""
        offsets = generate.part_offsets()
        return {
            s.name: tuple(range(o, o + len(s.parts))) for s, o in zip(SHAPES, offsets, strict=True)
        }

    @property
    def part_class(self) -> torch.Tensor:
        """``[num_parts]`` int64: the class label owning each part id."""
        sizes = torch.tensor([len(s.parts) for s in SHAPES])
        return torch.repeat_interleave(torch.arange(len(SHAPES)), sizes)

    def _repr_extra(self) -> str:
        return f", {self.num_parts} parts, split={self.split!r}, seed={self.seed}"
