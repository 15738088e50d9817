"""benchmarks/time_to_accuracy.py and overhead.py read a run's records as documented."""

import json

import pytest

from benchmarks import overhead, time_to_accuracy
from keras_cnn.history import write_history


def write_run(folder, val_accuracies, epoch_seconds, seed=3):
    folder.mkdir()
    rows = [{"epoch": i + 1, "val_accuracy": a, "epoch_seconds": s, "train_seconds": s - 1}
            for i, (a, s) in enumerate(zip(val_accuracies, epoch_seconds))]
    write_history(str(folder / "history.csv"), rows)
    (folder / "config.json").write_text(json.dumps({"config": {"variant": "bn", "seed": seed}}))
    return folder


def test_time_to_accuracy_is_the_first_epoch_at_the_target_and_the_seconds_summed_until_then(tmp_path):
    run = write_run(tmp_path / "bn_seed-3", [0.70, 0.83, 0.81, 0.85], [10.0, 12.0, 11.0, 9.0])
    result = time_to_accuracy.reached(str(run), target=0.82)
    assert (result["recipe"], result["seed"], result["epoch"], result["seconds"]) == ("bn", 3, 2, 22.0)
    assert result["final"] == 0.85
    never = time_to_accuracy.reached(str(write_run(tmp_path / "other", [0.5, 0.6], [1.0, 1.0])), target=0.82)
    assert never["epoch"] is None and "not reached" in time_to_accuracy.table([never], 0.82)


def test_a_run_without_a_validation_split_is_refused_in_one_line(tmp_path):
    run = tmp_path / "test-only"
    run.mkdir()
    write_history(str(run / "history.csv"), [{"epoch": 1, "test_accuracy": 0.5, "epoch_seconds": 1.0}])
    with pytest.raises(SystemExit, match="has no validation split"):
        time_to_accuracy.reached(str(run), 0.82)


def test_overhead_splits_the_wall_time_into_phases_that_add_up():
    lines = [(4.0, "Training fast on data: ..."), (20.0, "352/352 - 15s - epoch_seconds: 15.0"),
             (31.0, "352/352 - 10s - epoch_seconds: 10.0"), (36.0, "Test accuracy 80.00% (final epoch)")]
    history = [{"train_seconds": "13.0", "epoch_seconds": "15.0"}, {"train_seconds": "9.0", "epoch_seconds": "10.0"}]
    seconds = overhead.phases(lines, history)
    assert seconds["start-up (imports, decoding, statistics, model)"] == 4.0
    assert seconds["first epoch's tracing"] == 4.0  # 13 s against the other epochs' median of 9 s
    assert seconds["training steps"] == 18.0
    assert seconds["evaluation after each epoch"] == 3.0
    assert seconds["checkpoints and logs after each epoch"] == 2.0  # (16 + 11) s between the lines, 25 s of epochs
    assert seconds["end (final evaluations, curves.png, metrics.json)"] == 5.0
    assert sum(seconds.values()) == 36.0  # the command's wall time up to its result line
