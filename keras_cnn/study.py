"""Experiments that answer the lab's "what happens when" questions: `train_keras.py study NAME`.

A study is a small grid of ordinary runs in studies/<name>/<run>/ (the run folders, records and
resume of `train`), then studies/<name>/report.md: a table, charts and a finding whose numbers
are read from those runs' records after they ran. The runs go one after another as in `lab`
(finished runs skipped, the interrupted one resumed by `train_config`), not through keras-tuner's
GridSearch: a grid point here is a whole run whose folder the other commands read (compare,
inspect, export), and the findings read several values of each run (final train and test, epoch
0, the gap), where a tuner trial keeps one objective in its own format.
"""

import itertools
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from keras_cnn.config import TrainConfig, resolve_config
from keras_cnn.errors import ConfigError, DataError
from keras_cnn.files import read_json, write_json, write_text
from keras_cnn.formatting import decimal, finite, percent, points
from keras_cnn.locks import folder_locks
from keras_cnn.rundir import CONFIG_FILE, HISTORY_FILE, METRICS_FILE, is_longer
from keras_cnn.runfolder import read_run, read_trained_run

# Keras and TensorFlow are imported by the functions that train or predict, so that `study --list`
# answers at once.

REPORT_FILE, RESULTS_FILE, INDEX_FILE = "report.md", "results.json", "index.md"
RECORD_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE)  # what a published study keeps of each run
CHANCE_LOSS = math.log(10)  # cross-entropy of a uniform guess among ten classes
# For --list's time estimates: training images per second of the lab's CIFAR-10 network on one
# core of this project's 2-core machine (BENCHMARKS.md, ~800-900), and a few seconds per run to start.
IMAGES_PER_SECOND, SECONDS_PER_RUN = 800, 15


@dataclass(frozen=True)
class Study:
    """A grid of runs: every combination of the `grid` axes (TrainConfig settings), over `variant`'s settings."""

    questions: str  # the lab's questions it answers, e.g. "Q16"
    question: str  # what it asks, in a line
    method: str  # how the runs measure it: written before any run, so it states no result
    variant: str  # the settings every run starts from
    grid: dict[str, tuple]  # setting -> values
    finding: Callable[["Results"], list[str]]  # sentences with the measured numbers
    epochs: int = 10
    limit: int | None = 10000  # images per split: a study is a comparison, not a record
    fixed: dict = field(default_factory=dict)  # settings every run takes
    extra_runs: Callable[[dict], dict[str, dict]] | None = None  # more runs, from the grid's values
    columns: tuple[str, ...] = ()  # metrics.json keys shown beside the usual ones
    analysis: Callable[[dict, str], dict] | None = None  # measurements after the runs: (runs, folder) -> values


@dataclass
class Results:
    """What a finding reads: each run's settings and metrics.json, in grid order, and the study's analysis."""

    runs: dict[str, dict]  # run name -> {"settings": {...}, "metrics": {...}, "diverged": epoch or None}
    analysis: dict
    loaded: list = field(default_factory=list)  # the runs as report.load_run read them, for the charts

    def metric(self, run: str, key: str):
        return self.runs[run]["metrics"].get(key) if run in self.runs else None

    def named(self, **values) -> str | None:
        """The first run whose grid point has these values (None: no such run)."""
        return next((name for name, run in self.runs.items()
                     if all(run["point"].get(key) == value for key, value in values.items())), None)


def run_name(point: dict) -> str:
    """A run folder's name from its grid values: lr-0.1_batch-32, augment-crop28, dropout-0.5."""
    short = {"batch_size": "batch", "normalization": "norm"}
    return "_".join(f"{short.get(key, key)}-{_grid_value(value)}" for key, value in point.items())


def grid_runs(study: Study, grid: dict[str, tuple] | None = None) -> dict[str, dict]:
    """The study's runs: name -> the settings its grid point changes (the `grid` axes replace the study's)."""
    axes = study.grid | (grid or {})
    unknown = sorted(set(grid or {}) - set(study.grid))
    if unknown:
        raise ConfigError(f"--grid {', '.join(unknown)}: this study's axes are {', '.join(study.grid)}")
    runs = {}
    for values in itertools.product(*axes.values()):
        point = dict(zip(axes, values))
        runs[run_name(point)] = point
    return runs | (study.extra_runs(axes) if study.extra_runs else {})


# ---- The findings: each reads the runs' records and says what they measured, nothing else. ----


def train_vs_test_finding(results: Results) -> list[str]:
    lines = []
    for name, run in results.runs.items():
        running, inference, test = (results.metric(name, key) for key in
                                    ("final_train_accuracy", "final_train_eval_accuracy", "final_test_accuracy"))
        lines.append(
            f"{run['settings']['variant']}, last epoch: running train accuracy {percent(running)}, the end-of-epoch "
            f"network on the same training images in inference mode {percent(inference)} "
            f"({points(_minus(inference, running))}), on test {percent(test)}."
        )
    return lines


def lr_batch_finding(results: Results) -> list[str]:
    accuracy = {name: results.metric(name, "final_test_accuracy") if run["diverged"] is None else None
                for name, run in results.runs.items()}
    grid = [name for name in results.runs if not name.startswith(SCALED)]
    lines = []
    for fixed, varied in (("batch_size", "lr"), ("lr", "batch_size")):
        reference = _reference(fixed, [results.runs[name]["point"][fixed] for name in grid])
        row = [name for name in grid if results.runs[name]["point"][fixed] == reference]
        lines.append(f"At {_axis(fixed)} {_grid_value(reference)}: " + ", ".join(
            f"{_axis(varied)} {_grid_value(results.runs[name]['point'][varied])} {_accuracy_text(results, name, accuracy)}"
            for name in row) + ".")
    if scored := [name for name in grid if finite(accuracy[name])]:
        best = max(scored, key=lambda name: accuracy[name])
        lines.append(f"Highest in the grid: {percent(accuracy[best])} ({_setting_text(results, best)}).")
    for name, run in results.runs.items():
        if name.startswith(SCALED):
            batch, lr = run["point"]["batch_size"], run["point"]["lr"]
            base_lr = float(f"{lr * 128 / batch:.6g}")
            same_lr = results.named(batch_size=batch, lr=base_lr)
            lines.append(f"Batch {batch} with lr scaled to {lr:g} ({base_lr:g} x {batch}/128): "
                         f"{_accuracy_text(results, name, accuracy)}, against "
                         f"{_accuracy_text(results, same_lr, accuracy)} at lr {base_lr:g}.")
    return lines


def initial_error_finding(results: Results) -> list[str]:
    lines = []
    for init in dict.fromkeys(run["settings"]["init"] for run in results.runs.values()):
        names = [name for name, run in results.runs.items() if run["settings"]["init"] == init]
        values = {key: [results.metric(name, key) for name in names] for key in
                  ("initial_test_loss", "initial_train_loss", "initial_test_accuracy", "final_test_accuracy")}
        lines.append(
            f"init {init}, {len(names)} seed{'s' if len(names) > 1 else ''}: before the first step test loss "
            f"{_mean_text(values['initial_test_loss'], 3)} and train loss {_mean_text(values['initial_train_loss'], 3)} "
            f"(ln 10 = {CHANCE_LOSS:.3f}), test accuracy {_mean_text(values['initial_test_accuracy'], 1, True)} "
            f"(chance 10%); after epoch 1, {_mean_text(values['final_test_accuracy'], 1, True)}."
        )
    return lines


def normalization_finding(results: Results) -> list[str]:
    ranked = sorted(results.runs, key=lambda name: -(results.metric(name, "final_test_accuracy") or 0))
    lines = ["Final test accuracy, best first: " + ", ".join(
        f"{name} {percent(results.metric(name, 'final_test_accuracy'))}" for name in ranked) + "."]
    if stats := results.analysis.get("split_statistics"):
        lines.append(
            f"Q20: the test split's channel means differ from the training split's by at most "
            f"{stats['max_mean_difference']:.4f} and its standard deviations by at most {stats['max_std_difference']:.4f} "
            f"(pixels in [0, 1]): the test split's own means would move its standardized pixels by at most "
            f"{stats['max_shift_in_std']:.3f} standard deviations."
        )
    return lines


def flip_finding(results: Results) -> list[str]:
    lines = []
    for variant in dict.fromkeys(run["point"]["variant"] for run in results.runs.values()):
        data = "MNIST" if variant == "lenet5" else "CIFAR-10"
        value = {augment: results.metric(results.named(variant=variant, augment=augment), "final_test_accuracy")
                 for augment in ("none", "flip", "vflip")}
        gap = {augment: results.metric(results.named(variant=variant, augment=augment), "train_test_gap")
               for augment in ("none", "flip", "vflip")}
        lines.append(f"{data} ({variant}): {percent(value['none'])} without flips (train-test gap {points(gap['none'])}); "
                     f"horizontal flips {percent(value['flip'])} ({points(_minus(value['flip'], value['none']))}, gap "
                     f"{points(gap['flip'])}), vertical flips {percent(value['vflip'])} "
                     f"({points(_minus(value['vflip'], value['none']))}, gap {points(gap['vflip'])}).")
    return lines


def augmentations_finding(results: Results) -> list[str]:
    plain = results.named(augment="none")
    base = results.metric(plain, "final_test_accuracy")
    others = sorted((name for name in results.runs if name != plain),
                    key=lambda name: -(results.metric(name, "final_test_accuracy") or 0))
    return [
        f"Without augmentation {percent(base)} test, train-test gap {points(results.metric(plain, 'train_test_gap'))}.",
        "Each alone, best first: " + "; ".join(
            f"{results.runs[name]['point']['augment']} {percent(results.metric(name, 'final_test_accuracy'))} "
            f"({points(_minus(results.metric(name, 'final_test_accuracy'), base))}, gap "
            f"{points(results.metric(name, 'train_test_gap'))})" for name in others) + ".",
    ]


def dropout_rate_finding(results: Results) -> list[str]:
    rates = {run["point"]["dropout"]: name for name, run in results.runs.items()}
    accuracy = {rate: results.metric(name, "final_test_accuracy") for rate, name in rates.items()}
    gap = {rate: results.metric(name, "train_test_gap") for rate, name in rates.items()}
    best = max(accuracy, key=lambda rate: accuracy[rate] if finite(accuracy[rate]) else -1)
    low, high = min(rates), max(rates)
    return [
        f"Final test accuracy is highest at p = {best:g} ({percent(accuracy[best])}): "
        + ", ".join(f"p = {rate:g} {percent(value)}" for rate, value in accuracy.items()) + ".",
        f"The train-test gap is {points(gap[low])} at p = {low:g} and {points(gap[high])} at p = {high:g}.",
    ]


def dropout_modes_finding(results: Results) -> list[str]:
    modes = results.analysis["modes"]
    off, single = modes["dropout off"], modes["dropout on, one pass"]
    averaged = [key for key in modes if key.startswith("dropout on, mean of")]
    return [
        f"Test accuracy with dropout off (inference mode, Keras' default) {percent(off)}; left on, one pass "
        f"{percent(single['mean'])} on average ({points(_minus(single['mean'], off))}; from {percent(single['min'])} "
        f"to {percent(single['max'])} over {single['repeats']} passes).",
        "Averaging the probabilities of " + ", of ".join(
            f"{key.removeprefix('dropout on, mean of ')} passes gives {percent(modes[key])} "
            f"({points(_minus(modes[key], off))})" for key in averaged) + ", against dropout off.",
    ]


def _minus(a, b):
    return a - b if finite(a) and finite(b) else None


def _reference(axis: str, values) -> float:
    """The baseline's own lr or batch size where the grid has it, else the grid's middle value."""
    own = getattr(resolve_config("baseline"), axis)
    values = sorted(set(values))
    return own if own in values else values[len(values) // 2]


def _axis(name: str) -> str:
    return {"batch_size": "batch", "lr": "lr"}.get(name, name)


def _accuracy_text(results: Results, name: str | None, accuracy: dict) -> str:
    if name is None:
        return "–"
    if results.runs[name]["diverged"] is not None:
        return f"diverged (epoch {results.runs[name]['diverged']})"
    return percent(accuracy[name])


# ---- Measurements after the runs ----


def split_statistics(runs: dict, folder: str) -> dict:
    """Q20: per-channel statistics of the training split (from its run's record) against the test split's."""
    from keras_cnn.training import load_data
    from pipelines.preprocessing import channel_stats

    name = next(name for name, run in runs.items() if run["settings"]["normalization"] == "train")
    run = read_run(os.path.join(folder, name))
    train = run.record["data"]["normalization_stats"]
    config = TrainConfig.from_dict(run.settings)
    test = channel_stats(load_data(config, test_only=True).test.images)
    mean_difference = np.abs(np.array(train["mean"]) - np.array(test.mean))
    std_difference = np.abs(np.array(train["std"]) - np.array(test.std))
    return {"split_statistics": {
        "train": train, "test": test.to_dict(),
        "max_mean_difference": round(float(mean_difference.max()), 6),
        "max_std_difference": round(float(std_difference.max()), 6),
        "max_shift_in_std": round(float((mean_difference / np.array(train["std"])).max()), 6),
    }}


def dropout_modes(runs: dict, folder: str, passes: tuple[int, ...] = (10, 100), repeats: int = 5, seed: int = 0) -> dict:
    """Q33: the test accuracy of a dropout network with dropout off, on for one pass, and on averaged over passes.

    The layers before the dropout layer are deterministic at inference, so their output is
    computed once; each pass then draws a new mask and runs the layers after it (fc5, softmax).
    """
    import keras

    from keras_cnn.export import load_checkpoint
    from keras_cnn.training import load_data

    run, checkpoint = read_trained_run(os.path.join(folder, next(iter(runs))))
    config = TrainConfig.from_dict(run.settings)
    model = load_checkpoint(checkpoint)
    test = load_data(config, test_only=True).test
    cut = next(index for index, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Dropout))
    features = keras.Sequential([keras.Input(model.input_shape[1:], dtype="uint8"), *model.layers[:cut]])
    head = keras.Sequential([keras.Input(features.output_shape[1:]), *model.layers[cut + 1:]])
    before = features.predict(test.images, batch_size=500, verbose=0)
    generator = keras.random.SeedGenerator(seed)

    def one_pass():
        dropped = keras.random.dropout(before, config.dropout, seed=generator)
        return np.asarray(head.predict(np.asarray(dropped), batch_size=2000, verbose=0))

    def accuracy(probabilities):
        return round(float(np.mean(probabilities.argmax(axis=1) == test.labels)), 6)

    singles = [accuracy(one_pass()) for _ in range(repeats)]
    modes = {"dropout off": accuracy(head.predict(before, batch_size=2000, verbose=0)),
             "dropout on, one pass": {"mean": round(statistics.mean(singles), 6), "min": min(singles),
                                      "max": max(singles), "repeats": repeats}}
    for count in passes:
        modes[f"dropout on, mean of {count}"] = accuracy(sum(one_pass() for _ in range(count)) / count)
    return {"modes": modes, "test_images": len(test.labels), "dropout": config.dropout}


SCALED = "scaled-"  # the name of a run whose rate follows its batch size


def scaled_lr_runs(axes: dict) -> dict[str, dict]:
    """Q16's "linear scaling rule": every other batch size at the variant's rate (or the grid's middle one) x batch / 128."""
    base_lr = _reference("lr", axes["lr"])
    runs = {}
    for batch in axes["batch_size"]:
        lr = float(f"{base_lr * batch / 128:.6g}")
        if batch != 128 and lr not in axes["lr"]:
            runs[SCALED + run_name({"lr": lr, "batch_size": batch})] = {"lr": lr, "batch_size": batch}
    return runs


def zca_run(axes: dict) -> dict[str, dict]:
    return {"norm-train_zca": {"normalization": "train", "whitening": "zca"}}


STUDIES: dict[str, Study] = {
    "train-vs-test": Study(
        "Q14", "How are the train and test loss and accuracy computed, and why do they differ?",
        "Keras logs the training loss and accuracy as a running mean over the epoch's batches, computed while the "
        "weights change and with augmentation and dropout on; the test split is evaluated once at the end of the "
        "epoch, in inference mode. Each run here also evaluates the training split like the test split "
        "(--eval-train), so the two training figures of the same epoch stand side by side.",
        "dropout", {"variant": ("baseline", "dropout")}, train_vs_test_finding, epochs=15,
        fixed={"eval_train": True}, columns=("final_train_eval_accuracy",)),
    "lr-batch": Study(
        "Q16", "What do the learning rate and the batch size change?",
        "The baseline (plain SGD) over a grid of learning rates and batch sizes, plus the batch sizes other than "
        "128 at the baseline's rate scaled by batch / 128 (the linear scaling rule). Every run sees the same "
        "images per epoch, so a larger batch takes fewer steps.",
        "baseline", {"lr": (0.01, 0.03, 0.1), "batch_size": (32, 128, 512)}, lr_batch_finding, epochs=5,
        extra_runs=scaled_lr_runs, columns=("seconds_per_epoch",)),
    "initial-error": Study(
        "Q17", "What is the error at the start of the first epoch, in train and test, and why?",
        "Each run evaluates both splits before its first step (epoch 0), with the lab's PyTorch initialization and "
        "with Keras' Glorot initialization, three seeds each; a uniform guess among ten classes has cross-entropy "
        "ln 10 and accuracy 10%.",
        "baseline", {"init": ("torch", "glorot"), "seed": (0, 1, 2)}, initial_error_finding, epochs=1,
        columns=("initial_train_loss", "initial_test_loss", "initial_test_accuracy")),
    "normalization": Study(
        "Q20, Q21", "Why normalize with the training split's statistics only; what do other normalizations do?",
        "The norm variant with no normalization, the training split's per-channel mean and std (the lab's), its "
        "mean image and per-pixel std, the lab's fixed constants, and per-channel standardization followed by ZCA "
        "whitening. For Q20, the training and test splits' channel statistics are compared after the runs.",
        "norm", {"normalization": ("none", "train", "pixel", "lab")}, normalization_finding,
        extra_runs=zca_run, analysis=split_statistics),
    "flip": Study(
        "Q23", "Where do horizontal flips help or hurt: digits against natural images, and vertical flips?",
        "LeNet5 on MNIST and the norm variant on CIFAR-10, each without flips, with random horizontal flips and "
        "with random vertical flips (training only; test images are never flipped).",
        "norm", {"variant": ("lenet5", "norm"), "augment": ("none", "flip", "vflip")}, flip_finding),
    "augmentations": Study(
        "Q24, Q25", "What does each augmentation do on its own?",
        "The norm variant (no augmentation) with one augmentation at a time, at the project's default strength.",
        "norm", {"augment": ("none", "crop28", "pad-crop32", "flip", "cutout", "color", "mixup", "cutmix")},
        augmentations_finding, epochs=8),
    "dropout-rate": Study(
        "Q32", "What does the dropout rate change?",
        "The dropout variant (dropout before fc5) at several rates; p = 0 has no dropout layer.",
        "dropout", {"dropout": (0.0, 0.25, 0.5, 0.75, 0.9)}, dropout_rate_finding),
    "dropout-modes": Study(
        "Q33", "How does dropout behave in training and at test time?",
        "One dropout run, then its test accuracy with dropout off (inference mode, what evaluate and predict do), "
        "with dropout left on for one pass (five passes, each with new masks), and with the probabilities of 10 and "
        "100 such passes averaged. Keras' dropout scales the units it keeps by 1/(1-p) during training, so nothing "
        "is rescaled at test time.",
        "dropout", {"dropout": (0.5,)}, dropout_modes_finding, analysis=dropout_modes),
}


def describe_studies() -> list[str]:
    """`study --list`: one line per study, with its questions, its default scale and its time here."""
    lines = []
    for name, study in STUDIES.items():
        runs = grid_runs(study)
        minutes = estimated_minutes(study, runs)
        lines.append(f"{name:<14} {study.questions:<9} {study.question} ({len(runs)} run{'s' if len(runs) > 1 else ''} x {study.epochs} "
                     f"epoch{'s' if study.epochs > 1 else ''} on {study.limit or 'all'} images; about {minutes} min here)")
    return lines


def estimated_minutes(study: Study, runs: dict, limit: int | None = None, epochs: int | None = None) -> int:
    """Minutes at IMAGES_PER_SECOND for the training images, a third of that again for evaluations, and start-up."""
    images = min(limit or study.limit or 50000, 50000)
    seconds = len(runs) * (SECONDS_PER_RUN + (epochs or study.epochs) * images * 4 / 3 / IMAGES_PER_SECOND)
    return max(1, round(seconds / 60))


def study(
    name: str,
    out: str = "studies",
    *,
    data_dir: str | None = None,
    mnist_dir: str | None = None,
    epochs: int | None = None,
    limit: int | None = None,
    seed: int | None = None,
    grid: dict[str, tuple] | None = None,
    verbose="auto",
    tensorboard: bool = True,
    tensorboard_histograms: bool = False,
    say=print,
) -> dict:
    """Run study `name` into out/<name>/<run>/ and write out/<name>/report.md; return its results.

    `data_dir`: CIFAR-10's image folder (default: tensorflow-datasets); `mnist_dir`: MNIST's, for
    the runs of lenet5. `epochs`, `limit` (0: every image), `seed` and `grid` (axis -> values)
    replace the study's defaults. Every run logs epoch 0 (--eval-at-start). Rerunning the same call skips the finished
    runs and resumes the interrupted one.
    """
    import keras

    from keras_cnn.lab import check_existing_runs
    from keras_cnn.training import TrainingDiverged, train_config

    if name not in STUDIES:
        raise ConfigError(f"unknown study '{name}': choose one of {', '.join(STUDIES)} (or all)")
    spec = STUDIES[name]
    folder = os.path.join(out, name)
    grid_points = grid_runs(spec, grid)
    configs = {run: run_config(spec, point, data_dir, mnist_dir, epochs, limit, seed) for run, point in grid_points.items()}
    command = " ".join([f"python train_keras.py study {name}",
                        *(f"--{flag} {value}" for flag, value in (("data-dir", data_dir), ("mnist-dir", mnist_dir),
                          ("epochs", epochs), ("limit", limit), ("seed", seed)) if value is not None),
                        *(f"--grid {axis}={','.join(_grid_value(v) for v in values)}" for axis, values in (grid or {}).items())])
    started = time.monotonic()
    with folder_locks([folder, *(os.path.join(folder, run) for run in configs)], "--out"):
        check_existing_runs(folder, configs, f"study {name}")
        for number, (run, config) in enumerate(configs.items(), 1):
            run_dir = os.path.join(folder, run)
            tag = f"[{name} {number}/{len(configs)}] {run}"
            if os.path.exists(os.path.join(run_dir, METRICS_FILE)) and not is_longer(run_dir, config):
                say(f"{tag}: finished before, skipped")
                continue
            say(f"{tag}: {'resuming' if os.path.exists(os.path.join(run_dir, CONFIG_FILE)) else 'training'}")
            keras.backend.clear_session()
            try:
                train_config(config, run_dir=run_dir, verbose=verbose, tensorboard=tensorboard,
                             tensorboard_histograms=tensorboard_histograms)
            except TrainingDiverged as error:
                say(f"{tag}: {error}; going on with the next run")
        results = collect(spec, folder, grid_points)
        finding = spec.finding(results)
        written = write_report(name, spec, folder, results, finding, configs, command, time.monotonic() - started)
    say(f"Study {name} done: {written}")
    for line in finding:
        say(f"  {line}")
    return {"report": written, "runs": results.runs, "analysis": results.analysis, "finding": finding}


def run_config(spec: Study, point: dict, data_dir, mnist_dir, epochs, limit, seed) -> TrainConfig:
    """The TrainConfig of one grid point: the study's variant, its fixed settings, the point, the scale."""
    from keras_cnn.lab import mnist_source

    settings = {key: value for key, value in point.items() if key != "variant"}
    variant = point.get("variant", spec.variant)
    scale = {"epochs": epochs or spec.epochs, "limit": (limit if limit is not None else spec.limit) or None,
             "eval_at_start": True} | ({"seed": seed} if seed is not None and "seed" not in point else {})
    if variant == "lenet5":
        if mnist_dir is None and data_dir is not None:
            raise DataError("this study trains lenet5 on MNIST, and --data-dir is CIFAR-10's: add --mnist-dir DIR "
                            "(e.g. ../shared/data/mnist-sample)")
        source = mnist_source(mnist_dir) if mnist_dir else {}
    else:
        source = {"data_dir": data_dir} if data_dir else {}
    for flag, path in (("--data-dir", data_dir), ("--mnist-dir", mnist_dir)):
        if path is not None and not os.path.isdir(path):
            raise DataError(f"{flag} {path} is not a folder: point it at an image folder")
    return resolve_config(variant, **(spec.fixed | source | scale | settings))


def collect(spec: Study, folder: str, grid_points: dict) -> Results:
    """Each run's grid point, settings and metrics.json, then the study's analysis of them."""
    from keras_cnn.report import load_run  # the finished runs compare reads (matplotlib: imported when used)

    runs, loaded = {}, []
    for name, point in grid_points.items():
        run = load_run(os.path.join(folder, name))
        runs[name] = {"point": point, "settings": run.settings, "metrics": run.metrics, "diverged": run.diverged_epoch}
        loaded.append(run)
    analysis = spec.analysis(runs, folder) if spec.analysis else {}
    return Results(runs, analysis, loaded)


TABLE = (  # metrics.json key, header, format
    ("final_test_accuracy", "test accuracy (final)", percent),
    ("final_train_accuracy", "train accuracy (final, running)", percent),
    ("train_test_gap", "train - test", points),
    ("min_test_loss", "lowest test loss (epoch)", None),
    ("initial_test_accuracy", "test accuracy at epoch 0", percent),
)
EXTRA_COLUMNS = {
    "seconds_per_epoch": ("seconds per epoch", lambda value: decimal(value, 1)),
    "final_train_eval_accuracy": ("train accuracy (final, inference mode)", percent),
    "initial_train_loss": ("train loss at epoch 0", lambda value: decimal(value, 3)),
    "initial_test_loss": ("test loss at epoch 0", lambda value: decimal(value, 3)),
    "initial_test_accuracy": ("test accuracy at epoch 0", percent),
}


def cell(metrics: dict, key: str, form) -> str:
    if key == "min_test_loss":
        return f"{decimal(metrics.get('min_test_loss'), 3)} ({metrics.get('min_test_loss_epoch') or '–'})"
    return form(metrics.get(key))


def write_report(name: str, spec: Study, folder: str, results: Results, finding: list[str], configs: dict,
                 command: str, seconds: float) -> str:
    """report.md (table, charts, finding), results.json (the numbers it quotes) and the charts, into `folder`."""
    from keras_cnn.report import plot_test_accuracy, plot_train_vs_test, run_colors

    runs = results.loaded
    labels = list(results.runs)
    colors = run_colors(labels)
    charts = [plot_test_accuracy(runs, labels, colors, os.path.join(folder, "test_accuracy.png")),
              plot_train_vs_test(runs, labels, colors, os.path.join(folder, "train_vs_test.png"))]
    if chart := plot_grid(spec, results, os.path.join(folder, "grid.png")):
        charts.append(chart)
    axes = list(dict.fromkeys(key for run in results.runs.values() for key in run["point"]))
    table = [row for row in TABLE if row[0] not in spec.columns] + [(key, *EXTRA_COLUMNS[key]) for key in spec.columns]
    lines = [
        f"# Study {name}: {spec.question}",
        "",
        f"The lab's {spec.questions}. Command: `{command}`. {len(configs)} runs"
        f"{' of the variants and settings below' if 'variant' in spec.grid else f' of `{spec.variant}` with the settings below'}, "
        f"{_scale_text(configs)}; every run is a folder here, with its own config.json, history.csv and metrics.json. "
        f"Numbers are final-epoch values on the test split: a study describes what a change does and chooses nothing "
        f"(no epoch, no setting). One seed each unless the table lists seeds, so differences below about a point may "
        f"be noise.",
        "",
        "## How it is measured",
        "",
        spec.method,
        "",
        "## Finding",
        "",
        *(f"- {line}" for line in finding),
        "",
        "## Runs",
        "",
        "| run | " + " | ".join(axes) + " | " + " | ".join(header for _, header, _ in table) + " |",
        "|---|" + "---|" * len(axes) + "---:|" * len(table),
    ]
    for run, values in results.runs.items():
        diverged = f" (diverged at epoch {values['diverged']})" if values["diverged"] is not None else ""
        lines.append(f"| {run}{diverged} | " + " | ".join(_grid_value(values["point"].get(axis, "")) for axis in axes) + " | "
                     + " | ".join(cell(values["metrics"], key, form) for key, _, form in table) + " |")
    lines += ["", *(f"![{os.path.basename(chart)}]({os.path.basename(chart)})" for chart in charts), ""]
    if results.analysis:
        lines += ["## Measured after the runs", "", "```json", json.dumps(results.analysis, indent=2), "```", ""]
    trained = sum(values["metrics"].get("wall_seconds") or 0 for values in results.runs.values())
    lines.append(f"Training time of the runs: {trained / 60:.1f} min (the sum of their epochs, from their "
                 f"metrics.json); this call took {seconds / 60:.1f} min.")
    write_json(os.path.join(folder, RESULTS_FILE), {
        "study": name, "questions": spec.questions, "finding": finding,
        "runs": {run: {"point": values["point"], "metrics": values["metrics"], "diverged": values["diverged"]}
                 for run, values in results.runs.items()},
        "analysis": results.analysis,
    })
    path = os.path.join(folder, REPORT_FILE)
    write_text(path, "\n".join(lines) + "\n")
    return path


def plot_grid(spec: Study, results: Results, path: str) -> str | None:
    """Final test accuracy against a numeric axis (a line, with train), or over two axes (a heatmap)."""
    from keras_cnn.plots import plt, save_figure

    grid = {name: run for name, run in results.runs.items() if set(run["point"]) == set(spec.grid)}
    axes = [axis for axis in spec.grid if len({run["point"][axis] for run in grid.values()}) > 1]
    numeric = all(isinstance(value, int | float) for axis in axes for value in spec.grid[axis])
    if not numeric or len(axes) not in (1, 2):
        return None
    if len(axes) == 1:
        (axis,) = axes
        values = [run["point"][axis] for run in grid.values()]
        figure, panel = plt.subplots(figsize=(6, 4))
        for key, label in (("final_test_accuracy", "test"), ("final_train_accuracy", "train (running)")):
            panel.plot(values, [100 * (run["metrics"].get(key) or math.nan) for run in grid.values()], marker="o",
                       label=label)
        panel.set_xlabel(axis)
        panel.set_ylabel("final accuracy (%)")
        panel.legend()
        panel.grid(alpha=0.3)
    else:
        rows, cols = (sorted({run["point"][axis] for run in grid.values()}) for axis in axes)
        table = np.full((len(rows), len(cols)), math.nan)
        for run in grid.values():
            value = run["metrics"].get("final_test_accuracy") if run["diverged"] is None else None
            table[rows.index(run["point"][axes[0]]), cols.index(run["point"][axes[1]])] = 100 * value if value else math.nan
        figure, panel = plt.subplots(figsize=(6, 4.5))
        image = panel.imshow(table, cmap="viridis", aspect="auto")
        for (i, j), value in np.ndenumerate(table):
            panel.text(j, i, "diverged" if math.isnan(value) else f"{value:.1f}%", ha="center", va="center", color="w")
        panel.set_xticks(range(len(cols)), [_grid_value(c) for c in cols])
        panel.set_yticks(range(len(rows)), [_grid_value(r) for r in rows])
        panel.set_xlabel(axes[1])
        panel.set_ylabel(axes[0])
        figure.colorbar(image, label="final test accuracy (%)")
    panel.set_title(f"Final test accuracy over the grid ({spec.questions})")
    figure.tight_layout()
    return save_figure(figure, path)


def run_studies(names: list[str], out: str = "studies", **options) -> dict[str, dict]:
    """Each study of `names` in turn ("all": every study), then out/index.md listing every finished study's finding."""
    names = list(STUDIES) if names == ["all"] else names
    for name in names:
        if name not in STUDIES:
            raise ConfigError(f"unknown study '{name}': choose among {', '.join(STUDIES)} (or all)")
    outcomes = {name: study(name, out, **options) for name in names}
    if len(names) > 1:
        write_index(out)
    return outcomes


def write_index(out: str) -> str:
    """out/index.md: one row per study whose results.json exists: its questions, report and finding."""
    lines = ["# Studies: the lab's questions answered by experiment", "",
             "| study | questions | finding |", "|---|---|---|"]
    for name, spec in STUDIES.items():
        path = os.path.join(out, name, RESULTS_FILE)
        if os.path.exists(path):
            finding = " ".join(read_json(path)["finding"])
            lines.append(f"| [{name}]({name}/{REPORT_FILE}) | {spec.questions} | {finding} |")
    path = os.path.join(out, INDEX_FILE)
    write_text(path, "\n".join(lines) + "\n")
    return path


def _setting_text(results: Results, name: str) -> str:
    return ", ".join(f"{key} {_grid_value(value)}" for key, value in results.runs[name]["point"].items())


def _mean_text(values: list, digits: int, as_percent: bool = False) -> str:
    values = [value for value in values if finite(value)]
    if not values:
        return "–"
    scale, unit = (100, "%") if as_percent else (1, "")
    mean = f"{scale * statistics.mean(values):.{digits}f}{unit}"
    if len(values) == 1:
        return mean
    return f"{mean} (from {scale * min(values):.{digits}f} to {scale * max(values):.{digits}f}{unit})"


def _scale_text(configs: dict) -> str:
    config = next(iter(configs.values()))
    images = f"{config.limit:,} images of each split" if config.limit else "all images"
    return f"{config.epochs} epoch{'s' if config.epochs > 1 else ''} each on {images}"


def _grid_value(value) -> str:
    """A grid value as folder names and --grid spell it: 0.1, crop28+flip (augmentations joined by +)."""
    if isinstance(value, tuple | list):
        return "+".join(value) or "none"
    if isinstance(value, str):
        return value.replace(",", "+")
    return f"{value:g}" if isinstance(value, float) else str(value)


def parse_grid(texts: list[str]) -> dict[str, tuple]:
    """--grid AXIS=V1,V2 (augment values join their names with +: crop28+flip) as {axis: values of its type}."""
    import typing

    hints = typing.get_type_hints(TrainConfig)
    grid = {}
    for text in texts:
        axis, _, values = text.partition("=")
        axis = axis.strip().replace("-", "_")
        if axis not in hints or not values:
            raise ConfigError(f"--grid {text}: write AXIS=V1,V2 with AXIS a setting (e.g. --grid lr=0.01,0.1)")
        kind = hints[axis]
        convert = {int: int, float: float, bool: lambda v: v.lower() in ("true", "1", "yes")}.get(kind, str)
        try:
            grid[axis] = tuple(convert(value.strip().replace("+", ",")) for value in values.split(","))
        except ValueError:
            raise ConfigError(f"--grid {text}: the values of {axis} must be {kind.__name__} numbers") from None
    return grid
