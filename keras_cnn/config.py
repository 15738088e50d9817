"""Experiment settings: one dataclass holds every setting of a run, and a variant is a few overrides.

The lab's CIFAR-10 variants are cumulative: each adds one change to the one before it, so each is
written below as "the previous variant | the change".
"""

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field

from keras_cnn.errors import ConfigError

# Native image shape of each data set: what the model's uint8 input takes.
DATASET_SHAPES = {"cifar10": (32, 32, 3), "mnist": (28, 28, 1)}
ARCHITECTURES = ("cifar_cnn", "lenet5")
NORMALIZATIONS = ("none", "train", "pixel", "lab")
AUGMENTATIONS = ("crop28", "pad-crop32", "flip", "alt-flip", "vflip", "cutout", "mixup", "cutmix", "color")
WHITENINGS = ("none", "zca")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("exp", "step", "cosine", "warmup-cosine", "onecycle")
PER_EPOCH_SCHEDULES = ("exp", "step")  # an epoch's rate does not depend on the number of epochs: a run can be extended
JIT_MODES = ("auto", "on", "off")
STRATEGIES = ("default", "mirrored", "multi-worker")
TTA_MODES = ("none", "flip", "flip-translate")
PADDING_MODES = ("zeros", "reflect")
INITS = ("glorot", "torch")

DEFAULT_WARMUP_EPOCHS = 2

# The lab's fixed per-channel constants (RGB, pixel values scaled to [0, 1]).
LAB_MEAN = (0.491, 0.482, 0.447)
LAB_STD = (0.202, 0.199, 0.201)


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. Build one with `resolve_config(variant, **overrides)`."""

    variant: str = _setting("baseline", "the lab variant these settings start from")
    dataset: str = _setting("cifar10", "data set: cifar10 (32x32 RGB) or mnist (28x28 grayscale)")
    arch: str = _setting("cifar_cnn", "network: cifar_cnn (the lab's CIFAR-10 CNN) or lenet5")
    # Data
    data_dir: str | None = _setting(
        None, "image folder DIR/train/<class>/*, DIR/test/<class>/* (PNG, JPEG, BMP, GIF); default: tensorflow-datasets"
    )
    test_fraction: float = _setting(
        0.0, "for an image folder of class folders without train/ and test/: share of each class held out as test split"
    )
    val_split: float = _setting(
        0.0, "hold out this share of each class of the training split as validation data; the test split is then "
        "evaluated once, at the end"
    )
    strict_images: bool = _setting(
        False, "image folder: refuse files without an image extension and images of other channels or size, instead "
        "of skipping them and converting or resizing the images (as keras.utils.image_dataset_from_directory does)"
    )
    limit: int | None = _setting(None, "use a seeded random subset of N images of each split, every class represented")
    seed: int = _setting(0, "seed of weights, shuffling, subsets and augmentation")
    # Preprocessing and augmentation, on the device, as the model's first layers
    normalization: str = _setting(
        "none", "none: pixels in [0,1]; train: per-channel mean/std of the training split; pixel: the training split's "
        "mean image and per-pixel std; lab: the lab's constants"
    )
    whitening: str = _setting("none",
                              "none, or zca: ZCA whitening computed from the training split (after normalization)")
    zca_epsilon: float = _setting(0.1, "ZCA regularizer, relative to the mean eigenvalue (the average pixel variance)")
    augment: tuple[str, ...] = _setting(
        (), f"training-time augmentations, comma-separated, from: {', '.join(AUGMENTATIONS)} (or none)"
    )
    crop_padding: int = _setting(
        4, "pad-crop32: pixels of padding on each side before the random crop (the most an image moves)"
    )
    crop_padding_mode: str = _setting("zeros",
                                      "pad-crop32: pad with zeros (the mean colour) or reflect the border pixels")
    cutout_size: int = _setting(16, "side of the square that cutout zeroes, in pixels")
    mixup_alpha: float = _setting(0.2, "mixup: mixing weights drawn from Beta(alpha, alpha)")
    cutmix_alpha: float = _setting(1.0, "cutmix: pasted area share drawn from Beta(alpha, alpha)")
    color_jitter: float = _setting(0.1, "color: brightness, contrast and saturation scaled by 1 +- this at most")
    # Network
    init: str = _setting(
        "torch", "initial weights: torch (PyTorch's default, as in the lab's code: kernels and biases uniform in "
        "+-1/sqrt(fan_in)) or glorot (Keras' default: Glorot-uniform kernels, zero biases)"
    )
    whiten_conv1: bool = _setting(
        False, "initialize conv1 from the training split's patch whitening: the covariance eigenvectors of its "
        "patches with the largest eigenvalues, each scaled by 1/sqrt(eigenvalue), with both signs"
    )
    freeze_conv1: bool = _setting(
        False, "never train conv1 (kernel and bias): it stays the patch whitening; with --whiten-conv1"
    )
    dropout: float = _setting(0.0, "dropout rate between fc4 and fc5 (0: no dropout layer)")
    batch_norm: bool = _setting(False, "batch normalization immediately after each convolution")
    bn_momentum: float = _setting(
        0.9, "batch norm: running statistics = momentum x themselves + (1 - momentum) x the batch's (Keras' "
        "convention; the lab's PyTorch momentum 0.1 is 0.9 here)"
    )
    # Optimization
    epochs: int = _setting(30, "number of epochs")
    batch_size: int = _setting(128, "images per training step (per replica with --strategy mirrored/multi-worker)")
    optimizer: str = _setting("sgd", f"optimizer: {', '.join(OPTIMIZERS)}")
    lr: float = _setting(0.1, "learning rate of the first epoch (peak rate of the cosine and onecycle schedules)")
    momentum: float = _setting(0.0, "momentum of sgd and rmsprop (0: none)")
    nesterov: bool = _setting(False, "Nesterov momentum (sgd)")
    weight_decay: float = _setting(0.0, "decoupled weight decay of conv and dense kernels (not biases, BN)")
    label_smoothing: float = _setting(0.0, "label smoothing of the cross-entropy loss")
    ema_momentum: float = _setting(
        0.0, "exponential moving average of the weights (Keras' use_ema), updated every step with this momentum; "
        "evaluations, checkpoints and the final model use the average (0: off)"
    )
    sam_rho: float = _setting(
        0.0, "sharpness-aware minimization: each step follows the gradient at the weights moved by this distance "
        "uphill (0: off); with it a step costs two forward and backward passes"
    )
    schedule: str = _setting(
        "exp", f"learning-rate schedule: {', '.join(SCHEDULES)} (exp: the lab's lr0 * lr_decay**epoch)"
    )
    lr_decay: float = _setting(1.0, "exp: lr multiplied by this after every epoch; step: after every lr_step_epochs")
    lr_step_epochs: int = _setting(10, "step schedule: epochs between two decays")
    warmup_epochs: int | None = _setting(
        None, f"warmup-cosine: epochs of linear warmup (default: {DEFAULT_WARMUP_EPOCHS}, at most epochs - 1)"
    )
    tta: str = _setting(
        "none", "test-time augmentation: flip averages the softmax of each image and its mirror image at inference "
        "(every evaluation, checkpoint and export), flip-translate also the images moved one pixel up-left and "
        "down-right, with their mirror images (6 views); training is unchanged"
    )
    eval_each_epoch: bool = _setting(
        True, "evaluate the evaluated split (test, or validation with --val-split) after every epoch; off: after "
        "the last one only (in a 4-epoch run, six-view evaluations after every epoch cost a third of the time)"
    )
    eval_train: bool = _setting(
        False, "also evaluate the training split in inference mode at the end of every epoch"
    )
    eval_at_start: bool = _setting(
        False, "evaluate the training split (inference mode) and the evaluated split before the first step, logged as "
        "epoch 0 of history.csv and the curves: the error of the untrained network"
    )
    # Platform
    mixed_precision: bool = _setting(
        False, "compute in float16 on GPUs, bfloat16 elsewhere (variables and the softmax stay float32)"
    )
    jit_compile: str = _setting("auto", "XLA: auto (on with a GPU, off on CPU, where it is slower), on, off")
    strategy: str = _setting(
        "default", "default (one device), mirrored (all GPUs of this machine), multi-worker (machines in TF_CONFIG)"
    )

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            object.__setattr__(self, name, _coerce(name, value))
        _check(self)

    @property
    def warmup(self) -> int:
        """Epochs of warmup-cosine's warmup: warmup_epochs, or by default 2 but at most epochs - 1 (fits any run)."""
        return self.warmup_epochs if self.warmup_epochs is not None else min(DEFAULT_WARMUP_EPOCHS, self.epochs - 1)

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of every setting."""
        settings = dataclasses.asdict(self)
        settings["augment"] = list(self.augment)
        return settings

    @classmethod
    def from_dict(cls, settings: dict) -> "TrainConfig":
        """Inverse of `to_dict`; unknown keys are an error."""
        unknown = sorted(set(settings) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}: valid ones are {', '.join(setting_names())}")
        return cls(**settings)


# The lab, step by step. LeNet5 on MNIST is the provided starting point.
VARIANTS: dict[str, dict] = {"lenet5": dict(dataset="mnist", arch="lenet5", epochs=5, lr=0.1)}
VARIANTS["baseline"] = dict(dataset="cifar10", arch="cifar_cnn", epochs=30, lr=0.1)
VARIANTS["norm"] = VARIANTS["baseline"] | dict(normalization="train")
VARIANTS["augment"] = VARIANTS["norm"] | dict(augment=("crop28", "flip"))
# With momentum 0.9 the step is lr / (1 - 0.9) = 10 x lr: lr 0.01 keeps the plain-SGD step of 0.1
# (lr 0.1 with momentum diverges on this network; see README).
VARIANTS["momentum"] = VARIANTS["augment"] | dict(momentum=0.9, lr=0.01, lr_decay=0.95)
VARIANTS["dropout"] = VARIANTS["momentum"] | dict(dropout=0.5)
VARIANTS["bn"] = VARIANTS["dropout"] | dict(batch_norm=True)
# Beyond the lab: the same network and weights, the best recipe we found for 30 epochs (README,
# "The best this network can do"). Whole 32x32 images (pad-crop32) instead of 28x28 crops, Nesterov
# SGD under a one-cycle schedule, weight decay, label smoothing, lighter dropout, and predictions
# averaged over six views of each test image (+1.0-1.6 points over one view). This small network is
# limited by what it can fit, so lighter regularization helped: no cutout and dropout 0.1 (+0.5
# points), shifts of at most 2 pixels instead of 4, filled with reflected borders (+0.5-0.7).
VARIANTS["best"] = VARIANTS["bn"] | dict(
    augment=("pad-crop32", "flip"), crop_padding=2, crop_padding_mode="reflect", nesterov=True, lr=0.05,
    schedule="onecycle", weight_decay=5e-3, label_smoothing=0.1, dropout=0.1, tta="flip-translate",
)

# Beyond the lab: `best` in 4 epochs. Chosen on a validation split by the ablation in docs/results.md
# ("fast"): a higher peak rate for the short one-cycle schedule, and conv1 initialized from the
# training images' patch whitening (airbench's largest single gain). Same network and weights.
# It evaluates once, at its end: evaluations after every epoch would cost a third of its time.
VARIANTS["fast"] = VARIANTS["best"] | dict(epochs=4, lr=0.2, whiten_conv1=True, eval_each_epoch=False)


# The settings that define the two starting points, shown in full in tables.
KEY_SETTINGS = ("dataset", "arch", "normalization", "augment", "dropout", "batch_norm", "epochs", "batch_size", "lr",
                "momentum", "lr_decay")


def variant_changes() -> dict[str, dict]:
    """Per variant, the settings it changes: in full for lenet5 and baseline, then each step's change."""
    changes, previous = {}, None
    for name in VARIANTS:
        settings = resolve_config(name).to_dict()
        if name in ("lenet5", "baseline"):
            changes[name] = {key: settings[key] for key in KEY_SETTINGS}
        else:
            changes[name] = {key: value for key, value in settings.items() if key != "variant"
                             and value != previous[key]}
        previous = settings
    return changes


# A run recorded before a setting existed has no value for it in its config.json. It behaved as
# the setting's default, except where the default has changed since: then as the value here
# (init: Keras' Glorot initialization, until the lab's PyTorch initialization became the default).
VALUES_BEFORE_SETTING_EXISTED = {"init": "glorot"}


def recorded_settings(stored: dict) -> dict:
    """The settings of a recorded run (config.json's "config"), completed with the values of settings added since."""
    return TrainConfig().to_dict() | VALUES_BEFORE_SETTING_EXISTED | stored


def setting_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def resolve_config(variant: str = "bn", **overrides) -> TrainConfig:
    """The settings of `variant` with `overrides` applied, checked."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown variant '{variant}': choose one of {', '.join(VARIANTS)}")
    unknown = sorted(set(overrides) - set(setting_names()))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}: valid ones are {', '.join(setting_names())}")
    return TrainConfig(**(VARIANTS[variant] | {"variant": variant} | overrides))


def _coerce(name: str, value):
    """Accept JSON and Python spellings of a setting (list for tuple, int for float); reject the rest."""
    kind = _field_types()[name]
    optional = _is_optional(kind)
    if optional:
        if value is None:
            return None
        kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
    if kind == tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip() and part.strip() != "none"]
        if not isinstance(value, (list, tuple)) or not all(isinstance(part, str) for part in value):
            raise ConfigError(f"{name} must be a list of names, got {value!r}")
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"{name} must be {'None or ' if optional else ''}{kind.__name__}, got {value!r}")
    return value


def _field_types() -> dict:
    return typing.get_type_hints(TrainConfig)


def _is_optional(kind) -> bool:
    return isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)


def _check(config: TrainConfig) -> None:
    """Raise ConfigError naming the first invalid setting and its valid range."""

    def require(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    require(config.dataset in DATASET_SHAPES,
            f"dataset '{config.dataset}' is unknown: use {' or '.join(DATASET_SHAPES)}")
    require(config.arch in ARCHITECTURES, f"arch '{config.arch}' is unknown: use {' or '.join(ARCHITECTURES)}")
    require(
        config.normalization in NORMALIZATIONS,
        f"normalization '{config.normalization}' is unknown: use {', '.join(NORMALIZATIONS)}",
    )
    require(
        config.normalization != "lab" or config.dataset == "cifar10",
        "the lab's normalization constants are CIFAR-10's (RGB): use --normalization train for mnist",
    )
    for name in config.augment:
        require(name in AUGMENTATIONS, f"augmentation '{name}' is unknown: use any of {', '.join(AUGMENTATIONS)}")
    require(len(set(config.augment)) == len(config.augment), f"augment lists a name twice: {','.join(config.augment)}")
    require(
        not {"crop28", "pad-crop32"} <= set(config.augment),
        "augment crop28 and pad-crop32 are two crops: choose one",
    )
    for name, choices in (
        ("whitening", WHITENINGS),
        ("optimizer", OPTIMIZERS),
        ("schedule", SCHEDULES),
        ("jit_compile", JIT_MODES),
        ("strategy", STRATEGIES),
        ("tta", TTA_MODES),
        ("crop_padding_mode", PADDING_MODES),
        ("init", INITS),
    ):
        value = getattr(config, name)
        require(value in choices, f"{name.replace('_', ' ')} '{value}' is unknown: use {', '.join(choices)}")
    require(config.zca_epsilon > 0, f"zca epsilon must be > 0, got {config.zca_epsilon}")
    require(1 <= config.crop_padding <= 16, f"crop padding must be between 1 and 16 pixels, got {config.crop_padding}")
    require(1 <= config.cutout_size <= min(DATASET_SHAPES[config.dataset][:2]),
            f"cutout size must be between 1 and the image size, got {config.cutout_size}")
    require(config.mixup_alpha > 0, f"mixup alpha must be > 0, got {config.mixup_alpha}")
    require(config.cutmix_alpha > 0, f"cutmix alpha must be > 0, got {config.cutmix_alpha}")
    require(0 <= config.color_jitter < 1, f"color jitter must be in [0, 1), got {config.color_jitter}")
    require(not config.freeze_conv1 or config.whiten_conv1,
            "freeze conv1 keeps conv1's initial kernel: use it with --whiten-conv1")
    require(0 <= config.bn_momentum < 1, f"bn momentum must be in [0, 1), got {config.bn_momentum}")
    require(0 <= config.ema_momentum < 1, f"ema momentum must be in [0, 1), got {config.ema_momentum}")
    require(not {"flip", "alt-flip"} <= set(config.augment), "augment flip and alt-flip are two flips: choose one")
    require(config.weight_decay >= 0, f"weight decay must be >= 0, got {config.weight_decay}")
    require(0 <= config.label_smoothing < 1, f"label smoothing must be in [0, 1), got {config.label_smoothing}")
    require(math.isfinite(config.sam_rho) and config.sam_rho >= 0, f"sam rho must be >= 0, got {config.sam_rho}")
    require(config.lr_step_epochs >= 1, f"lr step epochs must be at least 1, got {config.lr_step_epochs}")
    require(config.warmup_epochs is None or 0 <= config.warmup_epochs < config.epochs
            or config.schedule != "warmup-cosine",
            f"warmup epochs must be in [0, epochs - 1] (epochs {config.epochs}), got {config.warmup_epochs}")
    require(not config.nesterov or (config.optimizer == "sgd" and config.momentum > 0),
            "nesterov needs the sgd optimizer with --momentum > 0")
    require(config.epochs >= 1, f"epochs must be at least 1, got {config.epochs}")
    require(config.batch_size >= 1, f"batch size must be at least 1, got {config.batch_size}")
    require(math.isfinite(config.lr) and config.lr > 0, f"learning rate must be > 0, got {config.lr}")
    require(0 <= config.momentum < 1, f"momentum must be in [0, 1), got {config.momentum}")
    require(0 < config.lr_decay <= 1, f"lr decay must be in (0, 1], got {config.lr_decay}")
    require(0 <= config.dropout < 1, f"dropout rate must be in [0, 1), got {config.dropout}")
    require(config.limit is None or config.limit >= 1, f"limit must be at least 1, got {config.limit}")
    require(config.seed >= 0, f"seed must be >= 0, got {config.seed}")
    require(0 <= config.test_fraction < 1, f"test fraction must be in [0, 1), got {config.test_fraction}")
    require(0 <= config.val_split < 1, f"validation split must be in [0, 1), got {config.val_split}")
