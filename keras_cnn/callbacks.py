"""Callbacks of a training run, in the order `fit` must call them.

Keras' own callbacks do the learning-rate schedule (see optimization.py) and the NaN check.
Six are ours: `EpochTimer` and `EvaluateTrainSet` add columns to the epoch's logs, `EvaluateAtStart`
logs an epoch 0, and `HistoryCSV`, `Checkpoints` and `TrainingState` replace CSVLogger,
ModelCheckpoint and BackupAndRestore, which fall short on resuming and on crash-safety (see their docstrings).
"""

import json
import math
import os
import shutil
import time

import keras
import numpy as np

from keras_cnn.files import TMP_PREFIX, atomic_write, read_json, writing
from keras_cnn.history import read_history, write_history


def logged(value) -> float:
    """A logged metric as history.csv keeps it: 6 significant digits (float32 values: more would be noise)."""
    return float(f"{float(value):.6g}")


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds`, `train_seconds` and `train_images_per_second` to each epoch's logs.

    The training part ends where validation begins, so the figure counts the training steps
    (input pipeline and on-device augmentation included) and not the evaluation.
    """

    def __init__(self, train_images: int):
        super().__init__()
        self.train_images = train_images

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.train_end = None

    def on_test_begin(self, logs=None):
        if self.train_end is None:
            self.train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        train_seconds = (self.train_end or now) - self.epoch_start
        logs["epoch_seconds"] = round(now - self.epoch_start, 3)
        logs["train_seconds"] = round(train_seconds, 3)
        logs["train_images_per_second"] = round(self.train_images / train_seconds, 1)


class EvaluateTrainSet(keras.callbacks.Callback):
    """Adds `train_eval_loss`/`train_eval_accuracy`/...: the training split in inference mode at epoch end.

    The `accuracy` Keras logs for training is a running average over the epoch, while the
    weights change and dropout and augmentation are on; this is the same model the test split
    sees, on the training images.
    """

    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset

    def on_epoch_end(self, epoch, logs=None):
        results = self.model.evaluate(self.dataset, verbose=0, return_dict=True)
        logs.update({f"train_eval_{name}": float(value) for name, value in results.items()})


class EvaluateAtStart(keras.callbacks.Callback):
    """history.csv's epoch 0: the network before its first step, on the training split and the evaluated split.

    Both in inference mode, as no step has run and there is no running average to log: the training
    split's values go to the `train_eval_*` columns, the evaluated split's to `test_*` (or `val_*`),
    and `loss`/`accuracy` stay empty. Pass `history` None on the workers that write no files (the
    evaluation is a collective operation, so every worker runs it). Call it only when a run starts
    at epoch 0: the untrained network is then the same, so a restart rewrites the same row.
    """

    def __init__(self, train_data, evaluated_data, history: "HistoryCSV | None"):
        super().__init__()
        self.train_data, self.evaluated_data, self.history = train_data, evaluated_data, history

    def on_train_begin(self, logs=None):
        train = self.model.evaluate(self.train_data, verbose=0, return_dict=True)
        evaluated = self.model.evaluate(self.evaluated_data, verbose=0, return_dict=True)
        if self.history is None:
            return
        row = {"epoch": 0, "learning_rate": None}
        row |= {f"train_eval_{name}": logged(value) for name, value in train.items()}
        row |= {f"{self.history.validation_name}_{name}": logged(value) for name, value in evaluated.items()}
        self.history.rows = [row, *(old for old in self.history.rows if old["epoch"] > 0)]
        write_history(self.history.path, self.history.rows)


class HistoryCSV(keras.callbacks.Callback):
    """history.csv: one row per finished epoch, rewritten atomically after every epoch.

    Not keras.callbacks.CSVLogger, which appends: a run resumed by BackupAndRestore would repeat
    the epochs redone after the last backup, and a crash could leave a torn line. Here the
    first epoch of a (resumed) run drops the rows from that epoch on, so each epoch appears
    once. Epochs count from 1, as Keras prints them, and `val_` metrics are named after the
    split they measure (`test_` for the test split).
    """

    def __init__(self, path: str, validation_name: str = "test"):
        super().__init__()
        self.path = path
        self.validation_name = validation_name
        self.rows = read_history(path)
        self.started = False

    def on_epoch_begin(self, epoch, logs=None):
        if not self.started:
            self.rows = [row for row in self.rows if row["epoch"] <= epoch]
            self.started = True

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "learning_rate": None}  # first column, filled from the logs below
        for key, value in logs.items():
            name = f"{self.validation_name}_{key[4:]}" if key.startswith("val_") else key
            row[name] = logged(value)
        self.rows.append(row)
        write_history(self.path, self.rows)


class Checkpoints(keras.callbacks.Callback):
    """last.keras after every epoch; with a validation split, best.keras whenever its `metric` reaches a new maximum.

    The test split never chooses a checkpoint: when the evaluation split is the test split
    (no --val-split), only last.keras is written. Not keras.callbacks.ModelCheckpoint, which saves
    in place (a crash mid-save destroys the previous good file) and forgets the best value when a
    run resumes. Here each file is written beside the target and moved over it, and the best value
    so far comes from the rows of `history` that the resumed run keeps.
    """

    def __init__(self, folder: str, history: HistoryCSV, metric: str = "accuracy"):
        super().__init__()
        self.folder = folder
        self.history = history
        self.metric = metric
        self.chooses_best = history.validation_name == "val"
        self.best = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.best is None:  # first epoch of this fit: HistoryCSV has dropped the rows to redo
            column = f"{self.history.validation_name}_{self.metric}"
            values = [row.get(column) for row in self.history.rows if row["epoch"] > 0]  # epoch 0 has no checkpoint
            self.best = max((v for v in values if v is not None and math.isfinite(v)), default=-math.inf)

    def on_epoch_end(self, epoch, logs=None):
        self._save("last.keras")
        value = logs.get(f"val_{self.metric}")
        # As history.csv holds it: a resumed run's best so far comes from there, and must compare alike.
        if self.chooses_best and value is not None and logged(value) > self.best:
            self.best = logged(value)
            self._save("best.keras")

    def _save(self, name: str) -> None:
        atomic_write(os.path.join(self.folder, name), self.model.save)


class AveragedWeights(keras.callbacks.SwapEMAWeights):
    """Keras' SwapEMAWeights(swap_on_epoch=True): evaluations and everything saved at an epoch's end see the average.

    Keras' callback starts believing the model holds the raw weights. A resumed run's weights
    were saved at an epoch's end, with the average swapped in, so there it starts the other way.
    """

    def __init__(self, resumed: bool):
        super().__init__(swap_on_epoch=True)
        self._ema_weights_in_model = resumed


class TrainingState(keras.callbacks.Callback):
    """Saves, after every epoch, everything that decides the next one; restores it when a run resumes.

    Not keras.callbacks.BackupAndRestore, which restores the weights and the optimizer but not the
    random streams: the seed generators of the augmentation and dropout layers (which
    `save_weights` leaves out) restart from their first draw in a new process, so a resumed run
    drifts away from an uninterrupted one. Here `folder`/epoch-NNNN/ holds the weights with the
    optimizer state (step count, momentum, learning rate) and the seed generators' states; it is
    written under a temporary name and renamed, so a crash leaves the previous epoch's state whole.
    The data order, the other random stream, is a function of the epoch (`train_dataset`): start
    the dataset and `fit(initial_epoch=...)` at `epochs_done()`. The last epoch's state stays after
    training: a run that failed to write its results resumes to write them, and a rerun with more
    epochs extends the run from it.
    """

    WEIGHTS, STATE = "weights.weights.h5", "state.json"

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def epochs_done(self) -> int:
        """Epochs finished by an earlier, interrupted fit into this folder (0: none)."""
        saved = self._saved()
        return read_json(os.path.join(saved, self.STATE))["epochs_done"] if saved else 0

    def on_train_begin(self, logs=None):
        saved = self._saved()
        if saved is None:
            return
        if not self.model.optimizer.built:  # Keras builds it at the first step: too late to load its state into
            with self.model.distribute_strategy.scope():
                self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(saved, self.WEIGHTS))
        states = read_json(os.path.join(saved, self.STATE))["seed_states"]
        variables = seed_state_variables(self.model)
        if len(states) != len(variables):
            raise ValueError(f"{saved} holds {len(states)} seed states, the model has {len(variables)}")
        for variable, state in zip(variables, states):
            variable.assign(np.asarray(state, dtype=variable.dtype))

    def on_epoch_end(self, epoch, logs=None):
        name = f"epoch-{epoch + 1:04d}"
        tmp = os.path.join(self.folder, TMP_PREFIX + name)
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            with writing(os.path.join(self.folder, name)):
                os.makedirs(tmp)
                self.model.save_weights(os.path.join(tmp, self.WEIGHTS))
                seed_states = [np.asarray(variable.numpy()).tolist() for variable in seed_state_variables(self.model)]
                with open(os.path.join(tmp, self.STATE), "w", encoding="utf-8") as f:
                    json.dump({"epochs_done": epoch + 1, "seed_states": seed_states}, f)
                os.replace(tmp, os.path.join(self.folder, name))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # a failed write gives its space back; the previous state stays
        for old in os.listdir(self.folder):  # the previous epochs' states, and leftovers of interrupted writes
            if old != name:
                shutil.rmtree(os.path.join(self.folder, old), ignore_errors=True)

    def _saved(self) -> str | None:
        names = sorted(name for name in os.listdir(self.folder)
                       if name.startswith("epoch-")) if os.path.isdir(self.folder) else []
        return os.path.join(self.folder, names[-1]) if names else None


def seed_state_variables(model: keras.Model) -> list:
    """The states of the model's random seed generators: `model.variables` beyond `model.weights`."""
    weights = {id(weight) for weight in model.weights}
    return [variable for variable in model.variables if id(variable) not in weights]
