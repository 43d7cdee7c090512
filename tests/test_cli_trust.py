"""Files that cannot hurt their users, runs that stay where --out says, and one-line errors."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from reldrop3d.cli import main
from reldrop3d.evaluate import CORRUPTIONS
from tests._clouds import TINY_RUN

TINY = [*TINY_RUN, "--epochs", "1"]
ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys, code: int, *needles: str, after_progress: bool = False) -> str:
    """Assert ``code`` is 2 and stderr is one ``reldrop3d: error:`` line holding ``needles``
    (with ``after_progress``, the line that follows training's progress bars)."""
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err
    if after_progress:
        err = err.splitlines()[-1]
    assert err.startswith("reldrop3d: error:") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def run_a(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "a"
    argv = ["train", *TINY, "--augment", "none", "--val-fraction", "0.2", "--out", str(out)]
    assert main(argv) == 0
    return out


class Payload:
    """Pickles to ``os.system("touch MARKER")``: what a hostile checkpoint would hold."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def hostile(tmp_path, run_a) -> tuple[Path, Path]:
    """A checkpoint with a valid layout whose config runs a command when unpickled."""
    marker = tmp_path / "PWNED"
    state = torch.load(run_a / "last.pt", weights_only=True)
    state["config"]["model_kwargs"] = Payload(marker)
    path = tmp_path / "hostile.pt"
    torch.save(state, path)
    return path, marker


# ----------------------------------------------------------------------------- 1. safe loading


def test_checkpoints_hold_plain_data_only(run_a):
    # weights_only=True reads every file a run writes
    for name in ("last.pt", "best.pt"):
        state = torch.load(run_a / name, weights_only=True)
        assert {"model", "config", "num_classes", "rng"} <= set(state)


def test_hostile_checkpoint_runs_nothing_under_eval_explain_and_resume(hostile, tmp_path, capsys):
    path, marker = hostile
    eval_out = tmp_path / "eval_out"
    code = main(["eval", "--checkpoint", str(path), "--out", str(eval_out)])
    one_line_error(capsys, code, str(path), "could run code")
    code = main(["explain", "--checkpoint", str(path), "--out", str(tmp_path / "cloud")])
    one_line_error(capsys, code, str(path), "could run code")
    resume = tmp_path / "resume"
    resume.mkdir()
    shutil.copy(path, resume / "last.pt")
    before = snapshot(resume)
    code = main(["train", "--out", str(resume), "--resume", "--epochs", "2"])
    one_line_error(capsys, code, "last.pt", "could run code")
    assert not marker.exists()
    assert not eval_out.exists() and not (tmp_path / "cloud.png").exists()
    assert snapshot(resume) == before  # nothing written


def test_saving_refuses_what_could_not_be_loaded_safely(tmp_path):
    from reldrop3d.train.checkpoint import save_checkpoint

    with pytest.raises(TypeError, match=r"state\['extra'\] is a numpy.ndarray"):
        save_checkpoint({"model": {}, "extra": np.zeros(3)}, tmp_path / "x.pt")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- 2. --out wins


def test_resume_of_a_copied_run_writes_only_into_the_copy(run_a, tmp_path, capsys, monkeypatch):
    copy = tmp_path / "b"
    shutil.copytree(run_a, copy)
    original = snapshot(run_a)
    assert main(["train", "--out", str(copy), "--resume", "--epochs", "2"]) == 0
    assert snapshot(run_a) == original
    epochs = [json.loads(x)["epoch"] for x in (copy / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    assert f"files in {copy}" in capsys.readouterr().out
    # from another working directory, with a relative path
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", "b", "--resume", "--epochs", "3"]) == 0
    assert len((copy / "metrics.jsonl").read_text().splitlines()) == 3
    assert snapshot(run_a) == original


# ----------------------------------------------------------------------------- 3. no overwrite


def test_a_new_run_never_overwrites_an_old_one(run_a, tmp_path, capsys):
    copy = tmp_path / "a"
    shutil.copytree(run_a, copy)
    before = snapshot(copy)
    code = main(["train", *TINY, "--out", str(copy)])
    one_line_error(capsys, code, str(copy), "--resume", "--overwrite")
    assert snapshot(copy) == before
    assert main(["train", *TINY, "--out", str(copy), "--overwrite", "--seed", "3"]) == 0
    assert torch.load(copy / "last.pt", weights_only=True)["config"]["seed"] == 3
    assert len((copy / "metrics.jsonl").read_text().splitlines()) == 1


# ----------------------------------------------------------------------------- 4. conflicts


@pytest.mark.parametrize(
    "flag,value,saved",
    [("--model", "dgcnn", "'pointnet'"), ("--num-points", "64", "96"), ("--alpha", "0.9", "0.5")],
)
def test_resume_refuses_flags_that_differ_from_the_run(run_a, tmp_path, capsys, flag, value, saved):
    copy = tmp_path / "a"
    shutil.copytree(run_a, copy)
    before = snapshot(copy)
    code = main(["train", "--out", str(copy), "--resume", "--epochs", "2", flag, value])
    one_line_error(capsys, code, flag, saved, value, "--epochs")
    assert snapshot(copy) == before


def test_resume_accepts_the_same_values_and_lists_what_may_change(run_a, tmp_path, capsys):
    copy = tmp_path / "a"
    shutil.copytree(run_a, copy)
    argv = ["train", "--out", str(copy), "--resume", "--epochs", "2", "--num-points", "96"]
    assert main(argv) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps lines at hyphens
    flags = "--epochs,--device,--eval-batch-size,--relevance-max-clouds,--test-every,--out"
    assert flags in help_text


# ----------------------------------------------------------------------------- 6. one line


def write_h5(folder: Path, data: np.ndarray, label: np.ndarray, splits=("train", "test")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        with h5py.File(folder / f"{split}.h5", "w") as f:
            f["data"] = data
            f["label"] = label
    (folder / "shape_names.txt").write_text("a\nb\nc\n")
    return folder


@pytest.fixture(scope="module")
def h5_sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("h5")
    rng = np.random.default_rng(0)
    good = rng.normal(size=(12, 64, 3)).astype(np.float32)
    label = (np.arange(12) % 3).reshape(-1, 1).astype(np.uint8)
    sets = {"good": write_h5(root / "good", good, label)}
    nan = good.copy()
    nan[3, 5, 1] = np.nan
    sets["nan"] = write_h5(root / "nan", nan, label)
    bad = label.copy()
    bad[2] = 7
    sets["label"] = write_h5(root / "label", good, bad)
    sets["truncated"] = write_h5(root / "truncated", good, label)
    data = (sets["truncated"] / "train.h5").read_bytes()
    (sets["truncated"] / "train.h5").write_bytes(data[: len(data) // 2])
    sets["corrupt"] = write_h5(root / "corrupt", good, label)
    (sets["corrupt"] / "train.h5").write_bytes(b"not an HDF5 file" * 20)
    sets["test_only"] = write_h5(root / "test_only", good, label, splits=("test",))
    return sets


H5_FLAGS = ["--epochs", "1", "--batch-size", "4", "--eval-batch-size", "4", "--min-points", "8"]


@pytest.mark.parametrize(
    "name,needle",
    [
        ("nan", "non-finite"),
        ("label", "label out of range"),
        ("truncated", "corrupt or truncated"),
        ("corrupt", "corrupt or truncated"),
    ],
)
def test_bad_data_files_are_one_line(h5_sets, tmp_path, capsys, name, needle):
    data = f"modelnet40:{h5_sets[name]}"
    argv = ["train", "--data", data, "--num-points", "64", *H5_FLAGS, "--out", str(tmp_path / "r")]
    one_line_error(capsys, main(argv), needle, "train.h5")


def test_more_points_than_stored_is_one_line(h5_sets, tmp_path, capsys):
    data = f"modelnet40:{h5_sets['good']}"
    argv = ["train", "--data", data, "--num-points", "128", *H5_FLAGS, "--out", str(tmp_path)]
    one_line_error(capsys, main(argv), "num_points=128", "64 points")


def test_an_out_that_is_a_file_is_one_line_for_every_command(run_a, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    ckpt = str(run_a / "last.pt")
    for argv in (
        ["train", *TINY, "--out", str(afile)],
        ["eval", "--checkpoint", ckpt, "--out", str(afile)],
        ["compare", str(run_a), str(run_a), "--out", str(afile)],
        ["explain", "--checkpoint", ckpt, "--out", str(afile / "cloud")],
        ["demo", "--out", str(afile)],
    ):
        one_line_error(capsys, main(argv), str(afile), "is a file")
    assert afile.read_text() == "not a folder"


def test_a_full_disk_names_the_file_keeps_the_old_one_and_the_metrics_honest(
    run_a, tmp_path, capsys, monkeypatch
):
    copy = tmp_path / "a"
    shutil.copytree(run_a, copy)
    before = (copy / "last.pt").read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    code = main(["train", "--out", str(copy), "--resume", "--epochs", "2"])
    one_line_error(
        capsys,
        code,
        str(copy / "last.pt"),
        "No space left",
        "previous one is intact",
        after_progress=True,
    )
    assert (copy / "last.pt").read_bytes() == before
    epochs = [json.loads(x)["epoch"] for x in (copy / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1]  # epoch 2 was not saved, so it is not listed
    assert not [p for p in copy.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("command", ["train", "eval", "explain", "bench", "demo"])
def test_an_unknown_device_is_one_line(run_a, tmp_path, capsys, command):
    extra = {
        "train": ["--out", str(tmp_path)],
        "eval": ["--checkpoint", str(run_a / "last.pt")],
        "explain": ["--checkpoint", str(run_a / "last.pt"), "--out", str(tmp_path / "c")],
        "bench": [],
        "demo": ["--out", str(tmp_path)],
    }[command]
    with pytest.raises(SystemExit) as exit_:
        main([command, *extra, "--device", "tpu"])
    one_line_error(capsys, exit_.value.code, "--device", "'tpu'")


def test_a_missing_gpu_is_one_line(run_a, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["eval", "--checkpoint", str(run_a / "last.pt"), "--device", "cuda"])
    one_line_error(capsys, code, "--device cuda", "0 CUDA device")


def test_a_checkpoint_missing_keys_is_one_line(run_a, tmp_path, capsys):
    state = torch.load(run_a / "last.pt", weights_only=True)
    del state["num_classes"]
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    one_line_error(capsys, main(["eval", "--checkpoint", str(path)]), str(path), "num_classes")


def test_a_negative_limit_is_refused(run_a, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--checkpoint", str(run_a / "last.pt"), "--limit", "-3"])
    one_line_error(capsys, exit_.value.code, "--limit", "-3")


def test_float64_points_name_the_argument():
    from reldrop3d.models import build
    from reldrop3d.relevance import point_relevance

    model = build("pointnet", 3)
    cloud = Data(pos=torch.randn(40, 3, dtype=torch.float64), y=torch.tensor([1]))
    batch = Batch.from_data_list([cloud])
    with pytest.raises(TypeError, match=r"data.pos must have the model's dtype torch.float32"):
        model(batch)
    with pytest.raises(TypeError, match=r"data.pos .*float64"):
        point_relevance(model, batch)


def test_labels_outside_the_model_name_y_or_target():
    from reldrop3d.models import build
    from reldrop3d.relevance import point_relevance

    model = build("pointnet", 3)
    batch = Batch.from_data_list([Data(pos=torch.randn(40, 3), y=torch.tensor([7]))] * 2)
    with pytest.raises(ValueError, match=r"batch.y .* \[0, 3\) .* from 7 to 7"):
        point_relevance(model, batch)
    with pytest.raises(ValueError, match=r"^target must hold class indices in \[0, 3\)"):
        point_relevance(model, batch, target=torch.tensor([1, 5]))


def test_corruptions_of_empty_clouds_return_them_unchanged():
    from reldrop3d.evaluate import SUITES, corrupt

    for name in SUITES["all"]:
        out = corrupt(torch.zeros(0, 3), name, 2, torch.Generator().manual_seed(0))
        points = out[0] if isinstance(out, tuple) else out
        assert points.numel() == 0, name


# ----------------------------------------------------------------------------- 7. start-up


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from reldrop3d.cli import main\n"
        "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'torch_geometric' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_package_reaches_every_subpackage_lazily():
    code = (
        "import sys\nimport reldrop3d as rd\nprint('torch' in sys.modules)\n"
        "print(rd.train.Trainer.__name__, rd.evaluate.__name__, rd.RelDrop.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.split() == ["False", "Trainer", "reldrop3d.evaluate", "RelDrop"]


def test_missing_torch_scatter_says_what_to_install():
    code = "import sys\nsys.modules['torch_scatter'] = None\nimport reldrop3d.models\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode != 0
    assert "pip install --no-build-isolation torch-scatter" in out.stderr


def test_the_wheel_depends_on_open3d_and_not_on_torch_scatter(tmp_path):
    # built from a copy: setuptools leaves a build/ folder in the source it builds
    source = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "reldrop3d", source / "reldrop3d", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "-w", str(tmp_path), str(source)], check=True, capture_output=True)
    import zipfile

    (wheel,) = tmp_path.glob("reldrop3d-*.whl")
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith("METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in z.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
        names = z.namelist()
    assert any(r.startswith("open3d") for r in requires)
    assert not any(r.startswith("torch-scatter") or r.startswith("torch_scatter") for r in requires)
    assert {"reldrop3d/cli/__init__.py", "reldrop3d/data/__init__.py"} <= set(names)
    assert not any(n.startswith("tests/") for n in names)


def test_training_curves_have_whole_epoch_ticks(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from reldrop3d.train.plots import plot_curves

    seen = []
    original = Figure.savefig

    def record(fig, *args, **kwargs):
        seen.extend(tick for ax in fig.axes for tick in ax.get_xticks())
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    row = {"train_loss": 1.0, "test_loss": 1.0, "train_acc": 0.5, "test_oa": 0.5, "test_macc": 0.5}
    plot_curves([{"epoch": e, **row} for e in (1, 2, 3)], tmp_path / "c.png")
    assert seen and all(float(t).is_integer() for t in seen)


# ----------------------------------------------------------------------------- 8. test-only data


def test_eval_reads_only_the_test_split(run_on_h5, h5_sets, tmp_path, capsys):
    out = tmp_path / "ev"
    argv = ["eval", "--checkpoint", str(run_on_h5), "--data", f"modelnet40:{h5_sets['test_only']}"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads((out / "eval.json").read_text())["clean"]["num_samples"] == 12


@pytest.fixture(scope="module")
def run_on_h5(h5_sets, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("h5run") / "r"
    data = f"modelnet40:{h5_sets['good']}"
    assert main(["train", "--data", data, "--num-points", "64", *H5_FLAGS, "--out", str(out)]) == 0
    return out / "last.pt"


def write_modelnet_c(folder: Path, labels: np.ndarray) -> Path:
    """The official ModelNet-C layout: clean.h5 and <corruption>_<level>.h5, data + label."""
    rng = np.random.default_rng(1)
    folder.mkdir()
    sizes = {"scale": 64, "jitter": 64, "rotate": 64, "dropout_global": 40}
    sizes.update({"dropout_local": 50, "add_global": 70, "add_local": 80})
    names = ["clean"] + [f"{c}_{level}" for c in sizes for level in range(5)]
    for name in names:
        n = sizes.get(name.rsplit("_", 1)[0], 64)
        with h5py.File(folder / f"{name}.h5", "w") as f:
            f["data"] = rng.normal(size=(len(labels), n, 3)).astype(np.float32)
            f["label"] = labels.reshape(-1, 1).astype(np.uint8)
    return folder


def test_eval_on_the_official_modelnet_c_files(run_on_h5, h5_sets, tmp_path, capsys):
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])  # class c has no cloud
    files = write_modelnet_c(tmp_path / "modelnet_c", labels)
    write_h5(tmp_path / "t", np.zeros((12, 64, 3), np.float32), labels, splits=("test",))
    out = tmp_path / "ev"
    argv = ["eval", "--checkpoint", str(run_on_h5), "--data", f"modelnet40:{tmp_path / 't'}"]
    assert main([*argv, "--corruptions", f"modelnet-c:{files}", "--out", str(out)]) == 0
    result = json.loads((out / "eval.json").read_text())["corruptions"]
    assert result["files"] == str(files)
    assert set(result["corruptions"]) == set(CORRUPTIONS)  # the seven ModelNet-C names
    assert all(len(c["oa"]) == 5 for c in result["corruptions"].values())
    printed = capsys.readouterr().out
    rows = [ln for ln in printed.splitlines() if ln.startswith("| ") and " / " in ln][1:]
    assert [r.split("|")[1].strip() for r in rows] == ["a", "b"]  # c (no clouds) left out
