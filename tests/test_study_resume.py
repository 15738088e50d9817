"""`study` from the command line: --list, resuming after kill -9, one-line errors."""

import csv
import json
import math
import re

import pytest
from conftest import STUDY_TINY as TINY
from conftest import run_study_cli as cli

from keras_cnn.studies import STUDIES


def test_list_names_the_ten_studies_with_their_questions_scale_and_time(tmp_path):
    done = cli("study", "--list", cwd=tmp_path)
    assert done.returncode == 0
    lines = done.stdout.splitlines()[1:]
    assert [line.split()[0] for line in lines] == list(STUDIES) and len(lines) == 10
    assert all(re.search(r"Q\d+", line) and re.search(r"x 3 seeds x \d+ epochs? on", line)
               and re.search(r"about \d+ min", line) for line in lines)


def test_a_killed_study_reruns_only_what_is_unfinished(study_folders, tmp_path):
    command = ["study", "dropout-rate", "--grid", "dropout=0,0.5", "--seeds", "1", "--data-dir",
               str(study_folders["cifar"]), "--limit", "8", "--epochs", "2", "--verbose", "0", "--no-tensorboard"]
    # One step per epoch (8 images, batch 128): step 3 is the first step of the second run.
    killed = cli(*command, cwd=tmp_path, script="tests/interrupt.py", prefix=("--kill-after-step", "3", "--"))
    assert killed.returncode == -9
    folder = tmp_path / "studies" / "dropout-rate"
    first, second = folder / "dropout-0_seed-0", folder / "dropout-0.5_seed-0"
    assert (first / "metrics.json").exists() and not (second / "metrics.json").exists()
    finished = (first / "last.keras").stat().st_mtime_ns

    done = cli(*command, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "dropout-0_seed-0: already finished" in done.stdout and "dropout-0.5_seed-0: resuming" in done.stdout
    assert (first / "last.keras").stat().st_mtime_ns == finished
    epochs = [row["epoch"] for row in csv.DictReader((second / "history.csv").open())]
    assert epochs == ["0", "1", "2"]
    assert (folder / "report.md").exists()


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "unknown study 'nosuch'"),
    (["dropout-rate", "--grid", "lr=0.1"], "this study's axes are dropout"),
    (["dropout-rate", "--grid", "dropout=high"], "the values of dropout must be float numbers"),
    (["flip", "--data-dir", "{cifar}"], "add --mnist-dir DIR"),
    (["flip", "--seeds", "0"], "--seeds must be at least 1"),
])
def test_bad_study_arguments_are_one_line_errors(study_folders, tmp_path, args, message):
    done = cli("study", *TINY, *(arg.format(cifar=study_folders["cifar"]) for arg in args), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and message in done.stderr
    assert not (tmp_path / "studies").exists() or not any((tmp_path / "studies").rglob("metrics.json"))


def test_a_diverged_run_is_reported_with_its_epoch_and_the_study_goes_on(study_folders, tmp_path):
    done = cli("study", "lr-batch", "--grid", "lr=0.1,1e30", "--grid", "batch_size=128", "--data-dir",
               str(study_folders["cifar"]), *TINY, "--epochs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "studies" / "lr-batch"
    results = json.loads((folder / "results.json").read_text())
    for run in results["points"]["lr-1e+30_batch-128"]["runs"]:  # the first epoch whose training loss is not finite
        losses = [(int(row["epoch"]), float(row["loss"] or "nan")) for row in csv.DictReader((folder / run /
                                                                                               "history.csv").open())]
        first = next(epoch for epoch, loss in losses if epoch > 0 and not math.isfinite(loss))
        assert results["runs"][run]["diverged"] == first
    assert results["finding"][0].startswith("Diverged (loss not finite): lr 1e+30 / batch 128 diverged in 2 of 2 seeds")
    assert "going on with the next run" in done.stdout and results["points"]["lr-0.1_batch-128"]["diverged"] == []
