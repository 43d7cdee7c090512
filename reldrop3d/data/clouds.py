"""In-memory storage of many point clouds and the dataset base class built on it.

:class:`Clouds` keeps ``M`` clouds of possibly different sizes as flat arrays
plus a CSR pointer (the layout of a PyG ``Batch``):

* ``pos [P, 3]`` float32, ``P = sum_i n_i``; cloud ``i`` is
  ``pos[ptr[i]:ptr[i+1]]``;
* ``y [M]`` int64 class labels;
* ``normals [P, 3]`` float32 (optional), ``part [P]`` int64 (optional);
* ``names`` (optional): one id string per cloud.

:class:`PointCloudDataset` wraps a :class:`Clouds` as a
:class:`torch.utils.data.Dataset` of :class:`torch_geometric.data.Data`
items, so ``__getitem__`` is two slices and a ``Data`` constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch_geometric.data import Data

from reldrop3d.data._checks import (
    check_enough_points,
    check_finite,
    check_labels,
    check_transform,
)


@dataclass(frozen=True)
class Clouds:
    """``M`` point clouds stored flat (numpy), see the module docstring for shapes."""

    pos: np.ndarray
    ptr: np.ndarray
    y: np.ndarray
    normals: np.ndarray | None = None
    part: np.ndarray | None = None
    names: list[str] | None = None

    @classmethod
    def from_dense(
        cls,
        pos: np.ndarray,
        y: np.ndarray,
        normals: np.ndarray | None = None,
        part: np.ndarray | None = None,
        names: list[str] | None = None,
    ) -> Clouds:
        """From equal-size clouds.

        ``pos [M, N, 3]``, ``y [M]``, ``normals [M, N, 3]`` and ``part [M, N]``.
        """
        m, n = pos.shape[:2]
        return cls(
            pos=np.ascontiguousarray(pos, dtype=np.float32).reshape(m * n, 3),
            ptr=np.arange(m + 1, dtype=np.int64) * n,
            y=np.asarray(y, dtype=np.int64).reshape(m),
            normals=None if normals is None else normals.astype(np.float32).reshape(m * n, 3),
            part=None if part is None else part.astype(np.int64).reshape(m * n),
            names=names,
        )

    @classmethod
    def concat(cls, chunks: list[Clouds]) -> Clouds:
        """Concatenate several :class:`Clouds` (e.g. one per HDF5 shard) in order."""
        if len(chunks) == 1:
            return chunks[0]
        offsets = np.cumsum([0] + [c.pos.shape[0] for c in chunks[:-1]])
        ptr = np.concatenate([[0]] + [c.ptr[1:] + o for c, o in zip(chunks, offsets, strict=True)])

        def cat(field: str) -> np.ndarray | None:
            parts = [getattr(c, field) for c in chunks]
            return None if any(p is None for p in parts) else np.concatenate(parts)

        names = None
        if all(c.names is not None for c in chunks):
            names = [n for c in chunks for n in c.names]  # type: ignore[union-attr]
        return cls(
            pos=np.concatenate([c.pos for c in chunks]),
            ptr=ptr.astype(np.int64),
            y=np.concatenate([c.y for c in chunks]),
            normals=cat("normals"),
            part=cat("part"),
            names=names,
        )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        """Number of points of each cloud, ``[M]``."""
        return np.diff(self.ptr)


def clouds_from_h5(
    arrays: dict[str, np.ndarray],
    path: Path,
    num_classes: int,
    num_points: int | None,
    use_normals: bool,
    part_key: str | None = None,
) -> Clouds:
    """Check the arrays read from one HDF5 file and keep the first ``num_points`` points.

    Args:
        arrays: ``data [M, N, 3]``, ``label [M]`` or ``[M, 1]``, optionally
            ``normal [M, N, 3]``, ``name [M]`` (bytes) and ``arrays[part_key] [M, N]``.
        path: the file, for messages.
        num_classes: labels must lie in ``[0, num_classes)``.
        num_points: points to keep per cloud (``None``: all); at most ``N``.
        use_normals: keep ``normal`` (an error if the file has none).
        part_key: the key of per-point part labels, if any.

    Raises:
        ValueError: wrong shapes, ``num_points > N``, NaN/inf coordinates or
            labels out of range; the message names ``path`` (and the item).
    """
    data = arrays["data"]
    if data.ndim != 3 or data.shape[2] != 3:
        raise ValueError(f"'data' in {path} must have shape [M, N, 3], got {data.shape}")
    m = data.shape[0]
    labels = arrays["label"].reshape(-1)
    if labels.shape[0] != m:
        raise ValueError(
            f"'label' in {path} must hold one label per cloud ({m}), got {labels.shape[0]}"
        )
    n = check_enough_points(num_points, data.shape[1], path)
    pos = data[:, :n]
    check_finite(pos, path)
    normals = None
    if use_normals:
        if "normal" not in arrays:
            raise ValueError(f"use_normals=True but {path} stores no 'normal' dataset")
        normals = arrays["normal"][:, :n]
        if normals.shape != pos.shape:
            raise ValueError(f"'normal' in {path} must have shape {pos.shape}, got {normals.shape}")
        check_finite(normals, path, "normals")
    part = None
    if part_key is not None:
        part = arrays[part_key]
        if part.shape[:2] != data.shape[:2]:
            raise ValueError(
                f"'{part_key}' in {path} must have shape {data.shape[:2]}, got {part.shape}"
            )
        part = part[:, :n]
    names = None
    if "name" in arrays:
        names = [s.decode() if isinstance(s, bytes) else str(s) for s in arrays["name"]]
    y = check_labels(labels, num_classes, path)
    return Clouds.from_dense(pos, y, normals=normals, part=part, names=names)


class PointCloudDataset(Dataset):
    """A :class:`~torch.utils.data.Dataset` of point clouds held in memory.

    Item ``i`` is ``Data(pos [n_i, 3] float32, y [1] int64)`` plus
    ``x [n_i, 3]`` (unit normals) when the clouds carry normals and
    ``part [n_i]`` int64 when they carry part labels. Each item holds fresh
    copies of the stored tensors, so a transform may modify it in place.
    ``transform`` (``Data -> Data``) is applied last.

    Subclasses fill in ``classes`` and call :meth:`_set_clouds`.
    """

    #: Index of the vertical axis of the stored coordinates (0 = x, 1 = y, 2 = z).
    up_axis: int = 2

    def __init__(self, transform: Callable[[Data], Data] | None = None) -> None:
        super().__init__()
        self.transform = check_transform(transform)
        self.classes: list[str] = []
        self.names: list[str] | None = None
        self.pos = torch.empty(0, 3)
        self.y = torch.empty(0, dtype=torch.long)
        self.normals: Tensor | None = None
        self.part: Tensor | None = None
        self._ptr: list[int] = [0]

    def _set_clouds(self, clouds: Clouds) -> None:
        self.pos = torch.from_numpy(np.ascontiguousarray(clouds.pos, dtype=np.float32))
        self.y = torch.from_numpy(np.ascontiguousarray(clouds.y, dtype=np.int64))
        self.normals = (
            None if clouds.normals is None else torch.from_numpy(clouds.normals.astype(np.float32))
        )
        self.part = None if clouds.part is None else torch.from_numpy(clouds.part.astype(np.int64))
        self.names = clouds.names
        self._ptr = [int(p) for p in clouds.ptr]

    @property
    def num_classes(self) -> int:
        """Number of classes ``len(classes)``; labels ``y`` lie in ``[0, num_classes)``."""
        return len(self.classes)

    @property
    def ptr(self) -> Tensor:
        """CSR pointer ``[M + 1]``: cloud ``i`` is ``pos[ptr[i]:ptr[i + 1]]``."""
        return torch.tensor(self._ptr, dtype=torch.long)

    @property
    def sizes(self) -> Tensor:
        """Number of points of each cloud, ``[M]``."""
        return self.ptr.diff()

    def class_counts(self) -> dict[str, int]:
        """Number of clouds of each class, in class order."""
        counts = torch.bincount(self.y, minlength=self.num_classes)
        return dict(zip(self.classes, counts.tolist(), strict=True))

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
        if self.normals is not None:
            data.x = self.normals[a:b].clone()
        if self.part is not None:
            data.part = self.part[a:b].clone()
        if self.transform is not None:
            data = self.transform(data)
        return data

    def _repr_extra(self) -> str:
        return ""

    def __repr__(self) -> str:
        sizes = set(self._ptr[i + 1] - self._ptr[i] for i in range(min(len(self), 1000)))
        points = str(sizes.pop()) if len(sizes) == 1 else "varying"
        return (
            f"{type(self).__name__}({len(self)} clouds, {points} points, "
            f"{self.num_classes} classes{self._repr_extra()})"
        )


class CloudSubset(Dataset):
    """The clouds ``indices`` of a point-cloud dataset, in that order.

    Item ``i`` is ``dataset[indices[i]]``. Per-cloud tensors are indexed
    (:attr:`y`, :attr:`sizes`); every other attribute (``classes``,
    ``num_classes``, ``up_axis``, part names, ...) is the dataset's own.
    """

    def __init__(self, dataset: Dataset, indices) -> None:
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
    r"""``(chosen, rest)``: indices of a class-stratified share of ``labels [M]``, and the others.

    From class ``c`` with :math:`n_c` clouds, :math:`\operatorname{round}(f\,n_c)` are
    chosen uniformly at random (at least one if ``at_least_one``, at most
    :math:`n_c`); the same ``seed`` chooses the same clouds. Both index tensors
    are sorted.
    """
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
