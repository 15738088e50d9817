"""Hyperparameter search on tiny folders: each tuner's files, best.json retraining, resume, failures, distribution."""

import csv
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_image_folder

import train_keras
from keras_cnn import ConfigError, RunDirError, resolve_config
from keras_cnn.search_space import FloatRange, search_space
from keras_cnn.tuning import CnnHyperModel, tune
from keras_cnn.tuning_report import plot_objective, rank_influence

REPO = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--limit", "40", "--val-split", "0.25", "--batch-sizes", "8,16", "--verbose", "0"]


def cli(capsys, *args) -> tuple[int, str, str]:
    code = train_keras.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def trials_of(out) -> list[dict]:
    with open(Path(out) / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """10 classes, 8 training and 4 test images each."""
    classes = [f"class{i}" for i in range(10)]
    return write_image_folder(tmp_path_factory.mktemp("data"), classes=classes, train=8, test=4)


@pytest.fixture(scope="module")
def random_search(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search") / "random"
    code = train_keras.main(
        ["tune", "--tuner", "random", "--max-trials", "2", "--data-dir", str(data), "--out", str(out), *TINY]
    )
    assert code == 0
    return out


def test_random_search_writes_every_file(random_search):
    out = random_search
    files = {p.name for p in out.iterdir()}
    assert {"trials.csv", "summary.md", "best.json", "objective.png", "search.json", "keras_tuner"} <= files
    assert not any(p.name.startswith(".tmp-") for p in out.iterdir())
    rows = trials_of(out)
    assert [row["trial"] for row in rows] == ["0", "1"] and {row["status"] for row in rows} == {"COMPLETED"}
    for row in rows:
        assert 1e-3 <= float(row["lr"]) <= 1e-1 and 0.8 <= float(row["momentum"]) <= 0.95
        assert 0.9 <= float(row["lr_decay"]) <= 1.0 and 0 <= float(row["dropout"]) <= 0.6
        assert row["batch_size"] in ("8", "16") and row["epochs_run"] == "1" and row["best_epoch"] == "1"
        assert "best_test_accuracy" not in row  # chosen on the validation split alone

    best = json.loads((out / "best.json").read_text())
    top = max(rows, key=lambda row: float(row["best_val_accuracy"]))
    assert best["search"]["trial"] == top["trial"]
    assert best["search"]["best_value"] == pytest.approx(float(top["best_val_accuracy"]))
    assert best["config"]["lr"] == pytest.approx(float(top["lr"]))
    assert best["config"]["batch_size"] == int(top["batch_size"])
    assert best["config"]["variant"] == "bn" and best["config"]["epochs"] == resolve_config("bn").epochs
    assert best["config"]["limit"] is None and best["search"]["limit_during_search"] == 40

    summary = (out / "summary.md").read_text()
    assert "2 completed, 0 failed" in summary and "the validation split" in summary and "--val-split 0.25" in summary
    assert f"Trial {top['trial']}:" in summary and "objective.png" in summary
    oracle = json.loads((out / "keras_tuner" / "oracle.json").read_text())
    assert sorted(oracle["end_order"]) == ["0", "1"]


def test_best_json_retrains_through_train_config(random_search, tmp_path, capsys):
    best = json.loads((random_search / "best.json").read_text())["config"]
    code, out, _ = cli(capsys, "train", "--config", random_search / "best.json", "--epochs", "1", "--limit", "20",
                       "--run-dir", tmp_path / "run", "--verbose", "0")
    assert code == 0
    trained = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    for name in ("lr", "momentum", "lr_decay", "dropout", "batch_size", "variant", "data_dir", "augment", "batch_norm"):
        assert trained[name] == best[name]
    assert (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("tuner, max_trials, epochs", [("bayesian", 3, 1), ("hyperband", 4, 3)])
def test_bayesian_and_hyperband_complete_their_trials(data, tmp_path, capsys, monkeypatch, tuner, max_trials, epochs):
    starts = []  # (initial epoch, optimizer steps already taken) of each trial
    original = CnnHyperModel.fit

    def recording_fit(self, hp, model, **kwargs):
        starts.append((kwargs.get("initial_epoch", 0), int(model.optimizer.iterations)))
        return original(self, hp, model, **kwargs)

    monkeypatch.setattr(CnnHyperModel, "fit", recording_fit)
    out = tmp_path / tuner
    code, _, err = cli(capsys, "tune", "--tuner", tuner, "--max-trials", max_trials, "--data-dir", data, "--out", out,
                       *TINY, "--epochs", epochs)
    assert code == 0, err
    rows = trials_of(out)
    assert len(rows) == max_trials and {row["status"] for row in rows} == {"COMPLETED"}
    # Selected on images held out of the training split, and named so.
    assert "best_val_accuracy" in rows[0] and "best_test_accuracy" not in rows[0]
    assert "validation split" in (out / "summary.md").read_text() and (out / "objective.png").exists()
    assert json.loads((out / "best.json").read_text())["config"]["val_split"] == 0.25
    if tuner == "hyperband":
        # The most aggressive bracket: three models for 1 epoch, then the best of them trained on to 3 epochs.
        assert [row["epochs_run"] for row in rows] == ["1", "1", "1", "2"]
        best_first = max(rows[:3], key=lambda row: float(row["best_val_accuracy"]))
        assert rows[3]["continued_from"] == best_first["trial"] and rows[3]["lr"] == best_first["lr"]
        assert int(rows[3]["best_epoch"]) in (2, 3)
        # The continued trial goes on from epoch 1 with the optimizer's state (steps taken, momentum) restored.
        assert starts[:3] == [(0, 0)] * 3 and starts[3][0] == 1 and starts[3][1] > 0


def test_a_search_without_a_validation_split_is_refused_in_one_line(data, tmp_path, capsys):
    tiny = [arg for arg in TINY if arg not in ("--val-split", "0.25")]
    code, _, err = cli(capsys, "tune", "--max-trials", "1", "--data-dir", data, "--out", tmp_path / "t", *tiny)
    assert code == 1 and err.count("\n") == 1
    assert "nothing is chosen on the test split: add --val-split 0.1" in err
    assert not (tmp_path / "t").exists()


def test_settings_a_trial_does_not_use_are_refused_in_one_line_and_have_no_flag(data, tmp_path, capsys):
    with pytest.raises(ConfigError) as refused:
        tune("bn", max_trials=1, out=str(tmp_path / "t"), data_dir=str(data), val_split=0.25, eval_train=True,
             strategy="mirrored")
    assert str(refused.value) == ("tune does not use --strategy, --eval-train: a trial trains on one device and "
                                  "evaluates only the validation split; leave them out")
    assert not (tmp_path / "t").exists()
    for flag in ("--strategy", "--eval-train", "--eval-at-start"):
        with pytest.raises(SystemExit):
            train_keras.main(["tune", flag, *(["mirrored"] if flag == "--strategy" else [])])
        assert f"unrecognized arguments: {flag}" in capsys.readouterr().err


def test_interrupted_search_resumes_without_repeating_finished_trials(data, tmp_path, monkeypatch):
    fitted = []  # the learning rate of each trial that trained
    original = CnnHyperModel.fit

    def recording_fit(self, hp, model, **kwargs):
        fitted.append(hp.values["lr"])
        if len(fitted) == 2 and interrupt:
            raise KeyboardInterrupt
        return original(self, hp, model, **kwargs)

    monkeypatch.setattr(CnnHyperModel, "fit", recording_fit)
    settings = dict(tuner="random", max_trials=3, epochs=1, limit=40, val_split=0.25, data_dir=str(data),
                    out=str(tmp_path / "s"),
                    space={"batch_size": (8, 16)}, verbose=0)
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        tune("bn", **settings)
    first, interrupted = fitted
    assert not (tmp_path / "s" / "trials.csv").exists()

    interrupt, fitted[:] = False, []
    result = tune("bn", **settings)
    assert first not in fitted  # the finished trial did not train again
    assert fitted[0] == interrupted and len(fitted) == 2  # the interrupted one ran again, then the last one
    assert [row["trial"] for row in result.trials] == ["0", "1", "2"]
    assert {row["status"] for row in result.trials} == {"COMPLETED"}
    assert float(result.trials[0]["lr"]) == first


def test_a_search_with_other_settings_is_not_resumed_or_overwritten_silently(data, random_search, tmp_path, capsys):
    code, _, err = cli(capsys, "tune", "--tuner", "random", "--max-trials", "2", "--data-dir", data,
                       "--out", random_search, *TINY, "--dropout-range", "0.1", "0.2")
    assert code == 1
    assert "holds a search with other settings (space.dropout.low 0.0 -> 0.1; space.dropout.high 0.6 -> 0.2)" in err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(RunDirError, match="holds no search"):
        tune("bn", out=str(tmp_path / "mine"), overwrite=True, data_dir=str(data), val_split=0.25)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


def test_failed_trials_are_reported_and_a_search_without_a_completed_trial_fails(data, tmp_path, monkeypatch, capsys):
    original = CnnHyperModel.fit
    calls = []

    def failing_fit(self, hp, model, **kwargs):
        calls.append(1)
        if len(calls) == 1 or fail_all:
            raise RuntimeError("simulated trial crash")
        return original(self, hp, model, **kwargs)

    monkeypatch.setattr(CnnHyperModel, "fit", failing_fit)
    fail_all = False
    code, _, err = cli(capsys, "tune", "--max-trials", "2", "--data-dir", data, "--out", tmp_path / "some", *TINY)
    assert code == 0 and "trial 0 failed: RuntimeError: simulated trial crash" in err
    assert "warning: 1 of 2 trials failed or did not finish (0)" in err
    assert [row["status"] for row in trials_of(tmp_path / "some")] == ["FAILED", "COMPLETED"]

    fail_all = True
    code, _, err = cli(capsys, "tune", "--max-trials", "2", "--data-dir", data, "--out", tmp_path / "all", *TINY)
    assert code == 1 and "error: no trial completed; first error: RuntimeError: simulated trial crash" in err
    assert [row["status"] for row in trials_of(tmp_path / "all")] == ["FAILED", "FAILED"]
    assert not (tmp_path / "all" / "best.json").exists()

    code, _, err = cli(capsys, "tune", "--max-trials", "5", "--data-dir", data, "--out", tmp_path / "stopped", *TINY)
    assert code == 1 and "error: keras-tuner stopped the search after 3 failed trials in a row" in err
    assert [row["status"] for row in trials_of(tmp_path / "stopped")] == ["FAILED"] * 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tuner", "grid"], "unknown tuner 'grid': choose one of hyperband, random, bayesian"),
        (["--lr-range", "0.1", "0.001"], "--lr-range 0.1 0.001: the minimum is above the maximum"),
        (["--lr-range", "0", "0.1"], "lr is searched on a log scale, so both ends must be > 0"),
        (["--momentum-range", "0.5", "1.2"], "--momentum-range: momentum must be in [0, 1), got 1.2"),
        (["--batch-sizes", "64,big"], "--batch-sizes 64,big: give whole numbers"),
        (["--lr", "0.01", "--lr-range", "0.01", "0.1"], "--lr fixes lr and --lr-range searches it"),
        (["--max-trials", "0"], "--max-trials must be at least 1"),
        (["--variant", "lenet5", "--dropout-range", "0.1", "0.5"], "the lenet5 network has no dropout layer"),
    ],
)
def test_invalid_search_settings_are_one_line_errors(tmp_path, capsys, args, message):
    code, _, err = cli(capsys, "tune", "--out", tmp_path / "out", *args)
    assert code == 1 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # checked before anything runs


def test_search_space_defaults_fixed_settings_and_equal_ends():
    bn = resolve_config("bn")
    space, pinned = search_space({}, bn)
    assert list(space) == ["lr", "momentum", "lr_decay", "dropout", "batch_size"] and pinned == {}
    assert space["lr"] == FloatRange(1e-3, 1e-1, log=True) and space["batch_size"] == (64, 128, 256)

    overrides = {"momentum": (0.9, 0.9), "batch_size": "32", "weight_decay": (1e-5, 1e-3)}
    space, pinned = search_space(overrides, bn, fixed={"lr"})
    assert pinned == {"momentum": 0.9, "batch_size": 32}
    assert list(space) == ["lr_decay", "dropout", "weight_decay"] and space["weight_decay"].log
    with pytest.raises(ConfigError, match="cannot search epochs"):
        search_space({"epochs": (1, 3)}, bn)

    space, _ = search_space({"label_smoothing": (0.0, 0.2), "sam_rho": (0.0, 0.1)}, resolve_config("best"),
                            fixed={"lr"})
    assert space["label_smoothing"] == FloatRange(0.0, 0.2) and space["sam_rho"] == FloatRange(0.0, 0.1)
    with pytest.raises(ConfigError, match=r"--sam-rho-range: sam rho must be >= 0"):
        search_space({"sam_rho": (-0.1, 0.1)}, bn)


def test_influence_ranks_hyperparameters_and_the_plot_takes_the_top_two(tmp_path):
    trials = [(0.001, 64, 0.2), (0.01, 128, 0.4), (0.05, 64, 0.3), (0.1, 128, 0.5)]
    rows = [{"trial": str(i), "lr": lr, "batch_size": size, "dropout": 0.3, "best_val_accuracy": accuracy}
            for i, (lr, size, accuracy) in enumerate(trials)]
    influence = rank_influence(rows, ["lr", "batch_size", "dropout"], "best_val_accuracy")
    # Spearman's rho with tied ranks averaged (scipy.stats.spearmanr gives 0.8 and 0.894 on these rows).
    assert influence == pytest.approx({"batch_size": 0.8944, "lr": 0.8, "dropout": 0.0}, abs=1e-4)
    assert list(influence) == ["batch_size", "lr", "dropout"]
    record = {"config": {"variant": "bn"}, "tuner": "random",
              "space": {"lr": {"low": 1e-3, "high": 0.1, "sampling": "log"}, "batch_size": [64, 128], "dropout": [0.3]}}
    assert plot_objective(str(tmp_path / "objective.png"), rows, influence, record)
    assert (tmp_path / "objective.png").stat().st_size > 10_000
    assert not plot_objective(str(tmp_path / "none.png"), rows, {"dropout": 0.0}, record)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_distributed_search_with_a_chief_and_two_workers(data, tmp_path):
    out = tmp_path / "distributed"
    command = [sys.executable, str(REPO / "train_keras.py"), "tune", "--tuner", "random", "--max-trials", "3",
               "--data-dir", str(data), "--out", str(out), *TINY, "--verbose", "2"]
    environment = os.environ | {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_port())}
    processes = {}
    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            processes[tuner_id] = subprocess.Popen(
                command, cwd=REPO, env=environment | {"KERASTUNER_TUNER_ID": tuner_id},
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )
        outputs = {tuner_id: process.communicate(timeout=300)[0] for tuner_id, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id}:\n{outputs[tuner_id]}"

    by_worker = {
        tuner_id: set(re.findall(rf"\[{tuner_id}\] trial (\d+) completed", outputs[tuner_id]))
        for tuner_id in ("tuner0", "tuner1")
    }
    assert all(by_worker.values()), outputs  # each worker finished trials
    rows = trials_of(out)  # written by the chief, from its oracle
    completed = {row["trial"] for row in rows if row["status"] == "COMPLETED"}
    assert completed == by_worker["tuner0"] | by_worker["tuner1"] == {"0", "1", "2"}
    assert "completed" not in outputs["chief"] and (out / "best.json").exists()  # the chief trains nothing
