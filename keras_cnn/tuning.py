"""Hyperparameter search with keras-tuner: learning rate, momentum, decay, dropout and batch size of a variant.

A trial is the variant's TrainConfig with the trial's values put in (`CnnHyperModel.trial_config`),
trained by the same pieces as `train`: `compiled_model`, the tf.data pipelines and the
learning-rate callback. The data is loaded and decoded once per process, not per trial.

keras-tuner keeps its own state in OUT/keras_tuner, so rerunning the same command resumes an
interrupted search (finished trials are kept; the interrupted one runs again). Distributed
search is keras-tuner's chief/worker mode (KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP,
KERASTUNER_ORACLE_PORT): the chief hands out trials and writes the reports, workers train.
"""

import contextlib
import dataclasses
import logging
import math
import os
import shutil
import sys
import time
from typing import NamedTuple

import keras
import keras_tuner

from keras_cnn.config import TrainConfig, resolve_config
from keras_cnn.console import keras_verbosity
from keras_cnn.errors import ConfigError, KerasCnnError, RunDirError
from keras_cnn.files import read_json, write_json
from keras_cnn.formatting import setting
from keras_cnn.locks import folder_lock
from keras_cnn.optimization import learning_rate_callback, uses_soft_labels
from keras_cnn.rundir import TENSORBOARD_FOLDER, retrain_run_dir
from keras_cnn.search_space import SEARCHABLE, TRIAL_UNUSED, TUNERS, FloatRange, Space, search_space
from keras_cnn.training import (
    compiled_model,
    conv1_whitening,
    load_data,
    normalization_stats,
    tensorboard_callback,
    zca_stats,
)
from keras_cnn.tuning_report import write_reports
from pipelines.datasets import eval_dataset, steps_per_epoch, train_dataset

# What Keras logs for `validation_data`: the accuracy on the --val-split images, which tune requires.
OBJECTIVE = "val_accuracy"
PROJECT = "keras_tuner"  # keras-tuner's state: OUT/keras_tuner/oracle.json, trial_*/...
SEARCH_FILE = "search.json"  # the search's settings, to resume only the same search
HYPERBAND_FACTOR = 3  # keras-tuner's default: keep the best third of each round


class _NoRetracingWarning(logging.Filter):
    """Drops TensorFlow's "tf.function retracing" warning: every trial builds a new model, so it is expected."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


NO_RETRACING_WARNING = _NoRetracingWarning()


class TuningError(KerasCnnError):
    """A search whose trials all failed, or that keras-tuner stopped after consecutive failures."""


class TuneResult(NamedTuple):
    out: str
    best: dict | None  # best.json (None on a worker, which writes no reports)
    trials: list[dict]  # trials.csv rows (empty on a worker)


def tune(
    variant: str = "bn",
    *,
    tuner: str = "random",
    max_trials: int = 20,
    space: dict | None = None,
    out: str | None = None,
    overwrite: bool = False,
    verbose="auto",
    tensorboard: bool = True,
    tensorboard_histograms: bool = False,
    **settings,
) -> TuneResult:
    """Search `space` for `variant`, each trial `settings["epochs"]` epochs (hyperband: at most that many).

    `space` overrides the default ranges, e.g. {"lr": (1e-3, 1e-1), "batch_size": (64, 128)};
    a range with equal ends, or a searchable setting given in `settings`, is fixed. Results go to
    `out` (default tuning/<variant>-<tuner>): trials.csv, summary.md, best.json, objective.png, and
    (unless `tensorboard=False`) TensorBoard logs in out/tensorboard/<trial>/, with each trial's values.
    """
    role = distributed_role()
    if tuner not in TUNERS:
        raise ConfigError(f"unknown tuner '{tuner}': choose one of {', '.join(TUNERS)}")
    if max_trials < 1:
        raise ConfigError(f"--max-trials must be at least 1, got {max_trials}")
    base = resolve_config(variant, **settings)
    refuse_unused(base)
    space, pinned = search_space(space or {}, base, fixed=set(settings) & set(SEARCHABLE))
    base = dataclasses.replace(base, **pinned)
    if not base.val_split:
        raise ConfigError(
            "tune chooses hyperparameters, and nothing is chosen on the test split: add --val-split 0.1 to hold out "
            "a tenth of the training images for the choice"
        )
    out = out or os.path.join("tuning", f"{variant}-{tuner}")
    record = {
        "tuner": tuner,
        "max_trials": max_trials,
        "objective": OBJECTIVE,
        "space": {name: spec.to_dict() if isinstance(spec, FloatRange) else list(spec) for name, spec in space.items()},
        "config": base.to_dict(),
    }
    with folder_lock(out, "--out") if role != "worker" else contextlib.nullcontext():
        prepare_out(out, record, overwrite=overwrite and role != "worker")
        verbose = keras_verbosity(verbose)

        logging.getLogger("tensorflow").addFilter(NO_RETRACING_WARNING)  # adding the same filter twice is a no-op
        keras.utils.set_random_seed(base.seed)
        splits = load_data(base)
        hypermodel = CnnHyperModel(base, space, splits)
        kt_tuner = make_tuner(tuner, hypermodel, base, max_trials, out)
        print(start_line(role, tuner, base, splits, space, max_trials, out), flush=True)
        for note in splits.notes:
            print(note, flush=True)
        stopped = None
        try:
            # keras-tuner gives each trial a copy of the TensorBoard callback, logging into tensorboard/<trial>/
            # with the trial's values for TensorBoard's HParams tab.
            logs = [tensorboard_callback(os.path.join(out, TENSORBOARD_FOLDER), tensorboard_histograms)
                    ] if tensorboard else []
            kt_tuner.search(epochs=base.epochs, verbose=verbose, callbacks=logs)
        except RuntimeError as error:  # keras-tuner's stop after max_consecutive_failed_trials
            if not str(error).startswith("Number of consecutive failures"):
                raise
            stopped = error

        if role == "worker":
            return finish_worker(kt_tuner)
        return finish_search(kt_tuner, base, space, record, splits, out, stopped)


def refuse_unused(base: TrainConfig) -> None:
    """One line for a setting that a trial would ignore (a trial trains on one device and logs no extra evaluation)."""
    given = [name for name, value in TRIAL_UNUSED.items() if getattr(base, name) != value]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(f"tune does not use {flags}: a trial trains on one device and evaluates only the validation "
                          f"split; leave {'them' if len(given) > 1 else 'it'} out")


def finish_search(kt_tuner, base: TrainConfig, space: Space, record: dict, splits, out: str, stopped) -> TuneResult:
    """Write the reports from the oracle's trials; name failed trials, and raise when none completed."""
    trials = sorted(kt_tuner.oracle.trials.values(), key=lambda trial: int(trial.trial_id))
    completed = [trial for trial in trials if trial.status == "COMPLETED"]
    unfinished = [trial for trial in trials if trial.status != "COMPLETED"]
    # Not oracle.get_best_trials: with no completed trial it returns a failed one.
    best_trial = max(completed, key=lambda trial: trial.score, default=None)
    best_config = retrain_config(base, space, best_trial.hyperparameters.values) if best_trial else None
    rows, best = write_reports(out, trials, record, splits, best_trial, best_config)
    first_error = last_line(next((trial.message for trial in unfinished if trial.message), None) or str(stopped or ""))
    if unfinished:
        print(f"warning: {len(unfinished)} of {len(trials)} trials failed or did not finish "
              f"({', '.join(trial.trial_id for trial in unfinished)}); first error: {first_error}", file=sys.stderr)
    if stopped or not completed:
        why = "keras-tuner stopped the search after 3 failed trials in a row" if stopped else "no trial completed"
        raise TuningError(f"{why}; first error: {first_error} (tracebacks in {out}/{PROJECT}/trial_*/trial.json)")
    values = ", ".join(f"{name}={setting(best['config'][name], digits=4)}" for name in space)
    print(f"Best trial {best['search']['trial']}: {best['search']['best_value']:.4f} "
          f"validation accuracy ({values}); "
          f"retrain it: python train_keras.py train --config {os.path.join(out, 'best.json')} "
          f"(into {retrain_run_dir(out)})")
    return TuneResult(out, best, rows)


def retrain_config(base: TrainConfig, space: Space, values: dict) -> TrainConfig:
    """best.json's settings: the search's, the trial's values, and the variant's full epochs on all the data."""
    return dataclasses.replace(
        base, **{name: values[name] for name in space}, epochs=resolve_config(base.variant).epochs, limit=None
    )


class CnnHyperModel(keras_tuner.HyperModel):
    """Trials of one variant: `build` compiles its model with the trial's settings, `fit` trains it.

    The batch size is a hyperparameter of `fit` (keras-tuner's way to tune training settings): it
    batches the in-memory splits, loaded once for all trials.
    """

    def __init__(self, base: TrainConfig, space: Space, splits):
        super().__init__(name=base.variant)
        self.base, self.space, self.splits = base, space, splits
        self.validation = splits.val  # tune refuses to run without a validation split
        self.norm_stats = normalization_stats(base, splits)
        self.zca = zca_stats(base, splits, self.norm_stats)  # settings that no trial changes: computed once
        # Computed whenever a trial may whiten conv1; a trial that does not ignores it.
        self.conv1_kernel = conv1_whitening(dataclasses.replace(base, whiten_conv1=True), splits, self.norm_stats) \
            if base.whiten_conv1 or "whiten_conv1" in space else None
        self.last_result: dict | None = None

    def trial_config(self, hp: keras_tuner.HyperParameters) -> TrainConfig:
        """The base settings with this trial's values (declared in `hp` on first use)."""
        values = {}
        for name, spec in self.space.items():
            if isinstance(spec, FloatRange):
                values[name] = hp.Float(name, spec.low, spec.high, sampling="log" if spec.log else "linear")
            else:
                values[name] = hp.Choice(name, list(spec))
        return dataclasses.replace(self.base, **values)

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        config = self.trial_config(hp)
        keras.utils.set_random_seed(config.seed)  # every trial starts from the same weights and shuffling
        model = compiled_model(config, self.norm_stats, len(self.splits.class_names), zca=self.zca,
                               conv1_kernel=self.conv1_kernel, train_size=len(self.splits.train))
        # Built now, the optimizer's state (momentum, step count) is restored with the weights when
        # hyperband continues a trial; unbuilt, Keras skips it and the trial restarts its momentum.
        model.optimizer.build(model.trainable_variables)
        return model

    def fit(self, hp, model, *, epochs: int, initial_epoch: int = 0, callbacks=(), verbose=2, **kwargs) -> dict:
        """Train and return the best epoch's metrics; keras-tuner passes `epochs` (hyperband: and `initial_epoch`)."""
        config = self.trial_config(hp)
        one_hot = len(self.splits.class_names) if uses_soft_labels(config) else None
        start = time.perf_counter()
        history = model.fit(
            train_dataset(self.splits.train, config.batch_size, config.seed, one_hot, initial_epoch, epochs,
                          alternating_flips="alt-flip" in config.augment),
            steps_per_epoch=steps_per_epoch(len(self.splits.train), config.batch_size),
            validation_data=eval_dataset(self.validation, config.batch_size, one_hot),
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=[learning_rate_callback(config), keras.callbacks.TerminateOnNaN(), *callbacks],
            shuffle=False,  # the pipeline orders each epoch
            verbose=verbose,
        )
        scores = history.history.get(OBJECTIVE, [])
        finite = [epoch for epoch, score in enumerate(scores) if math.isfinite(score)]
        if not finite:
            raise keras_tuner.errors.FailedTrialError(
                f"training diverged (loss {history.history['loss'][-1]}) before the first evaluation: "
                "lower the learning rate"
            )
        best = max(finite, key=scores.__getitem__)
        # Plain floats: the metrics travel to a distributed search's chief over gRPC.
        self.last_result = {
            OBJECTIVE: float(scores[best]),
            "val_loss": float(history.history["val_loss"][best]),
            "best_epoch": float(initial_epoch + best + 1),
            "epochs_run": float(len(history.history["loss"])),
            "seconds": round(time.perf_counter() - start, 1),
        }
        return self.last_result


class _TrialLines:
    """Per-trial console lines keras-tuner leaves out: failures at once, and a worker's own trials.

    In one process (and on a chief) keras-tuner's oracle prints each trial's values and result;
    a worker's oracle is the chief's, so the worker would otherwise print only Keras' epochs.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.worker = distributed_role() == "worker"
        self.statuses: dict[str, str] = {}

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        # A trial interrupted earlier runs again from its start: so do its TensorBoard logs.
        shutil.rmtree(os.path.join(self.directory, TENSORBOARD_FOLDER, trial.trial_id), ignore_errors=True)
        if self.worker:
            values = ", ".join(f"{name}={setting(value, digits=4)}"
                               for name, value in trial.hyperparameters.values.items() if not name.startswith("tuner/"))
            print(f"[{self.tuner_id}] trial {trial.trial_id}: {values}", flush=True)

    def on_trial_end(self, trial):
        self.statuses[trial.trial_id] = trial.status
        if trial.status != keras_tuner.engine.trial.TrialStatus.COMPLETED:
            print(f"trial {trial.trial_id} failed: {last_line(trial.message)}", file=sys.stderr, flush=True)
        elif self.worker:
            result = self.hypermodel.last_result
            print(f"[{self.tuner_id}] trial {trial.trial_id} completed: best validation "
                  f"accuracy {result[OBJECTIVE]:.4f} at epoch {int(result['best_epoch'])}, {result['seconds']:.0f} s",
                  flush=True)
        super().on_trial_end(trial)


class RandomSearch(_TrialLines, keras_tuner.RandomSearch):
    pass


class BayesianOptimization(_TrialLines, keras_tuner.BayesianOptimization):
    pass


class Hyperband(_TrialLines, keras_tuner.Hyperband):
    pass


def make_tuner(kind: str, hypermodel: CnnHyperModel, base: TrainConfig, max_trials: int, out: str) -> keras_tuner.Tuner:
    """The keras-tuner tuner of `kind`, its state in OUT/keras_tuner (reloaded when it exists)."""
    common = dict(
        hypermodel=hypermodel,
        objective=keras_tuner.Objective(OBJECTIVE, direction="max"),
        seed=base.seed + 1,  # keras-tuner treats seed 0 as "no seed" and picks a random one
        directory=out,
        project_name=PROJECT,
        overwrite=False,  # resume; prepare_out has already cleared the folder on --overwrite
    )
    if kind == "random":
        return RandomSearch(max_trials=max_trials, **common)
    if kind == "bayesian":
        # keras-tuner's default, 3 random trials per hyperparameter (15 here), would leave most of
        # a small budget to chance: half the trials are random, the rest follow the Gaussian process.
        initial = max(2, min(3 * len(hypermodel.space), max_trials // 2))
        return BayesianOptimization(max_trials=max_trials, num_initial_points=initial, **common)
    tuner = Hyperband(max_epochs=base.epochs, factor=HYPERBAND_FACTOR, **common)
    # Hyperband sizes its brackets from max_epochs and has no max_trials argument; the base
    # Oracle still stops at max_trials when it is set, which caps the search like the others.
    tuner.oracle.max_trials = max_trials
    return tuner


def prepare_out(out: str, record: dict, overwrite: bool) -> None:
    """Create OUT for a new search, or check that it holds this search (same settings) to resume.

    --max-trials may change: a larger one extends a finished search. --overwrite replaces a search,
    never a folder that holds something else.
    """
    path = os.path.join(out, SEARCH_FILE)
    if os.path.isfile(out):
        raise RunDirError(f"--out {out} is a file: choose a folder")
    if os.path.isdir(out) and os.listdir(out):
        if not os.path.exists(path):
            raise RunDirError(f"{out} is not empty and holds no search (no {SEARCH_FILE}): choose another --out")
        if overwrite:
            shutil.rmtree(out)
        else:
            stored = _flat(read_json(path))
            changed = [
                f"{key} {stored.get(key)!r} -> {value!r}"
                for key, value in _flat(record).items()
                if key != "max_trials" and stored.get(key) != value
            ]
            if changed:
                raise RunDirError(
                    f"{out} holds a search with other settings ({'; '.join(changed)}): rerun with its settings to "
                    f"resume it, or pass --overwrite or another --out"
                )
    os.makedirs(out, exist_ok=True)
    write_json(path, record)


def _flat(record: dict) -> dict:
    """{"config": {"lr": ...}} -> {"config.lr": ...}, so a changed setting is named precisely."""
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= {f"{key}.{name}": inner for name, inner in _flat(value).items()}
        else:
            flat[key] = value
    return flat


def distributed_role() -> str:
    """"chief" or "worker" of a keras-tuner distributed search (its environment variables), else "single"."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    missing = [name for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(name)]
    if missing:
        raise ConfigError(
            f"KERASTUNER_ORACLE_IP is set, so this is a distributed search: also set {' and '.join(missing)}"
        )
    # keras-tuner's own rule: a tuner id containing "chief" is the chief.
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def finish_worker(kt_tuner) -> TuneResult:
    """A worker's end: its trials (the chief's oracle holds them all and writes the reports)."""
    ran = kt_tuner.statuses
    done = [trial_id for trial_id, status in ran.items() if status == "COMPLETED"]
    print(f"[{kt_tuner.tuner_id}] finished: {len(done)} of {len(ran)} trials completed "
          f"({', '.join(done) or 'none'}); the chief writes the reports")
    if ran and not done:
        raise TuningError(f"every trial of worker {kt_tuner.tuner_id} failed: see the errors above")
    return TuneResult(kt_tuner.directory, None, [])


def start_line(role, tuner, base, splits, space, max_trials, out) -> str:
    held_out = f"{len(splits.val)} validation images (held out of the training split; the test split is not used)"
    epochs = f"{base.epochs} epoch{'s' if base.epochs > 1 else ''} each"
    epochs += " at most (hyperband)" if tuner == "hyperband" else ""
    who = {"single": "", "chief": "chief: ", "worker": f"worker {os.environ.get('KERASTUNER_TUNER_ID')}: "}[role]
    return (
        f"{who}Tuning {base.variant} with {tuner} search, up to {max_trials} trials, {epochs}; searching "
        f"{', '.join(space) or 'nothing'}; {len(splits.train)} training images from {splits.source}; "
        f"trials are ranked by their best accuracy on {held_out}; results in {out}"
    )


def last_line(message: str | None) -> str:
    lines = [line.strip() for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"
