"""`study`: the lab's questions as grids of ordinary runs, run as a user runs them (fresh processes)."""

import json
from pathlib import Path

import pytest
from conftest import STUDY_TINY as TINY
from conftest import check_study_report
from conftest import run_study_cli as cli

from keras_cnn.formatting import percent
from keras_cnn.study import STUDIES


@pytest.fixture(scope="module")
def all_studies(study_folders, tmp_path_factory) -> Path:
    """`study all` at a tiny scale, once, in a fresh process."""
    work = tmp_path_factory.mktemp("studies")
    done = cli("study", "all", "--data-dir", str(study_folders["cifar"]), "--mnist-dir", str(study_folders["mnist"]), *TINY,
               cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    return work / "studies"


def test_every_study_writes_a_report_whose_numbers_are_its_runs_records(all_studies):
    index = (all_studies / "index.md").read_text()
    for name in STUDIES:
        assert f"]({name}/report.md)" in index
        check_study_report(all_studies / name)  # every run also logs the untrained network as epoch 0


def test_each_finding_quotes_its_own_runs(all_studies):
    dropout = json.loads((all_studies / "dropout-rate" / "results.json").read_text())
    for run in dropout["runs"].values():
        assert f"p = {run['point']['dropout']:g} {percent(run['metrics']['final_test_accuracy'])}" in dropout["finding"][0]
    initial = json.loads((all_studies / "initial-error" / "results.json").read_text())
    assert all("ln 10 = 2.303" in line for line in initial["finding"])
    assert {run["point"]["init"] for run in initial["runs"].values()} == {"torch", "glorot"}


def test_dropout_off_in_the_modes_study_is_the_runs_own_test_accuracy(all_studies):
    results = json.loads((all_studies / "dropout-modes" / "results.json").read_text())
    (run,) = results["runs"].values()
    assert results["analysis"]["modes"]["dropout off"] == pytest.approx(run["metrics"]["final_test_accuracy"], abs=1e-6)
    single = results["analysis"]["modes"]["dropout on, one pass"]
    assert single["min"] <= single["mean"] <= single["max"] and single["repeats"] == 5


def test_normalization_study_compares_the_training_and_test_statistics(all_studies):
    stats = json.loads((all_studies / "normalization" / "results.json").read_text())["analysis"]["split_statistics"]
    gaps = [abs(a - b) for a, b in zip(stats["train"]["mean"], stats["test"]["mean"])]
    assert stats["max_mean_difference"] == pytest.approx(max(gaps), abs=1e-5)
