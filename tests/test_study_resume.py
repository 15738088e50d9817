"""`study` from the command line: --list, resuming after kill -9, one-line errors; the findings' wording."""

import csv
import re

import pytest
from conftest import STUDY_TINY as TINY
from conftest import run_study_cli as cli

from keras_cnn.study import STUDIES, Results, dropout_rate_finding, flip_finding, lr_batch_finding


def test_list_names_the_eight_studies_with_their_questions_and_time(tmp_path):
    done = cli("study", "--list", cwd=tmp_path)
    assert done.returncode == 0
    lines = done.stdout.splitlines()[1:]
    assert [line.split()[0] for line in lines] == list(STUDIES) and len(lines) == 8
    assert all(re.search(r"Q\d+", line) and re.search(r"about \d+ min", line) for line in lines)


def test_a_killed_study_reruns_only_what_is_unfinished(study_folders, tmp_path):
    command = ["study", "dropout-rate", "--grid", "dropout=0,0.5", "--data-dir", str(study_folders["cifar"]),
               "--limit", "8", "--epochs", "2", "--verbose", "0", "--no-tensorboard"]
    # One step per epoch (8 images, batch 128): step 3 is the first step of the second run.
    killed = cli(*command, cwd=tmp_path, script="tests/interrupt.py", prefix=("--kill-after-step", "3", "--"))
    assert killed.returncode == -9
    folder = tmp_path / "studies" / "dropout-rate"
    assert (folder / "dropout-0" / "metrics.json").exists() and not (folder / "dropout-0.5" / "metrics.json").exists()
    finished = (folder / "dropout-0" / "last.keras").stat().st_mtime_ns

    done = cli(*command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "dropout-0: finished before, skipped" in done.stdout and "dropout-0.5: resuming" in done.stdout
    assert (folder / "dropout-0" / "last.keras").stat().st_mtime_ns == finished
    epochs = [row["epoch"] for row in csv.DictReader((folder / "dropout-0.5" / "history.csv").open())]
    assert epochs == ["0", "1", "2"]
    assert (folder / "report.md").exists()


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "unknown study 'nosuch'"),
    (["dropout-rate", "--grid", "lr=0.1"], "this study's axes are dropout"),
    (["dropout-rate", "--grid", "dropout=high"], "the values of dropout must be float numbers"),
    (["flip", "--data-dir", "{cifar}"], "add --mnist-dir DIR"),
])
def test_bad_study_arguments_are_one_line_errors(study_folders, tmp_path, args, message):
    done = cli("study", *(arg.format(cifar=study_folders["cifar"]) for arg in args), *TINY, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and message in done.stderr
    assert not (tmp_path / "studies").exists() or not any((tmp_path / "studies").rglob("metrics.json"))


def run(point: dict, **metrics) -> dict:
    return {"point": point, "settings": dict(point), "metrics": metrics, "diverged": None}


def test_findings_say_what_the_numbers_say():
    rates = Results({f"dropout-{p}": run({"dropout": p}, final_test_accuracy=a, train_test_gap=g)
                     for p, a, g in ((0.0, 0.60, 0.30), (0.5, 0.66, 0.10), (0.9, 0.55, -0.02))}, {})
    assert dropout_rate_finding(rates) == [
        "Final test accuracy is highest at p = 0.5 (66.0%): p = 0 60.0%, p = 0.5 66.0%, p = 0.9 55.0%.",
        "The train-test gap is +30.0 pp at p = 0 and -2.0 pp at p = 0.9.",
    ]
    flips = Results({f"{v}-{a}": run({"variant": v, "augment": a}, final_test_accuracy=x, train_test_gap=g)
                     for v, a, x, g in (("lenet5", "none", 0.98, 0.01), ("lenet5", "flip", 0.95, 0.005),
                                        ("lenet5", "vflip", 0.93, 0.0), ("norm", "none", 0.70, 0.2),
                                        ("norm", "flip", 0.73, 0.1), ("norm", "vflip", 0.66, 0.15))}, {})
    assert flip_finding(flips) == [
        "MNIST (lenet5): 98.0% without flips (train-test gap +1.0 pp); horizontal flips 95.0% (-3.0 pp, gap +0.5 pp), "
        "vertical flips 93.0% (-5.0 pp, gap +0.0 pp).",
        "CIFAR-10 (norm): 70.0% without flips (train-test gap +20.0 pp); horizontal flips 73.0% (+3.0 pp, gap +10.0 pp), "
        "vertical flips 66.0% (-4.0 pp, gap +15.0 pp).",
    ]
    grid = {f"{lr}-{b}": run({"lr": lr, "batch_size": b}, final_test_accuracy=a)
            for lr, b, a in ((0.01, 128, 0.5), (0.1, 128, 0.6), (0.01, 512, 0.4), (0.1, 512, 0.55))}
    grid["scaled-lr-0.4_batch-512"] = run({"lr": 0.4, "batch_size": 512}, final_test_accuracy=0.1)
    grid["scaled-lr-0.4_batch-512"]["diverged"] = 2
    assert lr_batch_finding(Results(grid, {})) == [
        "At batch 128: lr 0.01 50.0%, lr 0.1 60.0%.",
        "At lr 0.1: batch 128 60.0%, batch 512 55.0%.",
        "Highest in the grid: 60.0% (lr 0.1, batch_size 128).",
        "Batch 512 with lr scaled to 0.4 (0.1 x 512/128): diverged (epoch 2), against 55.0% at lr 0.1.",
    ]
