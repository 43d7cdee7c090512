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
from reldrop3d.data.synthetic.decoy import DECOY_MODES, DEFAULT_DECOY
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
    * ``x [num_points, 3]`` float32 unit normals if ``use_normals``;
    * with a decoy, ``mask [num_points]`` bool: True on the object's own parts
      (where a model should look), False on the decoy.

    **Decoy variant** (``decoy=``, see :mod:`reldrop3d.data.synthetic.decoy`):
    every object also carries a small sphere of ``num_points / 16`` points
    outside it, at a position that depends on ``decoy``: ``"class"`` (a fixed
    position per class, so it predicts the class perfectly: the shortcut),
    ``"swap"`` (the position of another, random class) or ``"random"``;
    ``True`` takes ``"class"`` for train and val and ``"swap"`` for test (a
    model that learned the shortcut is then wrong on the test split). The
    decoy's points have the extra part id :attr:`decoy_part` (part name
    ``"decoy"``), and :attr:`decoy_class` ``[M]`` holds the class each
    object's decoy points to.

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
        decoy: ``None``/``False`` (no decoy), ``True`` (the split's default:
            ``"class"`` for train and val, ``"swap"`` for test), ``"class"``,
            ``"swap"`` or ``"random"``.
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
        if decoy is True:
            decoy = DEFAULT_DECOY[split]
        elif decoy is False:
            decoy = None
        if decoy is not None and decoy not in DECOY_MODES:
            raise ValueError(
                f"decoy must be None, True, False or one of {DECOY_MODES}, got {decoy!r}"
            )
        self.decoy: str | None = decoy
        self.root = Path(root).expanduser() if root is not None else default_synthetic_root()
        self.classes = [s.name for s in SHAPES]
        tag = f"_decoy-{decoy}" if decoy else ""
        self.cache_path = self.root / (
            f"synthetic_{split}_n{num_points}_s{samples_per_class}_seed{seed}{tag}_v{VERSION}.npz"
        )
        arrays = self._load_or_build()
        self.decoy_class: torch.Tensor | None = None
        if decoy:
            self.decoy_class = torch.from_numpy(arrays["decoy_class"].astype(np.int64))
            self.transform = _AddMask(self.decoy_part, self.transform)
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
        if (
            arrays is not None
            and arrays["pos"].shape[:2]
            == (self.num_classes * self.samples_per_class, self.num_points)
            and (self.decoy is None or "decoy_class" in arrays)
        ):
            return arrays
        arrays = generate.generate_split(
            self.split, self.num_points, self.samples_per_class, self.seed, decoy=self.decoy
        )
        try:
            atomic_save_npz(self.cache_path, arrays)
        except OSError:
            pass  # a cache we cannot write only costs time
        return arrays

    @property
    def part_names(self) -> list[str]:
        """``"<class>/<part>"`` for each global part id (and ``"decoy"`` last, with a decoy)."""
        names = [f"{s.name}/{p}" for s in SHAPES for p in s.parts]
        return [*names, "decoy"] if self.decoy else names

    @property
    def num_parts(self) -> int:
        """Number of global part ids (summed over classes, plus one for a decoy)."""
        return sum(len(s.parts) for s in SHAPES) + (1 if self.decoy else 0)

    @property
    def decoy_part(self) -> int:
        """The part id of decoy points (the first id after the classes' parts)."""
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
        """``[num_parts]`` int64: the class label owning each part id (-1 for the decoy)."""
        sizes = torch.tensor([len(s.parts) for s in SHAPES])
        owner = torch.repeat_interleave(torch.arange(len(SHAPES)), sizes)
        return torch.cat([owner, owner.new_full((1,), -1)]) if self.decoy else owner

    def _repr_extra(self) -> str:
        decoy = f", decoy={self.decoy!r}" if self.decoy else ""
        return f", {self.num_parts} parts, split={self.split!r}, seed={self.seed}{decoy}"


class _AddMask:
    """``Data -> Data``: ``mask = part != decoy_part`` (True = allowed), then ``transform``."""

    def __init__(self, decoy_part: int, transform: Callable[[Data], Data] | None) -> None:
        self.decoy_part = decoy_part
        self.transform = transform

    def __call__(self, data: Data) -> Data:
        data.mask = data.part != self.decoy_part
        return data if self.transform is None else self.transform(data)

    def __repr__(self) -> str:
        return f"AddMask(then {self.transform!r})"
