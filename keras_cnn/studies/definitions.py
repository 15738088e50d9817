"""What each study is: its question, its method (written before any run), its grid and its default scale.

A study is a grid of points (settings over a variant), each run with several seeds. Its default
scale is chosen so that what its question asks about is present: see `scale` of each study.
"""

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from keras_cnn.config import resolve_config
from keras_cnn.errors import ConfigError
from keras_cnn.files import read_json
from keras_cnn.studies import analyses, findings
from keras_cnn.studies.findings import SCALED, grid_value

SEEDS = 3  # seeds per grid point by default: the fewest that measure a spread with a margin
# The lab's later optimizer (its `momentum` step), where a study asks about something else: plain SGD at
# lr 0.1 swings by up to 12 points from one epoch to the next at a study's scale, more than most effects asked about.
SMOOTH_OPTIMIZER = {"lr": 0.01, "momentum": 0.9, "lr_decay": 0.95}


@dataclass(frozen=True)
class Study:
    """A grid of runs: every combination of the `grid` axes (TrainConfig settings) over `variant`'s settings."""

    questions: str  # the lab's questions it answers, e.g. "Q16"
    question: str  # what it asks, in a line
    method: str  # how the runs measure it: written before any run, so it states no result
    scale: str  # why the default scale can show what the question asks about
    variant: str  # the settings every run starts from
    grid: dict[str, tuple]  # setting -> values
    finding: Callable  # Results -> sentences with the measured numbers
    epochs: int = 10
    limit: int | None = 10000  # images per split: a study is a comparison, not a record
    fixed: dict = field(default_factory=dict)  # settings every run takes
    extra_runs: Callable[[dict], dict[str, dict]] | None = None  # more points, from the grid's values
    columns: tuple[str, ...] = ()  # metrics.json keys shown beside the usual ones
    prepare: Callable | None = None  # settings chosen before the runs: ({point: config}, folder) -> {point: settings}
    analysis: Callable[[dict, str], dict] | None = None  # measurements after the runs: (runs, folder) -> values


def point_name(point: dict) -> str:
    """A grid point's name from its values: lr-0.1_batch-32, augment-crop28, dropout-0.5."""
    short = {"batch_size": "batch", "normalization": "norm", "lr_decay": "decay"}
    return "_".join(f"{short.get(key, key)}-{grid_value(value)}" for key, value in point.items())


def run_name(point: str, seed: int) -> str:
    """A run folder's name: its point and its seed (dropout-0.5_seed-1)."""
    return f"{point}_seed-{seed}"


def grid_points(study: Study, grid: dict[str, tuple] | None = None) -> dict[str, dict]:
    """The study's points: name -> the settings it changes (the `grid` axes replace the study's)."""
    axes = study.grid | (grid or {})
    unknown = sorted(set(grid or {}) - set(study.grid))
    if unknown:
        raise ConfigError(f"--grid {', '.join(unknown)}: this study's axes are {', '.join(study.grid)}")
    points = {}
    for values in itertools.product(*axes.values()) if axes else ():
        point = dict(zip(axes, values))
        points[point_name(point)] = point
    return points | (study.extra_runs(axes) if study.extra_runs else {})


def _reference_lr(study_variant: str, values) -> float:
    """The variant's own lr where the grid has it, else the grid's middle value."""
    own = resolve_config(study_variant).lr
    values = sorted(set(values))
    return own if own in values else values[len(values) // 2]


def scaled_lr_runs(axes: dict) -> dict[str, dict]:
    """Q16's linear scaling rule: every other batch size at the variant's rate (or the grid's middle one)
    x batch / 128."""
    base_lr = _reference_lr("norm", axes["lr"])
    points = {}
    for batch in axes["batch_size"]:
        lr = float(f"{base_lr * batch / 128:.6g}")
        if batch != 128 and lr not in axes["lr"]:
            points[SCALED + point_name({"lr": lr, "batch_size": batch})] = {"lr": lr, "batch_size": batch}
    return points


def zca_run(axes: dict) -> dict[str, dict]:
    return {"norm-train_zca": {"normalization": "train", "whitening": "zca"}}


def optimizer_points(axes: dict) -> dict[str, dict]:
    """Q28: the optimizers under the bn network's schedule, then the schedules under SGD with momentum."""
    adaptive = {"momentum": 0.0}
    optimizers = {
        "sgd": {"optimizer": "sgd", "momentum": 0.0},
        "momentum": {"optimizer": "sgd", "momentum": 0.9},
        "nesterov": {"optimizer": "sgd", "momentum": 0.9, "nesterov": True},
        "adam": {"optimizer": "adam"} | adaptive,
        # Decoupled weight decay 0.05, a common AdamW value for vision, declared here and not tuned.
        "adamw": {"optimizer": "adamw", "weight_decay": 0.05} | adaptive,
        "rmsprop": {"optimizer": "rmsprop"} | adaptive,
    }
    schedules = {
        "momentum_constant": {"schedule": "exp", "lr_decay": 1.0},
        "momentum_step": {"schedule": "step", "lr_decay": 0.1, "lr_step_epochs": 5},
        "momentum_cosine": {"schedule": "cosine"},
        "momentum_onecycle": {"schedule": "onecycle"},
    }
    return optimizers | {name: optimizers["momentum"] | settings for name, settings in schedules.items()}


STUDIES: dict[str, Study] = {
    "train-vs-test": Study(
        "Q14", "How are the train and test loss and accuracy computed, and why do they differ?",
        "Keras logs the training loss and accuracy as a running mean over the epoch's batches, computed while the "
        "weights change and with augmentation and dropout on; the test split is evaluated once at the end of the "
        "epoch, in inference mode. Each run here also evaluates the training split like the test split "
        "(--eval-train), so the two training figures of the same epoch stand side by side.",
        "15 epochs of the lab's momentum and dropout networks on 10,000 images: long enough for the network without "
        "dropout to fit its training images better than the test images.",
        "dropout", {"variant": ("momentum", "dropout")}, findings.train_vs_test_finding, epochs=15,
        fixed={"eval_train": True}, columns=("final_train_eval_accuracy",)),
    "lr-batch": Study(
        "Q16", "What do the learning rate and the batch size change?",
        "The norm network (plain SGD on standardized pixels) over learning rates a decade apart and three batch "
        "sizes, plus the batch sizes other than 128 at the lab's rate 0.1 scaled by batch / 128 (the linear scaling "
        "rule). Every run sees the same images per epoch, so a larger batch takes fewer steps. A run whose loss "
        "stops being finite has diverged: it is reported as such, with its epoch.",
        "10 epochs on 10,000 images: even 20 steps an epoch (batch 512) make 200 steps; lr 1.0 is where plain SGD "
        "on this network is expected to diverge. Standardized pixels (norm) rather than raw ones (baseline), because "
        "raw pixels keep the small rates at chance for many epochs, which would mix two questions.",
        "norm", {"lr": (0.01, 0.1, 1.0), "batch_size": (32, 128, 512)}, findings.lr_batch_finding,
        extra_runs=scaled_lr_runs, columns=("seconds_per_epoch",)),
    "initial-error": Study(
        "Q17", "What is the error at the start of the first epoch, in train and test, and why?",
        "Each run evaluates both splits before its first step (epoch 0), with the lab's PyTorch initialization and "
        "with Keras' Glorot initialization; a uniform guess among ten classes has cross-entropy ln 10 and "
        "accuracy 10%.",
        "Epoch 0 needs no training; one epoch shows the first step away from it.",
        "baseline", {"init": ("torch", "glorot")}, findings.initial_error_finding, epochs=1,
        columns=("initial_train_loss", "initial_test_loss", "initial_test_accuracy")),
    "normalization": Study(
        "Q20, Q21", "Why normalize with the training split's statistics only; what do other normalizations do?",
        "The norm network with no normalization, the training split's per-channel mean and std (the lab's), its "
        "mean image and per-pixel std, the lab's fixed constants, and per-channel standardization followed by ZCA "
        "whitening. For Q20, the training and test splits' channel statistics are compared after the runs.",
        "10 epochs on 10,000 images with the lab's momentum optimizer (lr0 0.01, momentum 0.9, x0.95 per epoch), "
        "whose final epochs are steady where plain SGD at lr 0.1 swings by more than the differences asked about.",
        "norm", {"normalization": ("none", "train", "pixel", "lab")}, findings.normalization_finding,
        fixed=SMOOTH_OPTIMIZER, extra_runs=zca_run, analysis=analyses.split_statistics),
    "flip": Study(
        "Q23", "Where do horizontal flips help or hurt: digits against natural images, and vertical flips?",
        "LeNet5 on MNIST and the norm network on CIFAR-10, each without flips, with random horizontal flips and "
        "with random vertical flips (training only; test images are never flipped).",
        "15 epochs on 10,000 images, CIFAR-10 with the lab's momentum optimizer: long enough for the network "
        "without flips to overfit, which is what a flip can reduce.",
        "norm", {"variant": ("lenet5", "norm"), "augment": ("none", "flip", "vflip")}, findings.flip_finding,
        epochs=15, fixed=SMOOTH_OPTIMIZER),
    "augmentations": Study(
        "Q24, Q25", "What does each augmentation do on its own?",
        "The norm network (no augmentation) with one augmentation at a time, at the project's default strength.",
        "15 epochs on 10,000 images with the lab's momentum optimizer: without augmentation the network overfits "
        "by then, so a regularizing augmentation has something to reduce.",
        "norm", {"augment": ("none", "crop28", "pad-crop32", "flip", "cutout", "color", "mixup", "cutmix")},
        findings.augmentations_finding, epochs=15, fixed=SMOOTH_OPTIMIZER),
    "dropout-rate": Study(
        "Q32", "What does the dropout rate change?",
        "The dropout network without augmentation at several rates (p = 0 has no dropout layer); each run also "
        "evaluates its training images in inference mode (--eval-train), so the train-test gap is not shifted by "
        "dropout itself.",
        "15 epochs on 10,000 images without augmentation: at p = 0 the network fits its training images far better "
        "than the test images, the overfitting dropout is meant to reduce.",
        "dropout", {"dropout": (0.0, 0.25, 0.5, 0.75, 0.9)}, findings.dropout_rate_finding, epochs=15,
        fixed={"augment": (), "eval_train": True}, columns=("final_train_eval_accuracy",)),
    "dropout-modes": Study(
        "Q33", "How does dropout behave in training and at test time?",
        "Dropout runs, then each one's test accuracy with dropout off (inference mode, what evaluate and predict "
        "do), with dropout left on for one pass (five passes, each with new masks), and with the probabilities of "
        "10 and 100 such passes averaged. Keras' dropout scales the units it keeps by 1/(1-p) during training, so "
        "nothing is rescaled at test time.",
        "10 epochs on 10,000 images: a trained network whose dropout layer has something to drop.",
        "dropout", {"dropout": (0.5,)}, findings.dropout_modes_finding, analysis=analyses.dropout_modes),
    "momentum-decay": Study(
        "Q27", "Why do momentum and the learning-rate decay improve learning?",
        "The augment network with neither, momentum 0.9 alone, the decay x0.95 per epoch alone, and both, at the "
        "augment step's lr0 0.1 and at the momentum step's lr0 0.01: the lab's momentum step changes all three at "
        "once, and this grid separates each.",
        "15 epochs on 10,000 images: the decay has brought the rate to 0.49 of lr0 by the last epoch.",
        "augment", {"lr": (0.1, 0.01), "momentum": (0.0, 0.9), "lr_decay": (1.0, 0.95)},
        findings.momentum_decay_finding, epochs=15),
    "optimizers": Study(
        "Q28", "What do other optimizers and learning-rate schedules do?",
        "The bn network with SGD, SGD with momentum 0.9, Nesterov, Adam, AdamW and RMSprop under the lab's schedule "
        "(x0.95 per epoch), then SGD with momentum under the schedules constant, exponential, step (x0.1 after 5 "
        "epochs), cosine and one-cycle. Each optimizer's learning rate is chosen before the runs by lr-find on the "
        "training images (the minimum of the smoothed loss / 10), never on the test split.",
        "10 epochs on 10,000 images: the schedules have run their course (cosine and one-cycle end near zero).",
        "bn", {}, findings.optimizers_finding, extra_runs=optimizer_points, prepare=analyses.find_learning_rates,
        analysis=analyses.learning_rates),
}


# For --list's time estimates: training images per second of the lab's CIFAR-10 network on one
# core of this project's 2-core machine in float32 (BENCHMARKS.md, ~800-900 on the slower kinds), a third more
# for the evaluations, and a few seconds per run to start.
IMAGES_PER_SECOND, SECONDS_PER_RUN = 800, 15
PUBLISHED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs",
                         "studies")


def estimated_minutes(study: Study, runs: int, limit: int | None = None, epochs: int | None = None) -> int:
    """Minutes at IMAGES_PER_SECOND for the training images, a third of that again for evaluations, and start-up."""
    images = min(limit or study.limit or 50000, 50000)
    seconds = runs * (SECONDS_PER_RUN + (epochs or study.epochs) * images * 4 / 3 / IMAGES_PER_SECOND)
    return max(1, round(seconds / 60))


def measured_minutes(name: str) -> str:
    """The published runs' training time (docs/studies/<name>/results.json), where this checkout has it."""
    path = os.path.join(PUBLISHED, name, "results.json")
    if not os.path.exists(path):
        return ""
    record = read_json(path)
    if "training_seconds" not in record:
        return ""
    precision = "bfloat16" if record.get("mixed_precision") else "float32"
    return f"; measured {record['training_seconds'] / 60:.0f} min for the published runs ({precision})"


def describe_studies(seeds: int = SEEDS) -> list[str]:
    """`study --list`: one line per study: questions, default scale, estimated and measured time."""
    lines = []
    for name, study in STUDIES.items():
        points = len(grid_points(study))
        runs = points * seeds
        lines.append(
            f"{name:<15} {study.questions:<9} {study.question} ({points} point{'s' if points > 1 else ''} x {seeds} "
            f"seeds x {study.epochs} epoch{'s' if study.epochs > 1 else ''} on {study.limit or 'all'} images; about "
            f"{estimated_minutes(study, runs)} min on one core in float32{measured_minutes(name)})")
    return lines
