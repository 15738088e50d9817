"""The lab's networks as `keras.Sequential` models that take raw uint8 pixels.

A model is its on-device preprocessing (scaling, normalization, augmentation) followed by the
network. Variants differ only in their `TrainConfig`, never in a copied model.
"""

import keras
import numpy as np
from keras import layers

from keras_cnn.config import DATASET_SHAPES, LAB_MEAN, LAB_STD, TrainConfig, resolve_config
from pipelines.preprocessing import ChannelStats, RandomCrop, RandomFlip

CROP_SIZE = 28  # the lab's augmentation crop


def build_model(config: TrainConfig | str = "bn", norm_stats: ChannelStats | None = None, num_classes: int = 10) -> keras.Sequential:
    """The uncompiled model of a variant name or config.

    With normalization="train", `norm_stats` are the training split's per-channel statistics;
    without them the Normalization layer is left to be set by `layer.adapt(images / 255)`.
    """
    if isinstance(config, str):
        config = resolve_config(config)
    height, width, channels = DATASET_SHAPES[config.dataset]
    preprocessing = preprocessing_layers(config, norm_stats)
    network = lenet5(num_classes) if config.arch == "lenet5" else cifar_cnn(config, num_classes)
    return keras.Sequential(
        [keras.Input((height, width, channels), dtype="uint8", name="pixels"), *preprocessing, *network],
        name=config.variant,
    )


def preprocessing_layers(config: TrainConfig, norm_stats: ChannelStats | None = None) -> list[layers.Layer]:
    """Scaling to [0, 1], then the variant's normalization and training-time augmentation."""
    steps = [layers.Rescaling(1 / 255, name="scale")]
    if config.normalization == "train":
        if norm_stats is None:
            steps.append(layers.Normalization(name="standardize"))
        else:
            steps.append(layers.Normalization(mean=norm_stats.mean, variance=np.square(norm_stats.std), name="standardize"))
    elif config.normalization == "lab":
        steps.append(layers.Normalization(mean=LAB_MEAN, variance=np.square(LAB_STD), name="standardize"))
    if "crop28" in config.augment:
        steps.append(RandomCrop(CROP_SIZE, CROP_SIZE, seed=config.seed, name="crop"))
    if "flip" in config.augment:
        steps.append(RandomFlip("horizontal", seed=config.seed, name="flip"))
    return steps


def cifar_cnn(config: TrainConfig, num_classes: int = 10) -> list[layers.Layer]:
    """conv1 32@5x5, pool; conv2 64@5x5, pool; conv3 64@5x5, pool; fc4 1000; fc5 (+ BN, dropout by config)."""

    def conv(filters: int, index: int) -> list[layers.Layer]:
        # PyTorch's BatchNorm2d defaults, as in the lab: running stats updated by 0.1 per step, eps 1e-5.
        normalize = [layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{index}")] if config.batch_norm else []
        return [layers.Conv2D(filters, 5, padding="same", name=f"conv{index}"), *normalize, layers.ReLU(name=f"relu{index}")]

    # A 28x28 crop reaches pool3 at 7x7. The lab pools it in ceil mode to keep fc4's 4x4x64 input;
    # "same" padding on a 2x2/2 max-pool is exactly ceil mode (the padded cell never wins the max).
    size = CROP_SIZE if "crop28" in config.augment else DATASET_SHAPES[config.dataset][0]
    pool3_padding = "same" if (size // 4) % 2 else "valid"
    dropout = [layers.Dropout(config.dropout, seed=config.seed, name="dropout")] if config.dropout else []
    return [
        *conv(32, 1),
        layers.MaxPooling2D(2, name="pool1"),
        *conv(64, 2),
        layers.MaxPooling2D(2, name="pool2"),
        *conv(64, 3),
        layers.MaxPooling2D(2, padding=pool3_padding, name="pool3"),
        layers.Flatten(name="flatten"),
        layers.Dense(1000, activation="relu", name="fc4"),
        *dropout,
        layers.Dense(num_classes, name="fc5"),
        layers.Activation("softmax", dtype="float32", name="softmax"),  # float32 even under mixed precision
    ]


def lenet5(num_classes: int = 10) -> list[layers.Layer]:
    """The lab's starting code: conv 6@5x5 pad 2 + tanh, pool, conv 16@5x5 + tanh, pool, fc 120, 84, 10."""
    return [
        layers.Conv2D(6, 5, padding="same", activation="tanh", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(16, 5, activation="tanh", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dense(120, activation="tanh", name="fc1"),
        layers.Dense(84, activation="tanh", name="fc2"),
        layers.Dense(num_classes, name="fc3"),
        layers.Activation("softmax", dtype="float32", name="softmax"),
    ]
