"""Train a variant end to end: data, model, `model.fit` with callbacks, and the run's files.

A run directory receives config.json, history.csv, last.keras (best.keras too, chosen on the
validation split, when there is one), curves.png, metrics.json and tensorboard/ (Keras'
TensorBoard logs). Rerunning the same settings on an
unfinished run directory resumes it from the last finished epoch, with everything that decides
the next epoch restored (`TrainingState`), so that it ends as an uninterrupted run would.
"""

import contextlib
import datetime
import math
import os
import platform
import shutil
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from keras_cnn import __version__
from keras_cnn.callbacks import (
    AveragedWeights,
    Checkpoints,
    EpochTimer,
    EvaluateAtStart,
    EvaluateTrainSet,
    HistoryCSV,
    TrainingState,
)
from keras_cnn.config import DATASET_SHAPES, LAB_MEAN, LAB_STD, TrainConfig, resolve_config
from keras_cnn.console import keras_verbosity
from keras_cnn.errors import KerasCnnError
from keras_cnn.files import NO_SPACE, WriteError, read_json, write_json
from keras_cnn.history import read_history, summarize
from keras_cnn.locks import folder_lock
from keras_cnn.models import CONV1_FILTERS, build_model, compute_dtype
from keras_cnn.optimization import (
    PER_EPOCH_SCHEDULES,
    learning_rate_callback,
    loss_and_metrics,
    make_optimizer,
    uses_soft_labels,
)
from keras_cnn.platform import jit_setting, make_strategy, scaled_for_replicas, speed_hint, worker_index
from keras_cnn.plots import plot_curves
from keras_cnn.rundir import (
    BACKUP_FOLDER,
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    TENSORBOARD_FOLDER,
    RunState,
    default_run_dir,
    prepare_run_dir,
)
from pipelines.datasets import eval_dataset, steps_per_epoch, train_dataset
from pipelines.preprocessing import (
    ChannelStats,
    PixelStats,
    channel_stats,
    patch_whitening_kernel,
    pixel_stats,
    zca_whitening,
)
from pipelines.sources import Split, Splits, load_splits


class TrainingDiverged(KerasCnnError):
    """The loss became NaN or infinite; the run's files are written up to that epoch."""


class TrainResult(NamedTuple):
    history: keras.callbacks.History  # the epochs of this call (a resumed run: since the resume)
    run_dir: str

    @property
    def metrics(self) -> dict:
        """metrics.json of the whole run."""
        return read_json(os.path.join(self.run_dir, METRICS_FILE))


def train(
    variant: str = "bn",
    *,
    run_dir: str | None = None,
    overwrite: bool = False,
    verbose="auto",
    tensorboard: bool = True,
    tensorboard_histograms: bool = False,
    **settings,
) -> TrainResult:
    """Train `variant` with `settings` overriding its configuration (see `TrainConfig`).

    Example: `history, run_dir = train("bn", epochs=30, data_dir="../shared/data/cifar10-jpeg")`.
    `run_dir` defaults to runs/<variant>; an unfinished run there resumes, a finished one is
    replaced only with `overwrite=True`. `verbose`: 0 silent, 1 progress bar, 2 one line per
    epoch, "auto" a bar on a terminal and lines otherwise. `tensorboard`: write TensorBoard logs
    into run_dir/tensorboard/ (with `tensorboard_histograms`, also the weights' histograms).
    """
    return train_config(resolve_config(variant, **settings), run_dir=run_dir, overwrite=overwrite, verbose=verbose,
                        tensorboard=tensorboard, tensorboard_histograms=tensorboard_histograms)


def train_config(
    config: TrainConfig,
    run_dir: str | None = None,
    overwrite: bool = False,
    verbose="auto",
    tensorboard: bool = True,
    tensorboard_histograms: bool = False,
) -> TrainResult:
    """`train` for a resolved `TrainConfig`.

    The run folder is locked while training (by the chief of a multi-worker run): a second
    process that would write it is refused with `FolderInUse`.
    """
    run_dir = run_dir or default_run_dir(config)
    chief = worker_index() == 0  # only the chief of a multi-worker run writes the run's files
    with folder_lock(run_dir) if chief else contextlib.nullcontext():
        return _train(config, run_dir, overwrite, verbose, tensorboard, tensorboard_histograms, chief)


class Setup(NamedTuple):
    """What a run trains: its data, its settings scaled to the replicas, and its compiled model."""

    splits: Splits
    norm_stats: ChannelStats | PixelStats | None
    scaled: TrainConfig
    model: keras.Sequential
    one_hot: int | None  # the number of classes when the labels are one-hot (mixing augmentations), else None

    @property
    def evaluated(self) -> str:
        """The split evaluated after every epoch: "val" with a validation split, else "test"."""
        return "val" if self.splits.val is not None else "test"

    def eval_data(self, split: Split) -> tf.data.Dataset:
        return eval_dataset(split, self.scaled.batch_size, self.one_hot)


def _train(config: TrainConfig, run_dir: str, overwrite: bool, verbose, tensorboard: bool,
           tensorboard_histograms: bool, chief: bool) -> TrainResult:
    verbose = keras_verbosity(verbose)
    strategy = make_strategy(config)  # first: multi-worker needs it before other TensorFlow work
    say = print if verbose and chief else (lambda *args: None)
    state = prepare_run_dir(run_dir, config, overwrite) if chief else _worker_folder(run_dir)
    setup = _setup(config, strategy)
    if chief and state == "new":
        _write_record(config, setup, strategy, run_dir)
    history_csv = HistoryCSV(os.path.join(run_dir, HISTORY_FILE), validation_name=setup.evaluated)
    training_state = TrainingState(backup_folder(run_dir))
    first_epoch = training_state.epochs_done()  # 0 unless an interrupted run saved its state
    callbacks = _callbacks(config, setup, run_dir, first_epoch, history_csv, training_state, chief,
                           tensorboard, tensorboard_histograms)
    for line in _start_lines(config, setup, strategy, state, first_epoch, run_dir):
        say(line)
    disk = DiskNeed(config, setup.model, run_dir, chooses_best=setup.evaluated == "val")
    if chief and (warning := disk.warning()):
        say(warning)
    try:
        history = _fit(config, setup, callbacks, first_epoch, verbose if chief else 0)
        results = _evaluate_and_write(setup, run_dir, chief)
    except WriteError as error:
        raise disk.explained(error, resumes_at=training_state.epochs_done() + 1, epochs=config.epochs) from error
    if chief:
        rows, metrics = results
        _check_finite(rows, config, run_dir)
        say(_result_line(config, metrics, run_dir))
    return TrainResult(history, run_dir)


def _worker_folder(run_dir: str) -> RunState:
    """A worker of a multi-worker run writes only its resume state: the chief prepares the run folder."""
    os.makedirs(run_dir, exist_ok=True)
    return "new"


def _setup(config: TrainConfig, strategy: tf.distribute.Strategy) -> Setup:
    """Seed, load the data, compute its statistics and build the model inside the strategy's scope."""
    keras.utils.set_random_seed(config.seed)
    splits = load_data(config)
    norm_stats = normalization_stats(config, splits)
    zca = zca_stats(config, splits, norm_stats)
    scaled = scaled_for_replicas(config, strategy.num_replicas_in_sync)
    with strategy.scope():
        model = compiled_model(scaled, norm_stats, len(splits.class_names), zca=zca, train_size=len(splits.train),
                               conv1_kernel=conv1_whitening(config, splits, norm_stats))
    one_hot = len(splits.class_names) if uses_soft_labels(config) else None
    return Setup(splits, norm_stats, scaled, model, one_hot)


def _write_record(config: TrainConfig, setup: Setup, strategy: tf.distribute.Strategy, run_dir: str) -> None:
    """config.json of a new run, with the replicas and the global batch and rate they make."""
    record = run_record(config, setup.splits.describe(), setup.norm_stats)
    record["platform"] |= {"replicas": strategy.num_replicas_in_sync, "global_batch_size": setup.scaled.batch_size,
                           "global_lr": setup.scaled.lr, "compute_dtype": compute_dtype(config)}
    write_json(os.path.join(run_dir, CONFIG_FILE), record)


def _callbacks(config: TrainConfig, setup: Setup, run_dir: str, first_epoch: int, history_csv: HistoryCSV,
               training_state: TrainingState, chief: bool, tensorboard: bool, histograms: bool) -> list:
    """The callbacks of `fit`, in the order they must run; only the chief writes the run's files."""
    splits = setup.splits
    # First: the epoch's other callbacks and its checkpoints see the averaged weights.
    callbacks = [AveragedWeights(resumed=first_epoch > 0)] if config.ema_momentum else []
    if config.eval_at_start and first_epoch == 0:
        callbacks.append(EvaluateAtStart(setup.eval_data(splits.train), setup.eval_data(_evaluated_split(splits)),
                                         history_csv if chief else None))
    callbacks += [learning_rate_callback(setup.scaled), EpochTimer(len(splits.train))]
    if config.eval_train:
        callbacks.append(EvaluateTrainSet(setup.eval_data(splits.train)))
    callbacks.append(keras.callbacks.TerminateOnNaN())
    if chief:
        callbacks += [history_csv, Checkpoints(run_dir, history_csv)]  # after the callbacks that add columns
    callbacks.append(training_state)  # so that an epoch is saved only once its row and checkpoints are written
    # After the state: an epoch that a resumed run redoes was never logged, so no epoch appears twice.
    if tensorboard and chief:
        callbacks.append(tensorboard_callback(os.path.join(run_dir, TENSORBOARD_FOLDER), histograms))
    return callbacks


def _evaluated_split(splits: Splits) -> Split:
    return splits.test if splits.val is None else splits.val


def _start_lines(config: TrainConfig, setup: Setup, strategy: tf.distribute.Strategy, state: RunState,
                 first_epoch: int, run_dir: str) -> list[str]:
    """What the run is: data, weights, epochs, where it goes on from; then the data's notes and a speed hint."""
    splits, model, replicas = setup.splits, setup.model, strategy.num_replicas_in_sync
    held_out = f"{len(splits.val)} validation / " if splits.val is not None else ""
    verb = {"new": "Training", "resumed": "Resuming", "extended": "Extending"}[state]
    line = (
        f"{verb} {config.variant} on {splits.source}: {len(splits.train)} train / "
        f"{held_out}{len(splits.test)} test images, {len(splits.class_names)} classes, "
        f"{sum(int(np.prod(w.shape)) for w in model.trainable_weights):,} trainable weights; "
        f"{config.epochs} epoch{'s' if config.epochs != 1 else ''} into {run_dir}"
    )
    if first_epoch == config.epochs:
        line += f"; all {first_epoch} done, writing the run's last files"
    elif first_epoch:
        line += f"; {first_epoch} done, going on from epoch {first_epoch + 1}"
    if replicas > 1:
        line += f"; {replicas} replicas, global batch {setup.scaled.batch_size}, lr {setup.scaled.lr:g}"
    hint = speed_hint(config)
    return [line, *splits.notes, *([hint] if hint else [])]


def _fit(config: TrainConfig, setup: Setup, callbacks: list, first_epoch: int, verbose: int):
    """Keras' fit from `first_epoch` to the last, evaluating the evaluated split after every epoch."""
    splits, scaled = setup.splits, setup.scaled
    return setup.model.fit(
        train_dataset(splits.train, scaled.batch_size, config.seed, setup.one_hot, first_epoch, config.epochs,
                      alternating_flips="alt-flip" in config.augment),
        steps_per_epoch=steps_per_epoch(len(splits.train), scaled.batch_size),
        validation_data=setup.eval_data(_evaluated_split(splits)),
        validation_freq=1 if config.eval_each_epoch else config.epochs,  # epochs % freq == 0: the last one only
        epochs=config.epochs,
        initial_epoch=first_epoch,
        callbacks=callbacks,
        shuffle=False,  # the pipeline orders each epoch
        verbose=verbose,
    )


def _evaluate_and_write(setup: Setup, run_dir: str, chief: bool) -> tuple[list[dict], dict] | None:
    """The final test evaluation (with a validation split) and, on the chief, the results: history rows, metrics."""
    test_data = setup.eval_data(setup.splits.test)
    # On every worker: evaluating a distributed model is a collective operation.
    final_test = None
    if setup.splits.val is not None:
        final_test = setup.model.evaluate(test_data, verbose=0, return_dict=True)
    if not chief:
        return None
    return write_results(setup.model, setup.scaled, run_dir, setup.evaluated, setup.splits, test_data, final_test)


def _check_finite(rows: list[dict], config: TrainConfig, run_dir: str) -> None:
    if not np.isfinite(rows[-1]["loss"]):
        raise TrainingDiverged(
            f"training diverged: the loss became {rows[-1]['loss']} in epoch {rows[-1]['epoch']}; lower --lr "
            f"(now {config.lr}); the files in {run_dir} hold the epochs before"
        )


def _result_line(config: TrainConfig, metrics: dict, run_dir: str) -> str:
    """The run's result: final test accuracy, what test-time augmentation and a validation split add, timings."""
    extras = []
    if "final_test_accuracy_single_view" in metrics:
        extras.append(f"without test-time {config.tta} {metrics['final_test_accuracy_single_view']:.2%}")
    if metrics.get("best_checkpoint_chosen_on") == "val":
        extras.append(f"validation best {metrics['best_val_accuracy']:.2%} at epoch {metrics['best_epoch']}, "
                      f"whose best.keras scores {metrics['best_test_accuracy']:.2%} on test")
    return (
        f"Test accuracy {metrics['final_test_accuracy']:.2%} (final epoch{''.join('; ' + e for e in extras)}), "
        f"train accuracy {metrics['final_train_accuracy']:.2%}; "
        f"{metrics['epochs']} epoch{'s' if metrics['epochs'] != 1 else ''} "
        f"in {metrics['wall_seconds'] / 60:.1f} min; results in {run_dir}"
    )


class DiskNeed:
    """The space a run's files take, to warn before a run that will not fit and to explain a full disk.

    Every epoch rewrites last.keras (and best.keras, with a validation split) and the resume state,
    each about the size of the weights and the optimizer's slots. Each is written beside the old one
    before it replaces it, so the run needs one more of them free while writing.
    """

    MARGIN = 2  # warn when the free space is less than this many times the need: logs and reports grow too

    def __init__(self, config: TrainConfig, model: keras.Model, run_dir: str, chooses_best: bool):
        slots = {"sgd": 1 if config.momentum else 0, "adam": 2, "adamw": 2, "rmsprop": 2 if config.momentum else 1}
        slot_bytes = slots[config.optimizer] * float32_bytes(model.trainable_weights)
        self.checkpoint = float32_bytes(model.weights) + slot_bytes
        self.files = 3 if chooses_best else 2
        self.run_dir = run_dir

    def needed(self) -> float:
        """Bytes the run's checkpoint files take, with the copy being written."""
        return (self.files + 1) * self.checkpoint

    def free(self) -> int:
        return shutil.disk_usage(self.run_dir).free

    def warning(self) -> str | None:
        """A line when the free space is short of the need, with a margin."""
        if self.free() >= self.MARGIN * self.needed():
            return None
        return (f"warning: only {megabytes(self.free())} free where {self.run_dir} is: {self._need()}, "
                f"and its logs grow every epoch")

    def explained(self, error: WriteError, resumes_at: int, epochs: int) -> WriteError:
        """`error` with, for no space, what the run needs; and how to go on."""
        if resumes_at > epochs:
            go_on = "rerun the same command: its epochs are done, it writes the run's last files"
        else:
            go_on = f"rerun the same command: it {'resumes from' if resumes_at > 1 else 'starts at'} epoch {resumes_at}"
        if error.errno not in NO_SPACE:
            return WriteError(error.errno, f"{error}; fix that, then {go_on}")
        return WriteError(error.errno, f"{error}: {self._need()}; free space, then {go_on}")

    def _need(self) -> str:
        files = f"last.keras{', best.keras' if self.files == 3 else ''} and the resume state"
        return (f"this run needs {megabytes(self.needed())} ({files}, {megabytes(self.checkpoint)} each, rewritten "
                f"every epoch, and one more while writing)")


def float32_bytes(variables: list) -> int:
    return sum(4 * int(np.prod(variable.shape)) for variable in variables)


def megabytes(size: float) -> str:
    return f"{size / 1e6:.1f} MB"


def write_results(model: keras.Sequential, config: TrainConfig, run_dir: str, evaluated: str, splits: Splits,
                  test_data, final_test: dict | None) -> tuple[list[dict], dict]:
    """curves.png, then metrics.json (which marks the run finished); the history rows and the metrics."""
    rows = read_history(os.path.join(run_dir, HISTORY_FILE))
    metrics = summarize(rows, split=evaluated)
    if config.tta != "none" and config.strategy == "default":
        metrics["final_test_accuracy_single_view"] = single_view_accuracy(model, config, len(splits.class_names),
                                                                          test_data)
    if final_test is not None:
        best = keras.saving.load_model(os.path.join(run_dir, "best.keras"))
        metrics |= {
            "final_test_accuracy": final_test["accuracy"],
            "final_test_loss": final_test["loss"],
            "best_test_accuracy": best.evaluate(test_data, verbose=0, return_dict=True)["accuracy"],
        }
    plot_curves(rows, os.path.join(run_dir, "curves.png"), title=f"{config.variant} ({run_dir})")
    write_json(os.path.join(run_dir, METRICS_FILE), metrics)
    return rows, metrics


def single_view_accuracy(model: keras.Sequential, config: TrainConfig, num_classes: int, test_data) -> float:
    """Test accuracy of the trained weights without test-time augmentation, to show what it adds.

    A plain Sequential over the same (shared, already trained) layers; only on one device, where
    the layers' variables are ordinary ones.
    """
    single = keras.Sequential([keras.Input(model.input_shape[1:], dtype="uint8"), *model.layers])
    loss, metrics = loss_and_metrics(config, num_classes)
    single.compile(loss=loss, metrics=metrics)
    return single.evaluate(test_data, verbose=0, return_dict=True)["accuracy"]


def tensorboard_callback(log_dir: str, histograms: bool = False) -> keras.callbacks.TensorBoard:
    """Keras' TensorBoard logs, once per epoch: the logs' scalars (train/ and validation/: the evaluated
    split, test or --val-split), Keras' learning rate at the epoch's end, and with `histograms` the weights."""
    return keras.callbacks.TensorBoard(log_dir, histogram_freq=1 if histograms else 0, write_graph=False)


def backup_folder(run_dir: str) -> str:
    """TrainingState's folder; each worker of a multi-worker run keeps its own, as each restores its own state."""
    index = worker_index()
    return os.path.join(run_dir, BACKUP_FOLDER, *([f"worker-{index}"] if "TF_CONFIG" in os.environ else []))


def load_data(config: TrainConfig, test_only: bool = False) -> Splits:
    """The splits `config` asks for (source, subset, held-out validation), decoded into memory.

    test_only: only the test split (the train split comes back empty), to score a trained model.
    """
    return load_splits(
        config.dataset,
        DATASET_SHAPES[config.dataset],
        data_dir=config.data_dir,
        limit=config.limit,
        seed=config.seed,
        test_fraction=config.test_fraction,
        val_split=config.val_split,
        test_only=test_only,
        strict_images=config.strict_images,
    )


def normalization_stats(config: TrainConfig, splits: Splits) -> ChannelStats | PixelStats | None:
    """The training split's statistics that the config normalizes with: per channel ("train") or per pixel ("pixel")."""
    if config.normalization == "train":
        return channel_stats(splits.train.images)
    return pixel_stats(splits.train.images) if config.normalization == "pixel" else None


def zca_stats(config: TrainConfig, splits: Splits, norm_stats: ChannelStats | PixelStats | None) -> tuple | None:
    """ZCA (mean, matrix) of the training split as the whitening layer sees it, when the config whitens."""
    if config.whitening != "zca":
        return None
    return zca_whitening(splits.train.images, config.zca_epsilon, standardization(config, norm_stats))


def conv1_whitening(config: TrainConfig, splits: Splits,
                    norm_stats: ChannelStats | PixelStats | None) -> np.ndarray | None:
    """conv1's initial kernel from the training split's patch whitening, when the config asks for it."""
    if not config.whiten_conv1:
        return None
    return patch_whitening_kernel(splits.train.images, size=5, filters=CONV1_FILTERS[config.arch],
                                  channel_stats=standardization(config, norm_stats))


def standardization(config: TrainConfig,
                    norm_stats: ChannelStats | PixelStats | None) -> ChannelStats | PixelStats | None:
    """The mean and std the model's normalization layer applies: the training split's, the lab's constants, or none."""
    return norm_stats or (ChannelStats(LAB_MEAN, LAB_STD) if config.normalization == "lab" else None)


def compiled_model(
    config: TrainConfig,
    norm_stats: ChannelStats | PixelStats | None,
    num_classes: int,
    zca: tuple | None = None,
    train_size: int | None = None,
    conv1_kernel: np.ndarray | None = None,
) -> keras.Sequential:
    """The variant's model, compiled with its optimizer, loss and metrics (top-1, and top-5 over 5 classes).

    `train_size` (images per epoch) sets the length of the per-step schedules (cosine, onecycle).
    """
    model = build_model(config, norm_stats, num_classes=num_classes, zca=zca, conv1_kernel=conv1_kernel)
    if train_size is None and config.schedule not in PER_EPOCH_SCHEDULES:
        raise ValueError(f"the {config.schedule} schedule needs train_size to know the steps per epoch")
    optimizer = make_optimizer(config, steps_per_epoch=math.ceil((train_size or 1) / config.batch_size))
    if compute_dtype(config) == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)  # float16 gradients underflow without it
    loss, metrics = loss_and_metrics(config, num_classes)
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit_setting(config))
    return model


def run_record(config: TrainConfig, data: dict, norm_stats) -> dict:
    """config.json: every resolved setting, the data and its statistics, library versions, devices."""
    import tensorflow_datasets as tfds

    return {
        "config": config.to_dict(),
        "data": data | ({"normalization_stats": norm_stats.to_dict()} if norm_stats else {}),
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "versions": {
            "keras_cnn": __version__,
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
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),  # 0: TensorFlow's choice
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        },
    }
