"""Train a variant end to end: data, model, `model.fit` with callbacks, and the run's files.

A run directory receives config.json, history.csv, last.keras, best.keras, curves.png and
metrics.json. Rerunning the same settings on an unfinished run directory resumes it from the
last finished epoch (Keras' BackupAndRestore).
"""

import datetime
import os
import platform
import sys
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_cnn.callbacks import Checkpoints, EpochTimer, EvaluateTrainSet, HistoryCSV, exponential_decay
from keras_cnn.config import DATASET_SHAPES, TrainConfig, resolve_config
from keras_cnn.errors import KerasCnnError
from keras_cnn.files import read_json, write_json
from keras_cnn.history import read_history, summarize
from keras_cnn.models import build_model
from keras_cnn.plots import plot_curves
from keras_cnn.rundir import BACKUP_FOLDER, CONFIG_FILE, HISTORY_FILE, METRICS_FILE, default_run_dir, prepare_run_dir
from pipelines.datasets import eval_dataset, train_dataset
from pipelines.preprocessing import ChannelStats, channel_stats
from pipelines.sources import Splits, load_splits


class TrainingDiverged(KerasCnnError):
    """The loss became NaN or infinite; the run's files are written up to that epoch."""


class TrainResult(NamedTuple):
    history: keras.callbacks.History  # the epochs of this call (a resumed run: since the resume)
    run_dir: str

    @property
    def metrics(self) -> dict:
        """metrics.json of the whole run."""
        return read_json(os.path.join(self.run_dir, METRICS_FILE))


def train(variant: str = "bn", *, run_dir: str | None = None, overwrite: bool = False, verbose="auto", **settings) -> TrainResult:
    """Train `variant` with `settings` overriding its configuration (see `TrainConfig`).

    Example: `history, run_dir = train("bn", epochs=30, data_dir="../shared/data/cifar10-jpeg")`.
    `run_dir` defaults to runs/<variant>; an unfinished run there resumes, a finished one is
    replaced only with `overwrite=True`. `verbose`: 0 silent, 1 progress bar, 2 one line per
    epoch, "auto" a bar on a terminal and lines otherwise.
    """
    return train_config(resolve_config(variant, **settings), run_dir=run_dir, overwrite=overwrite, verbose=verbose)


def train_config(config: TrainConfig, run_dir: str | None = None, overwrite: bool = False, verbose="auto") -> TrainResult:
    """`train` for a resolved `TrainConfig`."""
    run_dir = run_dir or default_run_dir(config)
    verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose
    say = print if verbose else (lambda *args: None)
    resuming = prepare_run_dir(run_dir, config, overwrite)

    keras.utils.set_random_seed(config.seed)
    splits = load_data(config)
    norm_stats = normalization_stats(config, splits)
    model = compiled_model(config, norm_stats, num_classes=len(splits.class_names))
    if not resuming:
        write_json(os.path.join(run_dir, CONFIG_FILE), run_record(config, splits.describe(), norm_stats))

    evaluated = "val" if splits.val is not None else "test"
    history_csv = HistoryCSV(os.path.join(run_dir, HISTORY_FILE), validation_name=evaluated)
    callbacks = [
        learning_rate_callback(config),
        EpochTimer(len(splits.train)),
        *([EvaluateTrainSet(eval_dataset(splits.train, config.batch_size))] if config.eval_train else []),
        keras.callbacks.TerminateOnNaN(),
        history_csv,  # after the callbacks that add columns, before those that save state
        Checkpoints(run_dir, history_csv),
        # Last, so that an epoch is backed up only once its row and checkpoints are written.
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, BACKUP_FOLDER), double_checkpoint=True),
    ]
    held_out = f"{len(splits.val)} validation / " if splits.val is not None else ""
    say(
        f"{'Resuming' if resuming else 'Training'} {config.variant} on {splits.source}: {len(splits.train)} train / "
        f"{held_out}{len(splits.test)} test images, {len(splits.class_names)} classes, "
        f"{sum(int(np.prod(w.shape)) for w in model.trainable_weights):,} trainable weights; "
        f"{config.epochs} epochs into {run_dir}"
    )
    history = model.fit(
        train_dataset(splits.train, config.batch_size, config.seed),
        validation_data=eval_dataset(splits.val if splits.val is not None else splits.test, config.batch_size),
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the pipeline shuffles
        verbose=verbose,
    )

    rows = read_history(os.path.join(run_dir, HISTORY_FILE))
    metrics = summarize(rows, split=evaluated)
    if splits.val is not None:
        metrics |= evaluate_test_split(model, run_dir, eval_dataset(splits.test, config.batch_size))
    write_json(os.path.join(run_dir, METRICS_FILE), metrics)
    plot_curves(rows, os.path.join(run_dir, "curves.png"), title=f"{config.variant} ({run_dir})")
    if not np.isfinite(rows[-1]["loss"]):
        raise TrainingDiverged(
            f"training diverged: the loss became {rows[-1]['loss']} in epoch {rows[-1]['epoch']}; lower --lr "
            f"(now {config.lr}); the files in {run_dir} hold the epochs before"
        )
    best = f"best {metrics[f'best_{evaluated}_accuracy']:.2%} at epoch {metrics['best_epoch']}"
    if evaluated == "val":
        best = f"validation {best}; best checkpoint on test {metrics['best_test_accuracy']:.2%}"
    say(
        f"Test accuracy {metrics['final_test_accuracy']:.2%} ({best}), train accuracy "
        f"{metrics['final_train_accuracy']:.2%}; {metrics['epochs']} epoch{'s' if metrics['epochs'] != 1 else ''} "
        f"in {metrics['wall_seconds'] / 60:.1f} min; results in {run_dir}"
    )
    return TrainResult(history, run_dir)


def load_data(config: TrainConfig) -> Splits:
    """The splits `config` asks for (source, subset, held-out validation), decoded into memory."""
    return load_splits(
        config.dataset,
        DATASET_SHAPES[config.dataset],
        data_dir=config.data_dir,
        limit=config.limit,
        seed=config.seed,
        test_fraction=config.test_fraction,
        val_split=config.val_split,
    )


def normalization_stats(config: TrainConfig, splits: Splits) -> ChannelStats | None:
    """Per-channel statistics of the training split, when the config normalizes with them."""
    return channel_stats(splits.train.images) if config.normalization == "train" else None


def compiled_model(config: TrainConfig, norm_stats: ChannelStats | None, num_classes: int) -> keras.Sequential:
    """The variant's model, compiled with its optimizer, the cross-entropy loss, and top-1 (and top-5) accuracy."""
    model = build_model(config, norm_stats, num_classes=num_classes)
    top5 = [keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy")] if num_classes > 5 else []
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=config.lr, momentum=config.momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy", *top5],
    )
    return model


def learning_rate_callback(config: TrainConfig) -> keras.callbacks.Callback:
    """Sets the learning rate at the start of every epoch (and logs it as `learning_rate`)."""
    return keras.callbacks.LearningRateScheduler(exponential_decay(config.lr, config.lr_decay))


def evaluate_test_split(model: keras.Model, run_dir: str, test_data) -> dict:
    """Test-split results of the final model and of best.keras (chosen on the validation split)."""
    final = model.evaluate(test_data, verbose=0, return_dict=True)
    best = keras.saving.load_model(os.path.join(run_dir, "best.keras")).evaluate(test_data, verbose=0, return_dict=True)
    return {
        "final_test_accuracy": final["accuracy"],
        "final_test_loss": final["loss"],
        "best_test_accuracy": best["accuracy"],
    }


def run_record(config: TrainConfig, data: dict, norm_stats) -> dict:
    """config.json: every resolved setting, the data and its statistics, library versions, devices."""
    import tensorflow_datasets as tfds

    return {
        "config": config.to_dict(),
        "data": data | ({"normalization_stats": norm_stats.to_dict()} if norm_stats else {}),
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "tensorflow_datasets": tfds.__version__,
            "numpy": np.__version__,
        },
        "platform": {
            "machine": platform.platform(),
            "devices": [device.name for device in tf.config.list_logical_devices()],
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        },
    }
