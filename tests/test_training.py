"""Training end to end on tiny folders: run files, schedule, resume, run-dir safety, CLI errors."""

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import accuracy_applied_directly, applied_directly, tensorboard_scalars, write_image_folder

import train_keras
from keras_cnn import KerasCnnError, RunDirError, TrainConfig, train
from keras_cnn.callbacks import EpochTimer, TrainingState
from keras_cnn.commands.flags import MOST_USED, SETTING_GROUPS, config_from_args
from keras_cnn.evaluation import cross_entropy, evaluate_run
from keras_cnn.training import TrainingDiverged
from pipelines.sources import load_splits

REPO = Path(__file__).resolve().parents[1]
FAST = dict(batch_size=16, verbose=0)


def history_of(run_dir) -> list[dict]:
    with open(Path(run_dir) / "history.csv") as f:
        return list(csv.DictReader(f))


def test_one_epoch_writes_every_run_file(cifar_like_folder, tmp_path):
    history, run_dir = train("bn", data_dir=str(cifar_like_folder), epochs=1, run_dir=str(tmp_path / "run"), **FAST)
    files = {p.name for p in Path(run_dir).iterdir()}
    assert {"config.json", "history.csv", "last.keras", "curves.png", "metrics.json"} <= files
    assert "best.keras" not in files  # no validation split: nothing chooses an epoch
    assert not any(name.startswith(".tmp-") for name in files)
    assert [path.name for path in (Path(run_dir) / "backup").iterdir()] == ["epoch-0001"]  # kept: to extend the run
    assert history.history["loss"] and len(history.history["loss"]) == 1

    rows = history_of(run_dir)
    assert len(rows) == 1 and rows[0]["epoch"] == "1"
    for column in ("loss", "accuracy", "test_loss", "test_accuracy", "learning_rate", "train_images_per_second",
                   "top5_accuracy"):
        assert column in rows[0]

    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    for key in ("final_test_accuracy", "final_train_accuracy", "epochs", "wall_seconds", "train_images_per_second"):
        assert key in metrics
    assert 0 <= metrics["final_test_accuracy"] <= 1 and 0 <= metrics["final_train_accuracy"] <= 1
    assert metrics["final_test_accuracy"] == pytest.approx(float(rows[0]["test_accuracy"]))
    assert metrics["epochs"] == 1 and metrics["train_images_per_second"] > 0

    record = json.loads((Path(run_dir) / "config.json").read_text())
    assert record["config"]["variant"] == "bn" and record["config"]["seed"] == 0 and record["config"]["epochs"] == 1
    assert record["data"]["train_images"] == 80 and record["data"]["class_names"][0] == "class0"
    assert len(record["data"]["normalization_stats"]["mean"]) == 3
    assert {"tensorflow", "keras", "python"} <= set(record["versions"])

    assert keras.saving.load_model(Path(run_dir) / "last.keras").count_params() == 1_191_810  # with BN's statistics


def test_without_a_validation_split_nothing_is_chosen_on_the_test_split(cifar_like_folder, tmp_path):
    """The headline, metrics.json and every command's default are the last epoch; best.keras needs --val-split."""
    _, run_dir = train("baseline", data_dir=str(cifar_like_folder), epochs=3, lr=0.05,
                       run_dir=str(tmp_path / "r"), **FAST)
    rows = history_of(run_dir)
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    assert not (Path(run_dir) / "best.keras").exists()
    assert metrics["default_checkpoint"] == "last" and metrics["best_checkpoint_chosen_on"] is None
    assert not {"best_test_accuracy", "best_epoch", "best_val_accuracy"} & set(metrics)
    assert metrics["final_test_accuracy"] == pytest.approx(float(rows[-1]["test_accuracy"]))
    assert [float(row["test_accuracy"]) for row in rows] and len(rows) == 3  # the curves keep every epoch's test score

    last = keras.saving.load_model(Path(run_dir) / "last.keras")
    test = load_splits("cifar10", (32, 32, 3), data_dir=str(cifar_like_folder)).test
    accuracy = float((last.predict(test.images, verbose=0).argmax(axis=1) == test.labels).mean())
    assert metrics["final_test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    with pytest.raises(KerasCnnError, match="no best.keras: it was trained without --val-split"):
        evaluate_run(run_dir, checkpoint="best")
    assert evaluate_run(run_dir)["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)  # the default: last.keras


def test_a_run_written_before_selection_left_the_test_split_still_evaluates_its_best_keras(
    cifar_like_folder, tmp_path, capsys
):
    _, run_dir = train("baseline", data_dir=str(cifar_like_folder), epochs=1, run_dir=str(tmp_path / "old"), **FAST)
    shutil.copy(Path(run_dir) / "last.keras", Path(run_dir) / "best.keras")  # as keras-cnn 0.1 wrote it
    result = evaluate_run(run_dir, checkpoint="best")
    assert result["checkpoint"] == "best"
    assert result["test_accuracy"] == pytest.approx(accuracy_applied_directly(run_dir, "best.keras"), abs=1e-6)
    assert "best.keras was chosen on the test split (a run written before keras-cnn 0.2)" in capsys.readouterr().err


def test_learning_rate_decays_by_095_per_epoch_and_is_logged(cifar_like_folder, tmp_path):
    _, run_dir = train("momentum", data_dir=str(cifar_like_folder), epochs=3, run_dir=str(tmp_path / "run"), **FAST)
    logged = [float(row["learning_rate"]) for row in history_of(run_dir)]
    assert logged == pytest.approx([0.01, 0.01 * 0.95, 0.01 * 0.95**2], rel=1e-5)
    model = keras.saving.load_model(Path(run_dir) / "last.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01 * 0.95**2, rel=1e-5)
    assert float(model.optimizer.momentum) == pytest.approx(0.9)


def test_baseline_keeps_a_constant_learning_rate(cifar_like_folder, tmp_path):
    _, run_dir = train("baseline", data_dir=str(cifar_like_folder), epochs=2, run_dir=str(tmp_path / "run"), **FAST)
    assert [float(row["learning_rate"]) for row in history_of(run_dir)] == pytest.approx([0.1, 0.1])


def interrupt(monkeypatch, cls, method, at_epoch):
    original = getattr(cls, method)

    def interrupted(self, epoch, logs=None):
        if epoch == at_epoch:
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    monkeypatch.setattr(cls, method, interrupted)


def test_interrupted_run_resumes_from_the_last_finished_epoch(cifar_like_folder, tmp_path, monkeypatch, capsys):
    settings = dict(data_dir=str(cifar_like_folder), epochs=3, run_dir=str(tmp_path / "run"), batch_size=16)
    with monkeypatch.context() as patch:
        interrupt(patch, EpochTimer, "on_epoch_begin", at_epoch=2)
        with pytest.raises(KeyboardInterrupt):
            train("bn", verbose=0, **settings)
    assert [row["epoch"] for row in history_of(settings["run_dir"])] == ["1", "2"]
    assert not (Path(settings["run_dir"]) / "metrics.json").exists()

    history, run_dir = train("bn", verbose=2, **settings)
    assert "Resuming bn" in capsys.readouterr().out
    assert len(history.history["loss"]) == 1  # only epoch 3 ran again
    assert [row["epoch"] for row in history_of(run_dir)] == ["1", "2", "3"]
    model = keras.saving.load_model(Path(run_dir) / "last.keras")
    assert int(model.optimizer.iterations) == 3 * 5  # weights and optimizer state were restored, 5 steps an epoch
    assert json.loads((Path(run_dir) / "metrics.json").read_text())["epochs"] == 3


def test_crash_between_history_row_and_backup_keeps_each_epoch_once(cifar_like_folder, tmp_path, monkeypatch):
    settings = dict(data_dir=str(cifar_like_folder), epochs=3, run_dir=str(tmp_path / "run"), **FAST)
    with monkeypatch.context() as patch:
        interrupt(patch, TrainingState, "on_epoch_end", at_epoch=1)
        with pytest.raises(KeyboardInterrupt):
            train("baseline", **settings)
    assert [row["epoch"] for row in history_of(settings["run_dir"])] == ["1", "2"]  # row 2 written, backup not

    train("baseline", **settings)
    assert [row["epoch"] for row in history_of(settings["run_dir"])] == ["1", "2", "3"]


def test_a_longer_rerun_extends_a_run_where_it_can_be_exact(cifar_like_folder, tmp_path):
    settings = dict(data_dir=str(cifar_like_folder), run_dir=str(tmp_path / "run"), **FAST)
    train("baseline", epochs=1, **settings)
    shutil.rmtree(tmp_path / "run" / "backup")  # as a run finished before keras-cnn 0.3 kept its final state
    with pytest.raises(RunDirError, match="holds a finished run without its final training state"):
        train("baseline", epochs=2, **settings)
    cosine = settings | {"run_dir": str(tmp_path / "cosine"), "schedule": "cosine"}
    train("baseline", epochs=1, **cosine)
    with pytest.raises(RunDirError, match="cosine schedule depends on the number of epochs"):
        train("baseline", epochs=2, **cosine)
    train("baseline", epochs=2, overwrite=True, **settings)
    train("baseline", epochs=3, **settings)
    assert [row["epoch"] for row in history_of(settings["run_dir"])] == ["1", "2", "3"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["epochs"] == 3


def test_finished_run_is_never_overwritten_silently(cifar_like_folder, tmp_path):
    settings = dict(data_dir=str(cifar_like_folder), epochs=1, run_dir=str(tmp_path / "run"), **FAST)
    train("baseline", **settings)
    with pytest.raises(RunDirError, match="holds a finished run: pass --overwrite"):
        train("baseline", **settings)
    train("baseline", overwrite=True, **settings)
    assert len(history_of(settings["run_dir"])) == 1


def test_unfinished_run_with_other_settings_is_refused(cifar_like_folder, tmp_path, monkeypatch):
    settings = dict(data_dir=str(cifar_like_folder), run_dir=str(tmp_path / "run"), **FAST)
    with monkeypatch.context() as patch:
        interrupt(patch, EpochTimer, "on_epoch_begin", at_epoch=1)
        with pytest.raises(KeyboardInterrupt):
            train("baseline", epochs=2, **settings)
    with pytest.raises(RunDirError, match="other settings \\(lr 0.1 -> 0.05\\)"):
        train("baseline", epochs=2, lr=0.05, **settings)


def test_a_folder_that_is_not_a_run_is_left_alone(cifar_like_folder, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(RunDirError, match="holds no run"):
        train("baseline", data_dir=str(cifar_like_folder), run_dir=str(tmp_path / "mine"), overwrite=True, **FAST)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_eval_train_logs_the_training_split_in_inference_mode(cifar_like_folder, tmp_path):
    _, run_dir = train("dropout", data_dir=str(cifar_like_folder), epochs=1, eval_train=True,
                       run_dir=str(tmp_path / "r"), **FAST)
    row = history_of(run_dir)[0]
    # The end-of-epoch model (last.keras, one epoch) in inference mode on the training split, not the running average.
    probabilities, labels = applied_directly(run_dir, split="train")
    assert float(row["train_eval_accuracy"]) == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels), abs=1e-6)
    assert float(row["train_eval_loss"]) == pytest.approx(np.mean(cross_entropy(labels, probabilities)), rel=1e-4)
    assert row["train_eval_loss"] != row["loss"]


def test_eval_at_start_logs_the_untrained_network_as_epoch_0_and_trains_the_same_weights(cifar_like_folder, tmp_path):
    plain, plain_dir = train("dropout", data_dir=str(cifar_like_folder), epochs=1,
                             run_dir=str(tmp_path / "plain"), **FAST)
    _, run_dir = train("dropout", data_dir=str(cifar_like_folder), epochs=1, eval_at_start=True,
                       run_dir=str(tmp_path / "r"), **FAST)
    rows = history_of(run_dir)
    assert [row["epoch"] for row in rows] == ["0", "1"]
    start = rows[0]
    assert start["loss"] == start["accuracy"] == ""  # no step yet: no running average to log
    assert abs(float(start["train_eval_loss"]) - math.log(10)) < 0.1  # ten classes, untrained: about ln 10
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    assert metrics["initial_test_loss"] == float(start["test_loss"])
    assert metrics["initial_train_accuracy"] == float(start["train_eval_accuracy"])
    # Evaluating in inference mode draws no random numbers: epoch 1 is the same as without it.
    assert rows[1]["loss"] == history_of(plain_dir)[0]["loss"]
    ours = keras.models.load_model(Path(run_dir) / "last.keras")
    theirs = keras.models.load_model(Path(plain_dir) / "last.keras")
    assert all((a == b).all() for a, b in zip(ours.get_weights(), theirs.get_weights()))


def test_validation_split_keeps_the_test_split_for_one_final_evaluation(cifar_like_folder, tmp_path):
    _, run_dir = train("norm", data_dir=str(cifar_like_folder), epochs=2, val_split=0.25,
                       run_dir=str(tmp_path / "r"), **FAST)
    rows = history_of(run_dir)
    assert "val_accuracy" in rows[0] and "test_accuracy" not in rows[0]
    record = json.loads((Path(run_dir) / "config.json").read_text())
    assert (record["data"]["train_images"], record["data"]["val_images"], record["data"]["test_images"]) == (60, 20, 40)
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    assert metrics["best_val_accuracy"] == max(float(row["val_accuracy"]) for row in rows)
    assert metrics["best_checkpoint_chosen_on"] == "val" and metrics["default_checkpoint"] == "last"
    best = keras.saving.load_model(Path(run_dir) / "best.keras")
    test = load_splits("cifar10", (32, 32, 3), data_dir=str(cifar_like_folder)).test
    accuracy = float((best.predict(test.images, verbose=0).argmax(axis=1) == test.labels).mean())
    assert metrics["best_test_accuracy"] == pytest.approx(accuracy)
    assert 0 <= metrics["final_test_accuracy"] <= 1


def test_fewer_than_six_classes_train_without_top5(tmp_path):
    root = write_image_folder(tmp_path / "three", classes=("a", "b", "c"), train=4, test=2)
    _, run_dir = train("baseline", data_dir=str(root), epochs=1, run_dir=str(tmp_path / "r"), **FAST)
    assert "top5_accuracy" not in history_of(run_dir)[0]


def test_divergence_stops_with_a_clear_error_and_keeps_the_files(cifar_like_folder, tmp_path):
    with pytest.raises(TrainingDiverged, match="lower --lr"):
        train("baseline", data_dir=str(cifar_like_folder), epochs=3, lr=1e30, run_dir=str(tmp_path / "r"), **FAST)
    rows = history_of(tmp_path / "r")
    assert not math.isfinite(float(rows[-1]["loss"]))
    assert (tmp_path / "r" / "metrics.json").exists() and (tmp_path / "r" / "curves.png").exists()


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = train_keras.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_trains_and_prints_a_summary(cifar_like_folder, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "train", "--variant", "augment", "--data-dir", str(cifar_like_folder),
                           "--epochs", "1",
                           "--batch-size", "16", "--run-dir", str(tmp_path / "r"), "--no-eval-train")
    assert code == 0
    assert "Training augment on" in out and "Test accuracy" in out and "1 epoch in" in out
    assert f"; 1 epoch into {tmp_path / 'r'}" in out
    assert json.loads((tmp_path / "r" / "config.json").read_text())["config"]["augment"] == ["crop28", "flip"]


def test_cli_config_file_then_flags(cifar_like_folder, tmp_path, capsys):
    (tmp_path / "best.json").write_text(json.dumps({"variant": "dropout", "lr": 0.02, "dropout": 0.3}))
    args = train_keras.build_parser().parse_args(["train", "--config", str(tmp_path / "best.json"), "--dropout", "0.2"])
    config = config_from_args(args)
    assert (config.variant, config.lr, config.dropout, config.momentum) == ("dropout", 0.02, 0.2, 0.9)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "0"], "error: learning rate must be > 0"),
        (["--batch-size", "0"], "error: batch size must be at least 1"),
        (["--epochs", "0"], "error: epochs must be at least 1"),
        (["--data-dir", "no/such/folder"], "error: data folder no/such/folder does not exist"),
        (["--config", "no/such.json"], "error: cannot read --config no/such.json"),
    ],
)
def test_cli_bad_input_gets_one_line_and_a_nonzero_exit(capsys, args, message):
    code, _, err = run_cli(capsys, "train", *args)
    assert code == 1
    assert err.strip().startswith(message) and len(err.strip().splitlines()) == 1


def test_cli_unknown_variant(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_keras.main(["train", "--variant", "bnn"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'bnn'" in capsys.readouterr().err


def test_cli_bad_image_in_a_real_process_prints_no_traceback(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=2, test=1)
    (root / "train" / "a" / "broken.png").write_bytes(b"\x89PNG but not really")
    result = subprocess.run(
        [sys.executable, str(REPO / "train_keras.py"), "train", "--data-dir", str(root), "--run-dir",
         str(tmp_path / "r")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {root}/train/a/broken.png is not a readable image (damaged, or not the format its name says): "
        "remove or replace it"]


def test_tensorboard_logs_every_epoch_and_histograms_only_when_asked(cifar_like_folder, tmp_path):
    settings = dict(data_dir=str(cifar_like_folder), epochs=2, **FAST)
    _, run_dir = train("bn", run_dir=str(tmp_path / "r"), tensorboard_histograms=True, **settings)
    train_logs = tensorboard_scalars(Path(run_dir) / "tensorboard" / "train")
    assert [step for step, _ in train_logs["epoch_loss"]] == [0, 1]
    logged = [value for _, value in train_logs["epoch_loss"]]
    assert logged == pytest.approx([float(row["loss"]) for row in history_of(run_dir)], rel=1e-5)
    histograms = list((Path(run_dir) / "tensorboard" / "train").glob("events.*"))
    assert histograms and b"conv1/kernel/histogram" in histograms[0].read_bytes()
    _, quiet_dir = train("bn", run_dir=str(tmp_path / "q"), tensorboard=False, **settings)
    assert not (Path(quiet_dir) / "tensorboard").exists()


def test_train_help_shows_the_most_used_flags_first_and_every_setting_under_a_heading(capsys):
    assert set(MOST_USED) | {name for names in SETTING_GROUPS.values() for name in names} == (
        set(TrainConfig.__dataclass_fields__) - {"variant"})
    with pytest.raises(SystemExit):
        train_keras.main(["train", "--help"])
    lines = capsys.readouterr().out.splitlines()
    first_screen = "\n".join(lines[:24])
    assert all(flag in first_screen
               for flag in ("--variant", "--data-dir", "--epochs", "--batch-size", "--lr", "--run-dir"))
    headings = [line for line in lines if line and not line.startswith(" ") and line.endswith(":")]
    assert headings[:6] == ["options:", "data:", "preprocessing and augmentation:", "network:", "optimization:",
                            "platform (speed only):"]
