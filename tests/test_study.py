"""`study`: the lab's questions as grids of ordinary runs with seeds, run as a user runs them (fresh processes)."""

import json
import statistics
from pathlib import Path

import pytest
from conftest import STUDY_TINY as TINY
from conftest import check_study_report
from conftest import run_study_cli as cli

from keras_cnn.studies import STUDIES


@pytest.fixture(scope="module")
def all_studies(study_folders, tmp_path_factory) -> Path:
    """`study all` at a tiny scale with two seeds, once, in a fresh process."""
    work = tmp_path_factory.mktemp("studies")
    data = ("--data-dir", str(study_folders["cifar"]), "--mnist-dir", str(study_folders["mnist"]))
    done = cli("study", "all", *data, *TINY, cwd=work)
    assert done.returncode == 0, done.stdout + done.stderr
    return work / "studies"


def test_every_study_writes_a_report_whose_numbers_are_its_runs_records(all_studies):
    index = (all_studies / "index.md").read_text()
    for name in STUDIES:
        assert f"]({name}/report.md)" in index
        check_study_report(all_studies / name)  # every run also logs the untrained network as epoch 0


def test_every_point_runs_each_seed_and_its_runs_differ_by_their_seed(all_studies):
    results = json.loads((all_studies / "dropout-rate" / "results.json").read_text())
    assert results["seeds"] == [0, 1]
    for point, summary in results["points"].items():
        assert summary["runs"] == [f"{point}_seed-0", f"{point}_seed-1"]
        seeds = [json.loads((all_studies / "dropout-rate" / run / "config.json").read_text())["config"]["seed"]
                 for run in summary["runs"]]
        assert seeds == [0, 1]


def test_dropout_off_in_the_modes_study_is_each_runs_own_test_accuracy(all_studies):
    results = json.loads((all_studies / "dropout-modes" / "results.json").read_text())
    for run, modes in results["analysis"]["modes"].items():
        recorded = json.loads((all_studies / "dropout-modes" / run / "metrics.json").read_text())
        assert modes["dropout off"] == pytest.approx(recorded["final_test_accuracy"], abs=1e-6)
        assert len(modes["one pass"]) == 5


def test_normalization_study_compares_the_training_and_test_statistics(all_studies):
    stats = json.loads((all_studies / "normalization" / "results.json").read_text())["analysis"]["split_statistics"]
    gaps = [abs(a - b) for a, b in zip(stats["train"]["mean"], stats["test"]["mean"])]
    assert stats["max_mean_difference"] == pytest.approx(max(gaps), abs=1e-5)


def test_optimizers_train_at_the_rate_lr_find_chose_before_the_runs(all_studies):
    folder = all_studies / "optimizers"
    chosen = json.loads((folder / "lr-find.json").read_text())
    # one range test per optimizer setting (points that differ only by schedule share it), each in its own folder
    suggested = {float(f"{json.loads(path.read_text())['suggestions']['minimum/10']:.3g}")
                 for path in (folder / "lr-find").glob("*/lr_find.json")}
    for point, values in chosen.items():
        for seed in (0, 1):
            config = json.loads((folder / f"{point}_seed-{seed}" / "config.json").read_text())["config"]
            assert config["lr"] == values["lr"]
        if values["found_by_lr_find"]:  # the rate lr-find suggested, rounded to 3 digits
            assert values["lr"] in suggested, point
    # points sharing an optimizer share a rate, whatever their schedule
    assert {chosen[p]["lr"] for p in ("momentum", "momentum_cosine", "momentum_onecycle")} == {chosen["momentum"]["lr"]}


def test_momentum_decay_separates_momentum_decay_and_lr0(all_studies):
    results = json.loads((all_studies / "momentum-decay" / "results.json").read_text())
    settings = {(p["settings"]["lr"], p["settings"]["momentum"], p["settings"]["lr_decay"])
                for p in results["points"].values()}
    assert settings == {(lr, m, d) for lr in (0.1, 0.01) for m in (0.0, 0.9) for d in (1.0, 0.95)}
    run = json.loads((all_studies / "momentum-decay" / "lr-0.1_momentum-0.9_decay-1_seed-0" / "config.json")
                     .read_text())
    assert (run["config"]["variant"], run["config"]["augment"]) == ("augment", ["crop28", "flip"])


def test_a_points_mean_is_the_mean_of_its_runs_metrics_files(all_studies):
    folder = all_studies / "flip"
    results = json.loads((folder / "results.json").read_text())
    for summary in results["points"].values():
        values = [json.loads((folder / run / "metrics.json").read_text())["final_test_accuracy"]
                  for run in summary["runs"]]
        assert summary["metrics"]["final_test_accuracy"]["mean"] == pytest.approx(statistics.fmean(values))
        assert summary["metrics"]["final_test_accuracy"]["sd"] == pytest.approx(statistics.stdev(values))
