"""ShapeNetPart on fixture files that follow the two published layouts exactly."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from reldrop3d.data import ShapeNetPart
from reldrop3d.data import shapenet as layouts
from reldrop3d.data.shapenet import CATEGORIES, PART_RANGES, SYNSETS

# (category label, number of shapes) per h5 shard; 2048 points in the real files, 24 here
SHARDS = {
    "train0": [0, 4, 15],
    "train1": [11, 0],
    "val0": [4, 8],
    "test0": [15, 10, 3],
}
N_H5 = 24


def category_lines() -> str:
    return "\n".join(f"{c}\t{SYNSETS[c]}" for c in CATEGORIES) + "\n"


def parts_for(label: int, n: int, rng: np.random.Generator) -> np.ndarray:
    start, stop = PART_RANGES[CATEGORIES[label]]
    return rng.integers(start, stop, n)


def write_h5_layout(folder: Path, normals: bool = False) -> dict[str, tuple[np.ndarray, ...]]:
    """``shapenet_part_seg_hdf5_data``: shards with data/label/pid, list files, categories."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "all_object_categories.txt").write_text(category_lines())
    rng = np.random.default_rng(0)
    written = {}
    for name, labels in SHARDS.items():
        m = len(labels)
        data = rng.uniform(-1, 1, (m, N_H5, 3)).astype(np.float32)
        pid = np.stack([parts_for(c, N_H5, rng) for c in labels]).astype(np.uint8)
        label = np.array(labels, dtype=np.uint8).reshape(m, 1)
        with h5py.File(folder / f"ply_data_{name}.h5", "w") as f:
            f.create_dataset("data", data=data)
            f.create_dataset("label", data=label)
            f.create_dataset("pid", data=pid)
            if normals:
                f.create_dataset("normal", data=data / np.linalg.norm(data, axis=2, keepdims=True))
        written[name] = (data, label, pid)
    for split in ("train", "val", "test"):
        files = [f"ply_data_{n}.h5" for n in SHARDS if n.startswith(split)]
        (folder / f"{split}_hdf5_file_list.txt").write_text("\n".join(files) + "\n")
    return written


# (category, shape id, number of points) per split of the text layout
TXT_SHAPES = {
    "train": [("Airplane", "1a04e3eab45ca15dd86060f189eb133", 30), ("Mug", "10f6e09036350e92", 12)],
    "val": [("Table", "1a00aa6b75362cc5b324368d54a7416f", 25)],
    "test": [("Airplane", "1a6ad7a24bb89733f412783097373bdc", 40)],
}


def write_txt_layout(folder: Path) -> dict[str, np.ndarray]:
    """``shapenetcore_partanno_segmentation_benchmark_v0_normal``, parts sorted in each file."""
    (folder / "train_test_split").mkdir(parents=True)
    (folder / "synsetoffset2category.txt").write_text(category_lines())
    rng = np.random.default_rng(1)
    tables = {}
    for split, shapes in TXT_SHAPES.items():
        entries = []
        for cat, shape, n in shapes:
            synset = SYNSETS[cat]
            (folder / synset).mkdir(exist_ok=True)
            xyz = rng.uniform(-1, 1, (n, 3))
            normal = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
            part = np.sort(parts_for(CATEGORIES.index(cat), n, rng))
            table = np.column_stack([xyz, normal, part]).astype(np.float32)
            np.savetxt(folder / synset / f"{shape}.txt", table, fmt="%.6f")
            entries.append(f"shape_data/{synset}/{shape}")
            tables[shape] = table
        path = folder / "train_test_split" / f"shuffled_{split}_file_list.json"
        path.write_text(json.dumps(entries))
    return tables


# ----------------------------------------------------------------------------- hdf5
def test_h5_splits_labels_and_parts(tmp_path):
    written = write_h5_layout(tmp_path / "shapenet_part_seg_hdf5_data")
    sizes = {"train": 5, "val": 2, "test": 3, "trainval": 7}
    for split, size in sizes.items():
        ds = ShapeNetPart(tmp_path, split, num_points=16)
        assert len(ds) == size and ds.layout == "hdf5"
    ds = ShapeNetPart(tmp_path, "trainval", num_points=16)
    assert ds.y.tolist() == [0, 4, 15, 11, 0, 4, 8]
    assert (ds.num_classes, ds.num_parts, ds.up_axis) == (16, 50, 1)
    assert ds.classes == list(CATEGORIES) and len(ds.part_names) == 50
    item = ds[3]
    data, _, pid = written["train1"]
    assert torch.equal(item.pos, torch.from_numpy(data[0, :16]))
    assert torch.equal(item.part, torch.from_numpy(pid[0, :16].astype(np.int64)))
    assert item.part.dtype == torch.long and "x" not in item
    assert set(item.part.tolist()) <= set(ds.class_parts["Mug"])
    batch = next(iter(DataLoader(ds, batch_size=7)))
    assert batch.part.shape == (7 * 16,) and batch.pos.shape == (7 * 16, 3)


def test_h5_normals(tmp_path):
    write_h5_layout(tmp_path, normals=True)
    item = ShapeNetPart(tmp_path, "test", num_points=N_H5, use_normals=True)[0]
    assert torch.allclose(item.x.norm(dim=1), torch.ones(N_H5), atol=1e-5)
    write_h5_layout(tmp_path / "plain")
    with pytest.raises(ValueError, match="use_normals=True"):
        ShapeNetPart(tmp_path / "plain", "test", num_points=8, use_normals=True)


def test_h5_errors(tmp_path):
    write_h5_layout(tmp_path)
    with pytest.raises(ValueError, match="num_points=25.*24 points"):
        ShapeNetPart(tmp_path, "train", num_points=25)
    with pytest.raises(ValueError, match="split must be one of"):
        ShapeNetPart(tmp_path, "training")
    path = tmp_path / "ply_data_val0.h5"
    with h5py.File(path, "r+") as f:
        f["pid"][1, 3] = 20  # a Guitar part in a Lamp (label 8)
    with pytest.raises(ValueError, match=r"val0\.h5: item 1 \(category Lamp\) has part id 20"):
        ShapeNetPart(tmp_path, "val", num_points=8)
    with h5py.File(path, "r+") as f:
        f["label"][0, 0] = 16
    with pytest.raises(ValueError, match=r"val0\.h5.*label 16"):
        ShapeNetPart(tmp_path, "val", num_points=8)


def test_h5_truncated_and_nan(tmp_path):
    write_h5_layout(tmp_path)
    path = tmp_path / "ply_data_test0.h5"
    with h5py.File(path, "r+") as f:
        f["data"][2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"test0\.h5.*item 2"):
        ShapeNetPart(tmp_path, "test", num_points=8)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(ValueError, match=str(path)):
        ShapeNetPart(tmp_path, "test", num_points=8)


def test_wrong_category_file(tmp_path):
    write_h5_layout(tmp_path)
    (tmp_path / "all_object_categories.txt").write_text("Airplane\t02691156\n")
    with pytest.raises(ValueError, match="all_object_categories.txt.*16"):
        ShapeNetPart(tmp_path, "test", num_points=8)


# ----------------------------------------------------------------------------- txt
def test_txt_resamples_to_exact_size_with_normals(tmp_path):
    folder = tmp_path / "shapenetcore_partanno_segmentation_benchmark_v0_normal"
    tables = write_txt_layout(folder)
    ds = ShapeNetPart(tmp_path, "trainval", num_points=20, use_normals=True)
    assert ds.layout == "txt" and len(ds) == 3
    assert ds.y.tolist() == [0, 11, 15]
    assert ds.names[1] == f"{SYNSETS['Mug']}/10f6e09036350e92"
    for i, (_, shape, _) in enumerate(TXT_SHAPES["train"] + TXT_SHAPES["val"]):
        item = ds[i]
        assert item.pos.shape == (20, 3) and item.x.shape == (20, 3) and item.part.shape == (20,)
        stored = torch.from_numpy(tables[shape])
        rows = torch.cat([item.pos, item.x, item.part[:, None].float()], dim=1)
        # every returned point is a stored row, with its own normal and part
        match = (rows[:, None, :] - stored[None]).abs().amax(-1) < 1e-5
        assert match.any(dim=1).all()
        assert set(item.part.tolist()) <= set(ds.class_parts[ds.classes[item.y.item()]])
    # the 30-point airplane: 20 distinct rows; the 12-point mug: all 12 rows, padded
    assert torch.unique(ds[0].pos, dim=0).shape[0] == 20
    assert torch.unique(ds[1].pos, dim=0).shape[0] == 12
    # a permutation, not the first (part-sorted) rows
    assert set(ds[0].part.tolist()) == set(tables[TXT_SHAPES["train"][0][1]][:, 6].astype(int))


def test_txt_deterministic_cached_and_whole(tmp_path, monkeypatch):
    write_txt_layout(tmp_path)
    first = ShapeNetPart(tmp_path, "train", num_points=16)

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(layouts, "read_points_txt", fail)
    again = ShapeNetPart(tmp_path, "train", num_points=16)
    assert torch.equal(first.pos, again.pos) and torch.equal(first.part, again.part)
    monkeypatch.undo()
    whole = ShapeNetPart(tmp_path, "test", num_points=None)
    assert whole[0].pos.shape == (40, 3)


def test_txt_errors(tmp_path):
    tables = write_txt_layout(tmp_path)
    shape = TXT_SHAPES["test"][0][1]
    path = tmp_path / SYNSETS["Airplane"] / f"{shape}.txt"
    bad = tables[shape].copy()
    bad[5, 6] = 7  # a Car part in an Airplane
    np.savetxt(path, bad, fmt="%.6f")
    with pytest.raises(ValueError, match=f"{shape}.txt.*part id 7"):
        ShapeNetPart(tmp_path, "test", num_points=8)
    bad[5, 6], bad[3, 1] = 1, np.nan
    np.savetxt(path, bad, fmt="%.6f")
    with pytest.raises(ValueError, match=f"non-finite.*{shape}.txt"):
        ShapeNetPart(tmp_path, "test", num_points=8)
    (tmp_path / "train_test_split" / "shuffled_val_file_list.json").unlink()
    with pytest.raises(FileNotFoundError, match="shuffled_val_file_list.json"):
        ShapeNetPart(tmp_path, "val", num_points=8)


def test_no_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="all_object_categories.txt.*synsetoffset2category"):
        ShapeNetPart(tmp_path)
