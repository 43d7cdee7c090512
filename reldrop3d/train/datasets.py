"""Datasets of a run from the ``--data`` specification, and the order of each epoch."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset, DistributedSampler
from torch_geometric.data import Data

from reldrop3d.train.config import ConfigError, TrainConfig


class Indexed(Dataset):
    """A dataset whose items also carry their index as ``idx [1]`` (the relevance cache's key)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> Data:
        data = self.dataset[i]
        data.idx = torch.tensor([i])
        return data


def build_split(cfg: TrainConfig, split: str) -> Dataset:
    """The ``"train"`` or ``"test"`` split of ``cfg.data``: synthetic, synthetic-decoy
    (:class:`~reldrop3d.data.SyntheticShapes` with ``decoy=True``),
    ``modelnet40[:PATH]``, ``shapenet[:PATH]`` (ShapeNetPart's ``trainval`` for train).

    A path may be a layout folder or its parent; without one, real datasets
    are looked for under ``$RELDROP3D_DATA``. Only the files of ``split`` are
    read. Points are the first ``num_points`` of each stored cloud, the same
    in every epoch (augmentation acts on batches in the training step), which
    keeps cached relevance aligned with the points.
    """
    from reldrop3d.data import ModelNet40, ShapeNetPart, SyntheticShapes, default_data_root

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    kind, _, path = cfg.data.partition(":")
    if kind in ("synthetic", "synthetic-decoy"):
        if path:
            raise ConfigError(f"data {kind!r} takes no path; got {cfg.data!r}")
        spc = cfg.samples_per_class or None
        if split == "test" and spc:
            spc = max(1, spc // 4)
        kw = {"seed": 0, "use_normals": cfg.use_normals}
        if kind == "synthetic-decoy":
            kw["decoy"] = True  # "class" in train (the shortcut), "swap" in test
        return SyntheticShapes(split, cfg.num_points, spc, **kw)
    if kind == "modelnet40":
        root = Path(path) if path else default_data_root() / "modelnet40_1024"
        cls = ModelNet40
    elif kind == "shapenet":
        root = Path(path) if path else default_data_root()
        cls, split = ShapeNetPart, ("trainval" if split == "train" else "test")
    else:  # validated before
        raise ConfigError(f"unknown data {cfg.data!r}")
    if not root.exists():
        raise ConfigError(f"data path {root} does not exist")
    return cls(root, split, num_points=cfg.num_points, use_normals=cfg.use_normals)


def epoch_order(size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """The dataset indices rank ``rank`` of ``world_size`` visits in ``epoch``: a permutation
    drawn from ``(seed, epoch)``, padded by wrapping to a multiple of ``W = world_size``, of
    which rank ``r`` takes items ``r, r + W, ...`` (torch's ``DistributedSampler`` with seed
    ``seed * 1_000_003``). The same on every call, so a resumed run continues where it stopped.
    """
    sampler = DistributedSampler(range(size), world_size, rank, seed=seed * 1_000_003)
    sampler.set_epoch(epoch)
    return list(sampler)
