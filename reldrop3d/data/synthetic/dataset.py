"""SyntheticShapes: the embedded default dataset, built from open3d primitives with part labels."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from reldrop3d.data.clouds import PointCloudDataset, check_int, check_split, flat_clouds
from reldrop3d.data.files import cached_npz, is_writable_dir, repository_root, user_cache_dir
from reldrop3d.data.synthetic import generate
from reldrop3d.data.synthetic.shapes import SHAPES, num_parts

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

    Objects are made of named parts (``chair`` = seat + legs + back (+ arms), ...) with
    random proportions, sampled to ``num_points`` surface points in the unit sphere
    (:mod:`~reldrop3d.data.synthetic.generate`). Item ``i`` is ``pos [num_points, 3]``
    float32, ``y [1]`` int64, ``part [num_points]`` int64 (global part id, one of
    :attr:`class_parts` ``[classes[y]]``), ``x [num_points, 3]`` unit normals if
    ``use_normals`` and, with a decoy, ``mask [num_points]`` bool (False on the decoy).

    **Decoy**: every object also carries a small sphere of ``num_points / 16`` points
    (part :attr:`decoy_part`) outside it, placed by its class (``"class"``: the
    shortcut), by another class (``"swap"``) or anywhere (``"random"``);
    :attr:`decoy_class` ``[M]`` is the class it points to. ``decoy=True`` is ``"class"``
    for train and val, ``"swap"`` for test.

    The same arguments give identical tensors; a split is built at first use and cached
    as one ``.npz`` under ``root`` (default :func:`default_synthetic_root`).

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        num_points: points per cloud.
        samples_per_class: objects per class (default :data:`DEFAULT_SAMPLES_PER_CLASS`).
        seed: non-negative int seed.
        root: cache folder (created if needed).
        transform: optional ``Data -> Data`` applied to each item.
        use_normals: return normals as ``x``.
        decoy: ``None``/``False`` (no decoy), ``True`` (the split's default),
            ``"class"``, ``"swap"`` or ``"random"``.
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
        decoy: bool | str | None = None,
    ) -> None:
        super().__init__(transform)
        self.split = check_split(split, self.SPLITS)
        self.num_points = check_int("num_points", num_points)
        if samples_per_class is None:
            samples_per_class = DEFAULT_SAMPLES_PER_CLASS[split]
        samples_per_class = check_int("samples_per_class", samples_per_class)
        seed = check_int("seed", seed, minimum=0)
        if decoy is True or decoy is False:
            decoy = generate.DEFAULT_DECOY[split] if decoy else None
        if decoy is not None and decoy not in generate.DECOY_MODES:
            raise ValueError(
                f"decoy must be None, True, False or one of {generate.DECOY_MODES}, got {decoy!r}"
            )
        self.samples_per_class, self.seed, self.decoy = samples_per_class, seed, decoy
        self.use_normals = bool(use_normals)
        self.root = Path(root).expanduser() if root is not None else default_synthetic_root()
        self.classes = [s.name for s in SHAPES]
        tag = f"_decoy-{decoy}" if decoy else ""
        self.cache_path = self.root / (
            f"synthetic_{split}_n{num_points}_s{samples_per_class}_seed{seed}{tag}_v{VERSION}.npz"
        )
        args = (split, num_points, samples_per_class, seed)
        arrays = cached_npz(self.cache_path, partial(generate.generate_split, *args, decoy=decoy))
        normals = arrays["normals"] if self.use_normals else None
        self._set_clouds(flat_clouds(arrays["pos"], arrays["y"], normals, arrays["part"]))
        self.decoy_class: torch.Tensor | None = None
        if decoy:
            self.decoy_class = torch.from_numpy(arrays["decoy_class"].astype(np.int64))
            self.mask = self.part != self.decoy_part

    @property
    def part_names(self) -> list[str]:
        """``"<class>/<part>"`` for each global part id (and ``"decoy"`` last, with a decoy)."""
        names = [f"{s.name}/{p}" for s in SHAPES for p in s.parts]
        return [*names, "decoy"] if self.decoy else names

    @property
    def num_parts(self) -> int:
        """Number of global part ids (summed over classes, plus one for a decoy)."""
        return self.decoy_part + (1 if self.decoy else 0)

    @property
    def decoy_part(self) -> int:
        """The part id of decoy points (the first id after the classes' parts)."""
        return num_parts()

    @property
    def class_parts(self) -> dict[str, tuple[int, ...]]:
        """Global part ids of each class, ``{"table": (0, 1, 2), "chair": (3, 4, 5, 6), ...}``."""
        return {s.name: s.part_ids for s in SHAPES}

    def _repr_extra(self) -> str:
        decoy = f", decoy={self.decoy!r}" if self.decoy else ""
        return f", {self.num_parts} parts, split={self.split!r}, seed={self.seed}{decoy}"
