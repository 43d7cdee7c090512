"""ModelNet40 on fixture files of its four layouts, its errors, and on the real shared data."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from reldrop3d.data import ModelNet40, default_data_root
from reldrop3d.data import modelnet as layouts

CLASSES = ["airplane", "night_stand", "person"]


# ----------------------------------------------------------------------------- fixture writers
def write_h5(path: Path, data: np.ndarray, label: np.ndarray, **extra: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data)
        f.create_dataset("label", data=label)
        for key, value in extra.items():
            f.create_dataset(key, data=value)


def clouds(m: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (m, n, 3)).astype(np.float32)


def write_h5_layout(folder: Path, m: int = 6, n: int = 16) -> dict[str, np.ndarray]:
    """The ``modelnet40_1024`` layout: ``{train,test}.h5`` + ``shape_names.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shape_names.txt").write_text("\n".join(CLASSES) + "\n")
    out = {}
    for s, split in enumerate(("train", "test")):
        data = clouds(m, n, s)
        label = (np.arange(m) % 3).astype(np.uint8).reshape(m, 1)
        names = np.array([f"{CLASSES[c]}_{i:04d}".encode() for i, c in enumerate(label[:, 0])])
        write_h5(folder / f"{split}.h5", data, label, name=names)
        out[split] = data
    return out


def write_ply_hdf5_layout(folder: Path) -> list[np.ndarray]:
    """Two train shards and one test shard with normals, listed with PointNet's paths."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shape_names.txt").write_text("\n".join(CLASSES) + "\n")
    shards = []
    for split, count in (("train", 2), ("test", 1)):
        names = []
        for k in range(count):
            data = clouds(4, 32, 10 + k)
            normal = data / np.linalg.norm(data, axis=2, keepdims=True)
            label = np.array([[k], [2], [1], [0]], dtype=np.uint8)
            write_h5(folder / f"ply_data_{split}{k}.h5", data, label, normal=normal)
            names.append(f"data/modelnet40_ply_hdf5_2048/ply_data_{split}{k}.h5")
            if split == "train":
                shards.append(data)
        (folder / f"{split}_files.txt").write_text("\n".join(names) + "\n")
    return shards


def write_txt_layout(folder: Path, lines: int = 20) -> dict[str, np.ndarray]:
    """``modelnet40_normal_resampled``: comma-separated ``x,y,z,nx,ny,nz`` files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "modelnet40_shape_names.txt").write_text("\n".join(CLASSES) + "\n")
    tables = {}
    ids = {"train": ["airplane_0001", "night_stand_0001", "person_0001", "person_0002"]}
    ids["test"] = ["night_stand_0002", "airplane_0002"]
    rng = np.random.default_rng(3)
    for split, names in ids.items():
        (folder / f"modelnet40_{split}.txt").write_text("\n".join(names) + "\n")
        for shape_id in names:
            cls = shape_id.rsplit("_", 1)[0]
            (folder / cls).mkdir(exist_ok=True)
            table = rng.uniform(-1, 1, (lines, 6)).astype(np.float32)
            np.savetxt(folder / cls / f"{shape_id}.txt", table, fmt="%.6f", delimiter=",")
            tables[shape_id] = table
    return tables


CUBE_V = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
CUBE_QUADS = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]


def write_off(path: Path, scale: float, fused_header: bool) -> None:
    verts = "\n".join(" ".join(str(scale * c) for c in v) for v in CUBE_V)
    faces = "\n".join("4 " + " ".join(map(str, q)) for q in CUBE_QUADS)
    head = "OFF8 6 0" if fused_header else "OFF\n8 6 0"
    path.write_text(f"{head}\n{verts}\n{faces}\n")


def write_off_tree(folder: Path) -> None:
    """PyG's raw ``<class>/{train,test}/*.off`` (cubes; one with ModelNet's fused header)."""
    for c, cls in enumerate(CLASSES[:2]):
        for split, count in (("train", 2), ("test", 1)):
            (folder / cls / split).mkdir(parents=True)
            for k in range(count):
                write_off(folder / cls / split / f"{cls}_{k:04d}.off", 1 + c + k, k == 1)


# ----------------------------------------------------------------------------- layouts
def test_h5_layout_items_labels_and_first_points(tmp_path):
    stored = write_h5_layout(tmp_path / "modelnet40_1024")
    ds = ModelNet40(tmp_path / "modelnet40_1024", "train", num_points=10)
    assert (ds.layout, ds.up_axis, ds.classes, ds.num_classes) == ("h5", 2, CLASSES, 3)
    assert len(ds) == 6 and ds.names[1] == "night_stand_0001"
    item = ds[4]
    assert item.pos.shape == (10, 3) and item.pos.dtype == torch.float32
    assert item.y.tolist() == [1] and item.y.dtype == torch.long
    assert "x" not in item and "part" not in item
    assert torch.equal(item.pos, torch.from_numpy(stored["train"][4, :10]))
    assert ds[-1].y.item() == ds[5].y.item()
    assert torch.bincount(ds.y).tolist() == [2, 2, 2]


def test_parent_folder_is_searched_and_loader_batches(tmp_path):
    write_h5_layout(tmp_path / "modelnet40_1024")
    (tmp_path / "unrelated").mkdir()
    ds = ModelNet40(tmp_path, "test", num_points=None)
    assert ds.folder == tmp_path / "modelnet40_1024" and ds[0].pos.shape == (16, 3)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.num_graphs == 4 and batch.pos.shape == (64, 3) and batch.y.shape == (4,)


def test_item_is_a_copy(tmp_path):
    write_h5_layout(tmp_path)
    ds = ModelNet40(tmp_path, num_points=16)
    ds[0].pos.zero_()
    assert ds[0].pos.abs().sum() > 0


def test_ply_hdf5_shards_with_normals(tmp_path):
    shards = write_ply_hdf5_layout(tmp_path / "modelnet40_ply_hdf5_2048")
    ds = ModelNet40(tmp_path, "train", num_points=20, use_normals=True)
    assert (ds.layout, ds.up_axis, len(ds)) == ("ply_hdf5", 1, 8)
    assert ds.y.tolist() == [0, 2, 1, 0, 1, 2, 1, 0]
    item = ds[5]
    assert item.x.shape == (20, 3)
    assert torch.allclose(item.x.norm(dim=1), torch.ones(20), atol=1e-5)
    assert torch.equal(item.pos, torch.from_numpy(shards[1][1, :20]))
    assert len(ModelNet40(tmp_path, "test", num_points=32)) == 4


def test_txt_layout_reads_first_lines_with_normals_and_caches(tmp_path, monkeypatch):
    tables = write_txt_layout(tmp_path / "modelnet40_normal_resampled")
    ds = ModelNet40(tmp_path, "train", num_points=8, use_normals=True)
    assert (ds.layout, ds.up_axis, len(ds)) == ("txt", 1, 4)
    assert ds.y.tolist() == [0, 1, 2, 2]
    item = ds[1]
    np.testing.assert_allclose(item.pos.numpy(), tables["night_stand_0001"][:8, :3], atol=1e-6)
    np.testing.assert_allclose(item.x.numpy(), tables["night_stand_0001"][:8, 3:], atol=1e-6)
    caches = list((tmp_path / "modelnet40_normal_resampled" / ".reldrop3d_cache").glob("*.npz"))
    assert len(caches) == 1

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(layouts, "read_points_txt", fail)
    again = ModelNet40(tmp_path, "train", num_points=8)
    assert torch.equal(again.pos, ds.pos) and "x" not in again[0]


def test_read_only_root_caches_in_user_dir(tmp_path, monkeypatch):
    root = tmp_path / "ro"
    write_txt_layout(root)
    monkeypatch.setenv("RELDROP3D_CACHE", str(tmp_path / "cache"))
    os.chmod(root, 0o555)
    try:
        ds = ModelNet40(root, "test", num_points=5)
    finally:
        os.chmod(root, 0o755)
    assert len(ds) == 2 and not (root / ".reldrop3d_cache").exists()
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1


def test_off_tree_sampled_deterministically(tmp_path):
    write_off_tree(tmp_path / "ModelNet40" / "raw")
    ds = ModelNet40(tmp_path, "train", num_points=64, use_normals=True)
    assert (ds.layout, ds.up_axis, ds.classes, len(ds)) == ("off", 2, CLASSES[:2], 4)
    assert ds.y.tolist() == [0, 0, 1, 1]
    item = ds[3]
    assert item.pos.shape == (64, 3)
    radius = item.pos.norm(dim=1)
    assert radius.max() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(item.x.abs().sum(dim=1), torch.ones(64))  # axis-aligned cube normals
    fresh = ModelNet40(tmp_path, "train", num_points=64, layout="off")
    assert torch.equal(fresh.pos, ds.pos)
    assert not torch.equal(ds[0].pos, ds[1].pos)  # different files, different samples


# ----------------------------------------------------------------------------- errors
def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ModelNet40(tmp_path / "nowhere")


def test_empty_folder_lists_layouts(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        ModelNet40(tmp_path)
    msg = str(err.value)
    assert all(s in msg for s in ("train.h5", "train_files.txt", "modelnet40_shape_names", ".off"))
    assert "empty folder" in msg


def test_unknown_folder_lists_what_was_found(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="notes.txt"):
        ModelNet40(tmp_path)


def test_truncated_h5_names_the_file(tmp_path):
    write_h5_layout(tmp_path, m=64, n=64)
    path = tmp_path / "train.h5"
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    with pytest.raises(ValueError, match=str(path)):
        ModelNet40(tmp_path, num_points=64)


def test_nan_coordinates_name_file_and_item(tmp_path):
    write_h5_layout(tmp_path)
    data = clouds(6, 16, 0)
    data[2, 5, 1] = np.nan
    write_h5(tmp_path / "train.h5", data, np.zeros((6, 1), np.uint8))
    with pytest.raises(ValueError, match=r"train\.h5.*item 2"):
        ModelNet40(tmp_path, num_points=16)


def test_infinite_coordinates_in_txt(tmp_path):
    write_txt_layout(tmp_path)
    bad = tmp_path / "person" / "person_0002.txt"
    bad.write_text(bad.read_text().replace("\n", "\ninf,0,0,1,0,0\n", 1))
    with pytest.raises(ValueError, match="person_0002.txt"):
        ModelNet40(tmp_path, num_points=8)


def test_labels_out_of_range(tmp_path):
    write_h5_layout(tmp_path)
    write_h5(tmp_path / "test.h5", clouds(3, 16, 0), np.array([[0], [3], [1]], np.uint8))
    with pytest.raises(ValueError, match=r"test\.h5.*item 1 has label 3.*< 3"):
        ModelNet40(tmp_path, "test", num_points=16)


def test_unknown_split(tmp_path):
    write_h5_layout(tmp_path)
    with pytest.raises(ValueError, match="split must be one of.*'val'"):
        ModelNet40(tmp_path, "val")


def test_too_many_points_names_both(tmp_path):
    write_h5_layout(tmp_path)
    with pytest.raises(ValueError, match="num_points=17.*16 points"):
        ModelNet40(tmp_path, num_points=17)


def test_missing_normals(tmp_path):
    write_h5_layout(tmp_path)
    with pytest.raises(ValueError, match="use_normals=True.*normal"):
        ModelNet40(tmp_path, num_points=16, use_normals=True)


def test_missing_listed_shard(tmp_path):
    write_ply_hdf5_layout(tmp_path)
    (tmp_path / "ply_data_train1.h5").unlink()
    with pytest.raises(FileNotFoundError, match="ply_data_train1.h5"):
        ModelNet40(tmp_path, num_points=32)


def test_bad_arguments(tmp_path):
    write_h5_layout(tmp_path)
    with pytest.raises(ValueError, match="num_points"):
        ModelNet40(tmp_path, num_points=0)
    with pytest.raises(TypeError, match="transform"):
        ModelNet40(tmp_path, num_points=16, transform="rotate")
    with pytest.raises(ValueError, match="layout"):
        ModelNet40(tmp_path, num_points=16, layout="ply")


def test_import_does_not_load_open3d():
    code = "import sys, reldrop3d, reldrop3d.data; assert 'open3d' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_default_data_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("RELDROP3D_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("RELDROP3D_DATA")
    assert default_data_root().parts[-2:] == ("shared", "data")


# ----------------------------------------------------------------------------- real data
def test_real_modelnet40(modelnet40_root):
    train = ModelNet40(modelnet40_root, "train")
    test = ModelNet40(modelnet40_root.parent, "test")
    assert (len(train), len(test)) == (9843, 2468)
    assert train.num_classes == test.num_classes == 40
    assert train[0].pos.shape == (1024, 3) and train.up_axis == 2
    tr, te = (
        dict(zip(d.classes, torch.bincount(d.y).tolist(), strict=True)) for d in (train, test)
    )
    for cls, (n_train, n_test) in {
        "airplane": (626, 100),
        "bathtub": (106, 50),
        "bed": (515, 100),
        "bench": (173, 20),
    }.items():
        assert (tr[cls], te[cls]) == (n_train, n_test)
    # z is up: tall classes are longest along z, airplanes shortest
    for cls, tallest in (("bottle", True), ("person", True), ("airplane", False)):
        label = train.classes.index(cls)
        pos = train.pos.view(-1, 1024, 3)[train.y == label]
        extent = (pos.amax(1) - pos.amin(1)).mean(0)
        assert (extent.argmax() if tallest else extent.argmin()).item() == 2


def sha256(data) -> str:
    return hashlib.sha256(data.numpy().tobytes() if hasattr(data, "numpy") else data).hexdigest()


def test_real_modelnet40_outputs_are_pinned(modelnet40_root):
    """Points, labels and order on the shared data, as a running study reads them."""
    pinned = {
        "train": (
            "daa2f3a2b764eb8f902add770286df1ec11f1d4fb37190d58a923cfc62ea88d7",
            "a507a7afbf2272d7fecbbe8c2b071b7efacff022e76eae95ffd993f8d50ee461",
        ),
        "test": (
            "cd83291211ce7eeb14ae3c18da87769fbea0a011801af240ff7c7a68c3b95b1d",
            "0dac28cb8f04742cd124391b3f7ae487b8a8ada37f4723f4a4a7925b1d654b54",
        ),
    }
    for split, (pos, y) in pinned.items():
        ds = ModelNet40(modelnet40_root, split)
        assert (sha256(ds.pos), sha256(ds.y)) == (pos, y)
        assert torch.equal(ds[3].pos, ds.pos[3 * 1024 : 4 * 1024])
    test = ModelNet40(modelnet40_root, "test", num_points=512)
    assert sha256(test.pos) == "6b6a4702d4d64cbf322cd0a3a9a6a8367d3e3d6e23a2ede5d5e3ba602174a94a"
    assert sha256("\n".join(test.names).encode()) == (
        "051c5c9b27e3d97c141eebedab4ef02de885b9b1fa55bb656f8bfabff140075d"
    )
