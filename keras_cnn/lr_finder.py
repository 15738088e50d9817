"""The learning-rate range test (Smith 2017, "Cyclical learning rates for training neural networks", 3.3).

A throwaway model of a variant trains for a few hundred steps while the learning rate grows exponentially
from `start_lr` to `end_lr` (as fastai's `lr_find`); the loss of every step is recorded and smoothed, and the
test stops once the smoothed loss exceeds `divergence` times its minimum (or is NaN). It suggests the rate
where the smoothed loss falls fastest, and the rate of its minimum divided by 10.

    result = lr_find(resolve_config("momentum", data_dir="../shared/data/cifar10-jpeg", limit=10000))
    result.suggestions   # {"steepest": ..., "minimum/10": ...}

Nothing is restored and no run folder is written: the results go to runs/lr-find/<variant>/.
"""

import dataclasses
import math
import os
import time
from dataclasses import dataclass

import keras
import numpy as np

from keras_cnn.config import TrainConfig
from keras_cnn.console import keras_verbosity
from keras_cnn.errors import ConfigError, RunDirError
from keras_cnn.files import write_json, write_text
from keras_cnn.optimization import uses_soft_labels
from keras_cnn.plots import plt, save_figure
from keras_cnn.rundir import CONFIG_FILE
from keras_cnn.training import compiled_model, conv1_whitening, load_data, normalization_stats, zca_stats
from pipelines.datasets import steps_per_epoch, train_dataset

CHART_FILE = "lr_find.png"
CSV_FILE = "lr_find.csv"
JSON_FILE = "lr_find.json"
SKIP_START = 10  # steps left out of the steepest-descent search: the first smoothed losses are mostly noise (fastai's)


@dataclass(frozen=True)
class RangeTestResult:
    rates: list[float]  # learning rate of each step run
    losses: list[float]  # training loss of each step (that batch's, not an epoch average)
    smoothed: list[float]  # exponential moving average of the losses, bias-corrected
    stopped: str  # why the test ended: "diverged", "nan" or "end of range"
    suggestions: dict[str, float | None]  # "steepest" and "minimum/10"
    seconds: float
    out: str  # the folder of lr_find.png, lr_find.csv and lr_find.json


class LearningRateRangeTest(keras.callbacks.Callback):
    """Step i of `steps` runs at start_lr * (end_lr / start_lr) ** (i / (steps - 1)); stops when the loss diverges.

    Keras 3 logs the running mean of the epoch at every batch: the loss tracker is reset before each
    step, so that the logged loss is that step's.
    """

    def __init__(self, start_lr: float, end_lr: float, steps: int, smoothing: float = 0.98, divergence: float = 4.0):
        super().__init__()
        self.rates = list(np.geomspace(start_lr, end_lr, steps))
        self.smoothing, self.divergence = smoothing, divergence
        self.losses, self.smoothed, self.stopped = [], [], "end of range"
        self._average = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rates[len(self.losses)]
        self.model.reset_metrics()

    def on_train_batch_end(self, batch, logs=None):
        loss = float(logs["loss"])
        self.losses.append(loss)
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        self.smoothed.append(self._average / (1 - self.smoothing ** len(self.losses)))
        if not math.isfinite(self.smoothed[-1]):
            self.stopped = "nan"
        elif self.smoothed[-1] > self.divergence * min(self.smoothed):
            self.stopped = "diverged"
        if self.stopped != "end of range" or len(self.losses) == len(self.rates):
            self.model.stop_training = True


def suggest(rates: list[float], smoothed: list[float]) -> dict[str, float | None]:
    """steepest: the rate where the smoothed loss falls fastest against log(rate), before its minimum;
    minimum/10: the rate of the lowest smoothed loss, divided by 10."""
    finite = [value if math.isfinite(value) else math.inf for value in smoothed]
    if not finite or min(finite) == math.inf:
        return {"steepest": None, "minimum/10": None}
    lowest = int(np.argmin(finite))
    start = SKIP_START if lowest - SKIP_START >= 2 else 0
    if lowest - start < 2:
        steepest = None
    else:
        slopes = np.gradient(np.array(finite[start : lowest + 1]), np.log(rates[start : lowest + 1]))
        steepest = float(rates[start + int(np.argmin(slopes))])
    return {"steepest": steepest, "minimum/10": float(rates[lowest] / 10)}


def lr_find(
    config: TrainConfig,
    start_lr: float = 1e-5,
    end_lr: float = 10.0,
    steps: int = 300,
    out: str | None = None,
    verbose="auto",
) -> RangeTestResult:
    """Run the range test for `config` (its optimizer, momentum, batch size, data; its schedule is replaced).

    Writes lr_find.png, lr_find.csv and lr_find.json into `out` (default runs/lr-find/<variant>), never into a run.
    `verbose`: 0 silent, 1 progress bar, 2 one line; "auto" a bar on a terminal, else silent.
    """
    if not (math.isfinite(start_lr) and math.isfinite(end_lr) and 0 < start_lr < end_lr):
        raise ConfigError(
            f"the learning-rate range must satisfy 0 < --start-lr < --end-lr, got {start_lr:g} to {end_lr:g}"
        )
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {steps}")
    out = out or os.path.join("runs", "lr-find", config.variant)
    if os.path.exists(os.path.join(out, CONFIG_FILE)):
        raise RunDirError(f"{out} is a run folder: lr-find never writes into a run, choose another --out")
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    splits = load_data(dataclasses.replace(config, val_split=0.0))
    norm_stats = normalization_stats(config, splits)
    # A constant rate that the callback sets before every step: no schedule, no decay.
    fixed_rate = dataclasses.replace(config, lr=start_lr, schedule="exp", lr_decay=1.0)
    model = compiled_model(fixed_rate, norm_stats, len(splits.class_names), zca=zca_stats(config, splits, norm_stats),
                           conv1_kernel=conv1_whitening(config, splits, norm_stats),
                           train_size=len(splits.train))
    one_hot = len(splits.class_names) if uses_soft_labels(config) else None
    # As many epochs of the training images, each in its own order, as the steps take.
    passes = math.ceil(steps / steps_per_epoch(len(splits.train), config.batch_size))
    batches = train_dataset(splits.train, config.batch_size, config.seed, one_hot, epochs=passes,
                            alternating_flips="alt-flip" in config.augment)
    test = LearningRateRangeTest(start_lr, end_lr, steps)
    # shuffle=False: the pipeline shuffles (Keras warns that it ignores shuffle for a tf.data.Dataset).
    verbose = keras_verbosity(verbose, off_terminal=0)  # one epoch of --steps steps: no line until its end
    model.fit(batches, epochs=1, steps_per_epoch=steps, callbacks=[test], shuffle=False, verbose=verbose)
    rates = [float(rate) for rate in test.rates[: len(test.losses)]]
    result = RangeTestResult(rates, test.losses, test.smoothed, test.stopped, suggest(rates, test.smoothed),
                             round(time.perf_counter() - started, 1), out)

    os.makedirs(out, exist_ok=True)
    rows = ["step,learning_rate,loss,smoothed_loss"]
    steps_run = zip(rates, result.losses, result.smoothed)
    rows += [f"{step},{rate:.6g},{loss:.6g},{smooth:.6g}" for step, (rate, loss, smooth) in enumerate(steps_run, 1)]
    write_text(os.path.join(out, CSV_FILE), "\n".join(rows) + "\n")
    write_json(os.path.join(out, JSON_FILE), {
        "variant": config.variant,
        "config": config.to_dict(),
        "train_images": len(splits.train),
        "start_lr": start_lr, "end_lr": end_lr, "steps": steps, "steps_run": len(rates),
        "stopped": result.stopped,
        "lowest_smoothed_loss": min((value for value in result.smoothed if math.isfinite(value)), default=None),
        "suggestions": result.suggestions,
        "seconds": result.seconds,
    })
    plot_range_test(result, os.path.join(out, CHART_FILE),
                    f"{config.variant}: {config.optimizer} momentum {config.momentum:g}, batch {config.batch_size}, "
                    f"{len(splits.train):,} training images")
    return result


def plot_range_test(result: RangeTestResult, path: str, title: str) -> str:
    """Loss against learning rate (log scale): each step's loss, the smoothed loss and the two suggestions."""
    figure, axes = plt.subplots(figsize=(8, 4.8))
    axes.plot(result.rates, result.losses, color="0.75", linewidth=0.8, label="loss of each step")
    axes.plot(result.rates, result.smoothed, color="C0", linewidth=2, label="smoothed loss")
    for (name, rate), color in zip(result.suggestions.items(), ("C3", "C2")):
        if rate is not None:
            axes.axvline(rate, color=color, linestyle="--", label=f"{name}: {rate:.2g}")
    finite = [value for value in result.smoothed if math.isfinite(value)]
    if finite:  # the diverging tail would squash the curve
        axes.set_ylim(0.9 * min(finite), 1.3 * max(finite[: int(np.argmin(finite)) + 1]))
    axes.set_xscale("log")
    axes.set_xlabel("learning rate (log scale)")
    axes.set_ylabel("training loss")
    axes.set_title(f"{title}\nstopped: {result.stopped} after {len(result.rates)} steps", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize="small")
    return save_figure(figure, path)
