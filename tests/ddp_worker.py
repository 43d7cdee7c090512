"""Run by tests/test_train_ddp.py under torchrun (2 ranks): trains briefly, saves weights."""

from __future__ import annotations

import os
import sys

import torch

from reldrop3d.data import SyntheticShapes
from reldrop3d.train import TrainConfig, Trainer


def main(root: str, out: str, batch_size: int, augment: str) -> None:
    train = SyntheticShapes("train", num_points=96, samples_per_class=8, root=root)
    test = SyntheticShapes("test", num_points=96, samples_per_class=2, root=root)
    cfg = TrainConfig(
        model="pointnet",
        epochs=2,
        batch_size=batch_size,
        num_points=96,
        min_points=16,
        augment=augment,
        scale=[1.0, 1.0],
        shift=0.0,
        model_kwargs={"dropout": 0.0},
        out=out,
        eval_batch_size=40,
    )
    trainer = Trainer(cfg, train, test, progress=False)
    start = [p.detach().clone() for p in trainer.core.parameters()]
    trainer.fit()
    rank = int(os.environ.get("RANK", "0"))
    end = [p.detach().clone() for p in trainer.core.parameters()]
    torch.save({"start": start, "end": end}, f"{out}/params_rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
