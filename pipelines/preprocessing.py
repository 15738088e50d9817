"""On-device preprocessing: Keras layers that run on whole batches inside the model.

They are the first layers of every model, so scaling, normalization and augmentation run on the
accelerator as part of the training step, and an exported model takes raw uint8 pixels.
Augmentations act only when Keras calls them with training=True (inside `fit`); a bare
`model(x)`, `predict` and `evaluate` see the inference behaviour.
"""

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel mean and standard deviation of pixel values scaled to [0, 1]."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}


def channel_stats(images: np.ndarray, chunk: int = 4096) -> ChannelStats:
    """Mean and (population) standard deviation of each channel over all pixels of `images` (uint8), one pass."""
    channels = images.shape[-1]
    total = np.zeros(channels)
    total_sq = np.zeros(channels)
    for start in range(0, len(images), chunk):
        pixels = images[start : start + chunk].reshape(-1, channels).astype(np.float64) / 255.0
        total += pixels.sum(axis=0)
        total_sq += (pixels**2).sum(axis=0)
    count = images.size // channels
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return ChannelStats(tuple(mean.round(6).tolist()), tuple(std.round(6).tolist()))


@keras.saving.register_keras_serializable(package="keras_cnn")
class RandomCrop(keras.layers.Layer):
    """A `height` x `width` crop at a uniform random position per image in training; centered in inference.

    Not keras.layers.RandomCrop: at inference that one resizes the whole image to the crop size
    instead of taking the centered crop the lab uses at test time.
    """

    def __init__(self, height: int, width: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width, self.seed = height, width, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        in_height, in_width = images.shape[1], images.shape[2]
        if not training:
            top, left = (in_height - self.height) // 2, (in_width - self.width) // 2
            return images[:, top : top + self.height, left : left + self.width, :]
        batch = ops.shape(images)[0]
        tops = keras.random.randint((batch, 1), 0, in_height - self.height + 1, seed=self.seed_generator)
        lefts = keras.random.randint((batch, 1), 0, in_width - self.width + 1, seed=self.seed_generator)
        rows = tops + ops.arange(self.height, dtype=tops.dtype)  # (batch, height): each image's own rows
        cols = lefts + ops.arange(self.width, dtype=lefts.dtype)
        images = ops.take_along_axis(images, rows[:, :, None, None], axis=1)
        return ops.take_along_axis(images, cols[:, None, :, None], axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return super().get_config() | {"height": self.height, "width": self.width, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_cnn")
class RandomFlip(keras.layers.RandomFlip):
    """keras.layers.RandomFlip that defaults to inference.

    Keras' layer defaults to training=True, so a bare `model(x)` (or a serving function that
    does not pass training=False) would flip test images at random.
    """

    def call(self, data, training=False):
        return super().call(data, training=training)
