"""Two CPU processes with DistributedDataParallel (gloo) under torchrun."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reldrop3d.data import SyntheticShapes

WORKER = str(Path(__file__).with_name("ddp_worker.py"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = (
        str(Path(__file__).resolve().parents[1]) + os.pathsep + e.get("PYTHONPATH", "")
    )
    e["OMP_NUM_THREADS"] = "1"
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        e.pop(key, None)
    return e


def one_process_equivalent(root, epochs=2, batch_size=8, world=2) -> list[torch.Tensor]:
    """The same training in one process: each global batch split by rank parity, per-half
    losses (so batch norms see the same clouds as each rank), gradients averaged as DDP does."""
    from torch_geometric.data import Batch

    from reldrop3d import models
    from reldrop3d.train.datasets import epoch_order

    train = SyntheticShapes("train", num_points=96, samples_per_class=8, root=root)
    torch.manual_seed(0)
    model = models.build("pointnet", train.num_classes, dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    for epoch in range(epochs):
        order = epoch_order(len(train), 0, epoch)
        shards = [order[r::world] for r in range(world)]
        for j in range(len(shards[0]) // batch_size):
            opt.zero_grad()
            for shard in shards:
                part = Batch.from_data_list(
                    [train[i] for i in shard[j * batch_size : (j + 1) * batch_size]]
                )
                loss = torch.nn.functional.cross_entropy(model(part), part.y) / world
                loss.backward()
            opt.step()
    return [p.detach() for p in model.parameters()]


@pytest.mark.parametrize("augment", ["none", "reldrop"])
def test_two_ranks_stay_identical_and_match_one_process(tmp_path, augment):
    root = tmp_path / "data"
    SyntheticShapes("train", num_points=96, samples_per_class=8, root=root)  # build once
    SyntheticShapes("test", num_points=96, samples_per_class=2, root=root)
    ddp = tmp_path / "ddp"
    ddp.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        WORKER,
        str(root),
        str(ddp),
        "8",
        augment,
    ]
    run = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]

    r0 = torch.load(ddp / "params_rank0.pt")
    r1 = torch.load(ddp / "params_rank1.pt")
    assert all(torch.equal(a, b) for a, b in zip(r0["end"], r1["end"])), "ranks diverged"
    # checkpoints and metrics come from rank 0 only, with metrics reduced over both ranks
    lines = [json.loads(x) for x in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert not list(ddp.glob("*.tmp"))
    if augment == "none":
        # gradients averaged over the ranks: the same weights as one process that splits
        # every global batch the same way (a plain batch of 16 would normalise differently)
        # (compared as updates: Adam turns float noise in near-zero gradients into full-size
        # steps, so another thread count alone moves the weights by about 6%)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as each rank (OMP_NUM_THREADS=1): same summation order
        try:
            ref = one_process_equivalent(root)
        finally:
            torch.set_num_threads(threads)
        d_ddp = torch.cat([(e - s).flatten() for s, e in zip(r0["start"], r0["end"])])
        d_ref = torch.cat([(e - s).flatten() for s, e in zip(r0["start"], ref)])
        rel = float((d_ddp - d_ref).norm() / d_ref.norm())
        assert rel < 1e-3, rel
