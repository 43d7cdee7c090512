"""Point clouds held in memory, the dataset classes built on them, and subsets of them.

Readers hand ``M`` clouds over as flat numpy arrays with a CSR pointer (as a PyG
``Batch``, and the ``.npz`` caches): ``pos [P, 3]`` float32 (cloud ``i`` is
``pos[ptr[i]:ptr[i + 1]]``), ``ptr [M + 1]`` int64, ``y [M]`` int64 and optionally
``normals [P, 3]`` float32, ``part [P]`` int64, ``names [M]`` str.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Data


def flat_clouds(
    pos: Sequence[np.ndarray],
    y: Sequence[int] | np.ndarray,
    normals: Sequence[np.ndarray] | None = None,
    part: Sequence[np.ndarray] | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """The flat arrays (see the module docstring) of clouds given one by one: ``pos`` and
    ``normals`` ``[n_i, 3]`` each (or ``[M, N, 3]``), ``part`` ``[n_i]``, ``y`` and ``names``."""
    sizes = [len(p) for p in pos]
    out = {
        "pos": np.concatenate(pos).astype(np.float32),
        "ptr": np.cumsum([0, *sizes]).astype(np.int64),
        "y": np.asarray(y, dtype=np.int64).reshape(-1),
    }
    if normals is not None:
        out["normals"] = np.concatenate(normals).astype(np.float32)
    if part is not None:
        out["part"] = np.concatenate(part).astype(np.int64)
    if names is not None:
        out["names"] = np.asarray(names, dtype=str)
    return out


def check_split(split: str, allowed: Sequence[str]) -> str:
    """``split`` if it is one of ``allowed``."""
    if not isinstance(split, str) or split not in allowed:
        raise ValueError(f"split must be one of {tuple(allowed)}, got {split!r}")
    return split


def check_int(
    name: str, value: int | None, minimum: int = 1, allow_none: bool = False
) -> int | None:
    """``value`` if it is an int ``>= minimum`` (or ``None`` when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        expected = f"an int >= {minimum}" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


class PointCloudDataset(Dataset):
    """A :class:`~torch.utils.data.Dataset` of point clouds held in memory.

    Item ``i`` is ``Data(pos [n_i, 3] float32, y [1] int64)``, plus ``x [n_i, 3]`` normals,
    ``part [n_i]`` int64 and ``mask [n_i]`` bool where the dataset has them, as fresh copies
    (a ``transform`` may modify them in place). Subclasses set ``classes`` and call
    :meth:`_set_clouds`.
    """

    #: Index of the vertical axis of the stored coordinates (0 = x, 1 = y, 2 = z).
    up_axis: int = 2

    def __init__(self, transform: Callable[[Data], Data] | None = None) -> None:
        super().__init__()
        if transform is not None and not callable(transform):
            raise TypeError(
                f"transform must be a callable Data -> Data or None, got {type(transform).__name__}"
            )
        self.transform = transform
        self.classes: list[str] = []
        self._set_clouds({"pos": np.empty((0, 3)), "ptr": np.zeros(1), "y": np.empty(0)})

    def _set_clouds(self, clouds: dict[str, np.ndarray]) -> None:
        """Hold the flat ``clouds`` (see the module docstring) as tensors."""
        normals, part, names = (clouds.get(k) for k in ("normals", "part", "names"))
        self.pos = torch.from_numpy(np.ascontiguousarray(clouds["pos"], dtype=np.float32))
        self.y = torch.from_numpy(np.ascontiguousarray(clouds["y"], dtype=np.int64))
        self.normals = None if normals is None else torch.from_numpy(normals.astype(np.float32))
        self.part = None if part is None else torch.from_numpy(part.astype(np.int64))
        self.mask: Tensor | None = None
        self.names = None if names is None else [str(n) for n in names]
        self._ptr: list[int] = [int(p) for p in clouds["ptr"]]

    @property
    def num_classes(self) -> int:
        """Number of classes ``len(classes)``; labels ``y`` lie in ``[0, num_classes)``."""
        return len(self.classes)

    @property
    def sizes(self) -> Tensor:
        """Number of points of each cloud, ``[M]``."""
        return torch.tensor(self._ptr).diff()

    def __len__(self) -> int:
        return len(self._ptr) - 1

    def __getitem__(self, idx: int) -> Data:
        n = len(self)
        if isinstance(idx, Tensor) and idx.dim() == 0 and not idx.is_floating_point():
            idx = int(idx)
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(idx).__name__}")
        i = int(idx) + n if idx < 0 else int(idx)
        if not 0 <= i < n:
            raise IndexError(f"index {idx} out of range for a dataset of {n} clouds")
        a, b = self._ptr[i], self._ptr[i + 1]
        data = Data(pos=self.pos[a:b].clone(), y=self.y[i : i + 1].clone())
        for key, value in (("x", self.normals), ("part", self.part), ("mask", self.mask)):
            if value is not None:
                data[key] = value[a:b].clone()
        return data if self.transform is None else self.transform(data)

    def _repr_extra(self) -> str:
        return ""

    def __repr__(self) -> str:
        sizes = {self._ptr[i + 1] - self._ptr[i] for i in range(min(len(self), 1000))}
        points = str(sizes.pop()) if len(sizes) == 1 else "varying"
        return (
            f"{type(self).__name__}({len(self)} clouds, {points} points, "
            f"{self.num_classes} classes{self._repr_extra()})"
        )


#: What a layout's reader returns: the class names and the flat clouds.
Loaded = tuple[list[str], dict[str, np.ndarray]]
Reader = Callable[[Path, str, int | None, bool], Loaded]


@dataclass(frozen=True)
class Layout:
    """One on-disk layout of a dataset: ``read(folder, split, num_points, use_normals)`` returns
    ``(classes, flat clouds)``; a folder holds it when each of the ``markers`` (globs, ``|``
    between alternatives) matches an entry; ``example`` names such a folder."""

    name: str
    read: Reader
    up_axis: int
    markers: tuple[str, ...]
    example: str

    def found_in(self, folder: Path) -> bool:
        return all(
            any(next(folder.glob(p), None) is not None for p in marker.split("|"))
            for marker in self.markers
        )

    @property
    def description(self) -> str:
        return f"{self.name}: {' + '.join(self.markers)} (e.g. {self.example})"


def find_layout(
    root: Path, layouts: Sequence[Layout], layout: str | None = None, dataset: str = "dataset"
) -> tuple[Layout, Path]:
    """The first of ``layouts`` (or the one named ``layout``) found in ``root``, ``root/raw`` or
    an immediate subfolder (or its ``raw/``), and that folder. A ``FileNotFoundError`` for a
    missing ``root`` or none found lists the layouts looked for and what ``root`` holds."""
    names = [lay.name for lay in layouts]
    if layout is not None and layout not in names:
        raise ValueError(f"layout must be one of {names} or None, got {layout!r}")
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise FileNotFoundError(f"{dataset} root {root} {what}")
    wanted = [lay for lay in layouts if layout in (None, lay.name)]
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in [root, root / "raw"] + [d for sub in subdirs for d in (sub, sub / "raw")]:
        for lay in wanted:
            if folder.is_dir() and lay.found_in(folder):
                return lay, folder
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
    found = ", ".join(entries[:20]) + (
        f", ... ({len(entries)} entries)" if len(entries) > 20 else ""
    )
    looked = "; ".join(lay.description for lay in wanted)
    raise FileNotFoundError(
        f"no {dataset} layout found in {root} (nor in its raw/ or immediate subfolders). "
        f"Looked for: {looked}. Found: {found or 'nothing (empty folder)'}"
    )


class LayoutDataset(PointCloudDataset):
    """A dataset read whole from whichever of its :attr:`LAYOUTS` (set by subclasses, with
    :attr:`SPLITS`) is found under ``root``; normals kept only if ``use_normals``."""

    SPLITS: tuple[str, ...] = ()
    LAYOUTS: tuple[Layout, ...] = ()

    def __init__(
        self,
        root: str | Path,
        split: str,
        num_points: int | None,
        transform: Callable[[Data], Data] | None = None,
        use_normals: bool = False,
        layout: str | None = None,
    ) -> None:
        super().__init__(transform)
        self.split = check_split(split, self.SPLITS)
        self.num_points = check_int("num_points", num_points, allow_none=True)
        self.use_normals = bool(use_normals)
        root = Path(root).expanduser()
        found, self.folder = find_layout(root, self.LAYOUTS, layout, type(self).__name__)
        self.layout, self.up_axis = found.name, found.up_axis
        self.classes, clouds = found.read(self.folder, split, self.num_points, self.use_normals)
        if not self.use_normals:
            clouds.pop("normals", None)
        self._set_clouds(clouds)

    def _repr_extra(self) -> str:
        return f", split={self.split!r}, layout={self.layout!r}"


class CloudSubset(Dataset):
    """The clouds ``indices`` of a point-cloud dataset, in that order: item ``i`` is
    ``dataset[indices[i]]``, :attr:`y` and :attr:`sizes` are indexed, every other attribute
    (``classes``, ``up_axis``, ...) is the dataset's own."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | Tensor) -> None:
        super().__init__()
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: int) -> Data:
        return self.dataset[self.indices[idx]]

    @property
    def y(self) -> Tensor:
        """Class of each cloud, ``[len(self)]``."""
        return labels_of(self.dataset)[self.indices]

    @property
    def sizes(self) -> Tensor:
        """Number of points of each cloud, ``[len(self)]``."""
        return self.dataset.sizes[self.indices]

    def __getattr__(self, name: str):
        if name == "dataset":  # not set yet (unpickling)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} of {self.dataset!r})"


def labels_of(dataset: Dataset) -> Tensor:
    """Class of every cloud, ``[len(dataset)]``: the dataset's ``y``, else read item by item."""
    y = getattr(dataset, "y", None)
    if isinstance(y, Tensor) and y.dim() == 1 and y.numel() == len(dataset):
        return y
    return torch.cat([dataset[i].y.view(-1) for i in range(len(dataset))])


def stratified_split(
    labels: Tensor, fraction: float, seed: int, *, at_least_one: bool = True
) -> tuple[Tensor, Tensor]:
    r"""``(chosen, rest)``, sorted indices of a class-stratified share of ``labels [M]`` and of
    the others: :math:`\operatorname{round}(f\,n_c)` of the :math:`n_c` clouds of class ``c``
    (at least one if ``at_least_one``), uniformly at random by ``seed``."""
    if isinstance(fraction, bool) or not 0.0 <= float(fraction) <= 1.0:
        raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(labels.numel(), generator=g)
    shuffled = labels[order]
    # rank of each cloud among its class in the random order: a stable sort by class
    by_class = torch.sort(shuffled, stable=True).indices
    counts = torch.bincount(labels)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(by_class)
    rank[by_class] = torch.arange(labels.numel()) - starts[shuffled[by_class]]
    quota = torch.round(fraction * counts.double()).long()
    if at_least_one:
        quota = torch.where(counts > 0, quota.clamp(min=1), quota)
    chosen = torch.zeros(labels.numel(), dtype=torch.bool)
    chosen[order] = rank < quota[shuffled]
    return chosen.nonzero().view(-1), (~chosen).nonzero().view(-1)


def random_subset(dataset: Dataset, size: int, seed: int = 0) -> Dataset:
    """A fixed random subset of ``size`` clouds of ``dataset`` (in dataset order; the same
    ``seed`` gives the same clouds), or ``dataset`` itself when ``size`` is 0 or not smaller."""
    if not size or size >= len(dataset):
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return CloudSubset(dataset, order[:size].sort().values)
