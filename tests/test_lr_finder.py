"""lr-find: the learning-rate range test grows the rate geometrically, stops on divergence and suggests a rate."""

import json
import math

import numpy as np
import pytest

import train_keras
from keras_cnn.config import resolve_config
from keras_cnn.lr_finder import LearningRateRangeTest, lr_find, suggest


class StubModel:
    """What the callback touches of a Keras model: the optimizer's rate, the metrics and stop_training."""

    class Optimizer:
        learning_rate = None

    def __init__(self):
        self.optimizer, self.stop_training, self.resets = self.Optimizer(), False, 0

    def reset_metrics(self):
        self.resets += 1


def run_steps(test: LearningRateRangeTest, losses) -> list[float]:
    """Feed `losses` to the callback as Keras would, until it stops; returns the rates it set."""
    model = StubModel()
    test.set_model(model)
    rates = []
    for step, loss in enumerate(losses):
        test.on_train_batch_begin(step)
        rates.append(model.optimizer.learning_rate)
        test.on_train_batch_end(step, {"loss": loss})
        if model.stop_training:
            break
    assert model.resets == len(rates)  # each step's loss is that step's, not the epoch's running mean
    return rates


def test_rates_grow_geometrically_from_start_to_end():
    test = LearningRateRangeTest(1e-4, 1.0, steps=50)
    rates = run_steps(test, [2.0] * 50)
    assert len(rates) == 50 and rates[0] == pytest.approx(1e-4) and rates[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(np.array(rates[1:]) / rates[:-1], 10 ** (4 / 49), rtol=1e-9)
    assert test.stopped == "end of range"


def test_it_stops_when_the_smoothed_loss_exceeds_four_times_its_minimum():
    losses = [2.0 - 0.01 * i for i in range(100)] + [1.0 * 1.5**i for i in range(1, 100)]
    test = LearningRateRangeTest(1e-5, 10, steps=len(losses))
    rates = run_steps(test, losses)
    assert test.stopped == "diverged" and 100 < len(rates) < 120
    assert test.smoothed[-1] > 4 * min(test.smoothed) and test.smoothed[-2] <= 4 * min(test.smoothed[:-1])


def test_it_stops_on_a_nan_loss():
    test = LearningRateRangeTest(1e-5, 10, steps=100)
    assert len(run_steps(test, [2.0] * 30 + [math.nan] * 70)) == 31 and test.stopped == "nan"


def test_suggestions_steepest_descent_and_minimum_over_ten():
    rates = list(np.geomspace(1e-4, 1, 81))
    # A loss that falls fastest at lr 1e-2 (a tanh step in log10(lr)) and is lowest at lr 0.1, then rises.
    log_rates = np.log10(rates)
    smoothed = list(2 - np.tanh(2 * (log_rates + 2)) + np.where(log_rates > -1, 3 * (log_rates + 1), 0))
    suggestions = suggest(rates, smoothed)
    assert suggestions["steepest"] == pytest.approx(1e-2, rel=0.05)
    assert suggestions["minimum/10"] == pytest.approx(1e-2, rel=0.05)
    assert suggest(rates[:1], [math.nan]) == {"steepest": None, "minimum/10": None}


def test_lr_find_on_a_tiny_folder_diverges_and_writes_its_files(cifar_like_folder, tmp_path):
    out = tmp_path / "out"
    config = resolve_config("baseline", data_dir=str(cifar_like_folder), batch_size=16)
    result = lr_find(config, start_lr=1e-3, end_lr=1e5, steps=60, out=str(out))
    assert result.stopped in ("diverged", "nan") and len(result.rates) < 60
    np.testing.assert_allclose(np.array(result.rates[1:]) / result.rates[:-1], 1e8 ** (1 / 59), rtol=1e-6)
    record = json.loads((out / "lr_find.json").read_text())
    assert record["steps_run"] == len(result.rates) and record["stopped"] == result.stopped
    assert (out / "lr_find.png").stat().st_size > 0
    rows = (out / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "step,learning_rate,loss,smoothed_loss" and len(rows) == 1 + len(result.rates)


@pytest.mark.parametrize("case", ["range reversed", "zero start", "one step", "into a run folder"])
def test_lr_find_errors_are_one_line(tmp_path, capsys, case):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    args, message = {
        "range reversed": (["--start-lr", "1", "--end-lr", "0.1"], "0 < --start-lr < --end-lr, got 1 to 0.1"),
        "zero start": (["--start-lr", "0"], "0 < --start-lr < --end-lr"),
        "one step": (["--steps", "1"], "--steps must be at least 2"),
        "into a run folder": (["--out", str(run)], "is a run folder: lr-find never writes into a run"),
    }[case]
    assert train_keras.main(["lr-find", "--variant", "bn", *args]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error
    assert sorted(p.name for p in run.iterdir()) == ["config.json"]
