"""The command line: train, resume, eval, compare, explain, demo, and its error messages."""

from __future__ import annotations

import json

import pytest

from reldrop3d.cli import main
from tests._clouds import TINY_RUN as TINY


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert (
        main(["train", *TINY, "--epochs", "1", "--augment", "none", "--out", str(root / "a")]) == 0
    )
    assert main(["train", *TINY, "--epochs", "1", "--out", str(root / "b")]) == 0
    return root


def test_train_writes_a_run_and_resumes_to_more_epochs(runs, capsys):
    assert (runs / "b" / "last.pt").is_file()
    assert main(["train", "--out", str(runs / "b"), "--resume", "--epochs", "2"]) == 0
    lines = (runs / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]
    assert "done: 2 epochs" in capsys.readouterr().out


def test_config_file_and_flags(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'model = "pointnet"\nepochs = 1\naugment = "random"\nfill = "first"\n'
        "samples-per-class = 6\nnum-points = 96\nbatch-size = 12\nmin-points = 16\n"
    )
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--augment", "none", "--out", str(out)]) == 0
    written = (out / "config.toml").read_text()
    assert 'augment = "none"' in written and "epochs = 1" in written  # flag beats file


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--model", "resnet"], "model must be one of"),
        (["train", "--data", "modelnet40:/no/such/dir"], "data path /no/such/dir does not exist"),
        (["train", "--config", "/no/such.toml"], "config file /no/such.toml does not exist"),
        (
            ["train", "--out", "/no/such/run", "--resume"],
            "--resume: checkpoint /no/such/run/last.pt",
        ),
        (["eval", "--checkpoint", "/no/such.pt"], "checkpoint /no/such.pt does not exist"),
        (["compare", "/no/a", "/no/b"], "/no/a: no per_class.json"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_checkpoint_of_another_class_count_is_refused(runs, tmp_path, capsys):
    code = main(
        [
            "eval",
            "--checkpoint",
            str(runs / "a" / "last.pt"),
            "--data",
            "modelnet40:" + str(tmp_path),
        ]
    )
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_eval_reports_clean_corruptions_deletion_and_attribution(runs, capsys):
    out = runs / "b_eval"
    code = main(
        [
            "eval",
            "--checkpoint",
            str(runs / "b" / "last.pt"),
            "--corruptions",
            "jitter,drop_global",
            "--deletion",
            "--attribution",
            "--limit",
            "8",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads((out / "eval.json").read_text())
    assert {"clean", "corruptions", "robustness", "deletion", "attribution"} <= set(result)
    assert result["clean"]["num_samples"] == 8
    assert set(result["corruptions"]["corruptions"]) == {"jitter", "drop_global"}
    assert (out / "corruptions.png").is_file() and (out / "deletion.png").is_file()
    printed = capsys.readouterr().out
    assert "mCE" in printed and "AUC accuracy" in printed and "| class |" in printed
    # a run evaluated against itself as the reference has mCE 1
    code = main(
        [
            "eval",
            "--checkpoint",
            str(runs / "b" / "last.pt"),
            "--corruptions",
            "jitter,drop_global",
            "--limit",
            "8",
            "--reference",
            str(out),
            "--out",
            str(runs / "b_eval2"),
        ]
    )
    assert code == 0
    again = json.loads((runs / "b_eval2" / "eval.json").read_text())
    assert again["robustness"]["mce"] == pytest.approx(1.0)


def test_compare_names_losing_classes_and_puts_evaluations_side_by_side(runs, tmp_path, capsys):
    for run in ("a", "b"):
        argv = [
            "eval",
            "--checkpoint",
            str(runs / run / "last.pt"),
            "--corruptions",
            "jitter",
            "--deletion",
            "--attribution",
            "--limit",
            "8",
        ]
        assert main(argv) == 0
    out = tmp_path / "cmp"
    argv = ["compare", str(runs / "a"), str(runs / "b"), "--threshold", "0.0", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "classes losing more than 0.000" in printed
    assert "mCE" in printed and "AUC accuracy" in printed and "entropy" in printed
    for name in ("per_class.png", "corruptions.png", "deletion.png", "compare.md"):
        assert (out / name).is_file(), name


def test_explain_writes_ply_and_png(runs, tmp_path):
    stem = tmp_path / "cloud"
    assert (
        main(
            [
                "explain",
                "--checkpoint",
                str(runs / "b" / "last.pt"),
                "--index",
                "3",
                "--out",
                str(stem),
            ]
        )
        == 0
    )
    ply = (tmp_path / "cloud.ply").read_bytes()
    assert ply.startswith(b"ply") and b"red" in ply[:400]
    assert (tmp_path / "cloud.png").stat().st_size > 1000


def test_demo_writes_its_report(tmp_path):
    from reldrop3d.cli.demo import run_demo

    result = run_demo(
        tmp_path / "demo", epochs=1, num_points=96, samples_per_class=6, progress=False
    )
    assert [r["arm"] for r in result["rows"]] == ["none", "reldrop"]
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "| RelDrop" in report and "MoRF AUC" in report
    for name in ("deletion.png", "relevance.png", "relevance.ply", "curves_reldrop.png"):
        assert (tmp_path / "demo" / name).is_file(), name
    # a second call reuses the finished runs
    again = run_demo(
        tmp_path / "demo", epochs=1, num_points=96, samples_per_class=6, progress=False
    )
    assert all(r["reused"] for r in again["rows"])


def test_bench_prints_the_cost_of_a_reldrop_step(capsys):
    assert main(["bench", "--batch-size", "4", "--num-points", "64", "--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    assert "LRP relevance" in printed and "full RelDrop step" in printed
    with pytest.raises(SystemExit):
        main(["bench", "--model", "resnet"])
