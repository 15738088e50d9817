"""Optimizer, learning-rate schedule and loss of a run, from its `TrainConfig`.

The lab's schedules (exp, step) change the rate once per epoch through a callback, as the lab
does; the others (cosine, warmup-cosine, onecycle) change it every step through a Keras
`LearningRateSchedule`. Either way the rate at the start of each epoch is logged as
`learning_rate`.
"""

import math

import keras
from keras import ops

from keras_cnn.config import PER_EPOCH_SCHEDULES, TrainConfig

NO_WEIGHT_DECAY = ["bias", "gamma", "beta"]  # decay the conv and dense kernels only


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The configured optimizer, its rate a per-step schedule or (exp, step) a float a callback updates."""
    rate = learning_rate_schedule(config, steps_per_epoch) or config.lr
    decay = config.weight_decay or None
    ema = dict(use_ema=True, ema_momentum=config.ema_momentum) if config.ema_momentum else {}
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(rate, momentum=config.momentum, nesterov=config.nesterov, weight_decay=decay,
                                         **ema)
    elif config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(rate, weight_decay=decay, **ema)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay, **ema)
    else:
        optimizer = keras.optimizers.RMSprop(rate, momentum=config.momentum, weight_decay=decay, **ema)
    if config.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    return optimizer


def learning_rate_schedule(config: TrainConfig,
                           steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule | None:
    """The per-step schedule of cosine, warmup-cosine and onecycle; None for the per-epoch ones."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.lr, decay_steps=total)
    if config.schedule == "warmup-cosine":
        warmup = config.warmup * steps_per_epoch
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=config.lr, warmup_steps=warmup
        )
    if config.schedule == "onecycle":
        return OneCycle(config.lr, total)
    return None


def per_epoch_rate(config: TrainConfig):
    """The exp or step schedule as a function of the epoch (from 0)."""

    def rate(epoch: int) -> float:
        exponent = epoch if config.schedule == "exp" else epoch // config.lr_step_epochs
        return config.lr * config.lr_decay**exponent

    return rate


def learning_rate_callback(config: TrainConfig) -> keras.callbacks.Callback:
    """Per-epoch schedules: sets the rate at the start of every epoch. Per-step ones: logs it."""
    if config.schedule in PER_EPOCH_SCHEDULES:
        return keras.callbacks.LearningRateScheduler(per_epoch_rate(config))
    return LearningRateLogger()


class LearningRateLogger(keras.callbacks.Callback):
    """Logs the per-step schedule's rate at the start of each epoch as `learning_rate`.

    LearningRateScheduler cannot be used with a schedule object, and Keras logs no rate itself.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.rate = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        logs["learning_rate"] = self.rate


@keras.saving.register_keras_serializable(package="keras_cnn")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """PyTorch's OneCycleLR: cosine from peak/25 up to `peak` over 30% of the steps, then down to peak/25e4."""

    def __init__(self, peak: float, total_steps: int, warmup_share: float = 0.3):
        self.peak, self.total_steps, self.warmup_share = peak, total_steps, warmup_share

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start, end = self.peak / 25, self.peak / 25e4
        up = max(1.0, self.warmup_share * self.total_steps)
        down = max(1.0, self.total_steps - up)

        def anneal(begin, finish, progress):
            return finish + (begin - finish) * (1 + ops.cos(math.pi * ops.clip(progress, 0.0, 1.0))) / 2

        return ops.where(step < up, anneal(start, self.peak, step / up), anneal(self.peak, end, (step - up) / down))

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_share": self.warmup_share}


def uses_soft_labels(config: TrainConfig) -> bool:
    """Label smoothing and mixup/cutmix need one-hot (soft) labels; the lab's loss takes class indices."""
    return config.label_smoothing > 0 or any(name in config.augment for name in ("mixup", "cutmix"))


def loss_and_metrics(config: TrainConfig, num_classes: int) -> tuple[keras.losses.Loss, list]:
    """Cross-entropy on the softmax output, with top-1 (and, over 5 classes, top-5) accuracy."""
    if uses_soft_labels(config):
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        top5 = keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        top5 = keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5_accuracy")
    return loss, metrics + ([top5] if num_classes > 5 else [])
