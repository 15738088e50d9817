"""On-device preprocessing: Keras layers that run on whole batches inside the model.

They are the first layers of every model, so scaling, normalization and augmentation run on the
accelerator as part of the training step, and an exported model takes raw uint8 pixels.
Augmentations act only when Keras calls them with training=True (inside `fit`); a bare
`model(x)`, `predict` and `evaluate` see the inference behaviour.
"""

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf  # the backend (Keras on TensorFlow): RandomCrop gathers with tf.gather
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


@dataclass(frozen=True)
class PixelStats:
    """The mean image and per-pixel standard deviation (H, W, C arrays) of pixel values scaled to [0, 1]."""

    mean: np.ndarray
    std: np.ndarray

    def to_dict(self) -> dict:
        """A summary for config.json (the 2 x H*W*C values themselves travel in the model's Normalization layer)."""
        return {"per_pixel": True, "mean_range": [round(float(self.mean.min()), 6), round(float(self.mean.max()), 6)],
                "std_range": [round(float(self.std.min()), 6), round(float(self.std.max()), 6)]}


def pixel_stats(images: np.ndarray) -> PixelStats:
    """Mean image and per-pixel (population) standard deviation of uint8 `images`, in float64 then float32."""
    pixels = images.astype(np.float64) / 255.0
    std = np.maximum(pixels.std(axis=0), 1e-3)  # a pixel that never varies (a constant border) must not divide by 0
    return PixelStats(pixels.mean(axis=0).astype(np.float32), std.astype(np.float32))


@keras.saving.register_keras_serializable(package="keras_cnn")
class RandomCrop(keras.layers.Layer):
    """A `height` x `width` crop at a uniform random position per image in training; centered in inference.

    With `padding`, the images are first padded with that many zeros on each side (the usual
    CIFAR recipe: pad 4, crop 32; a crop of the input size is then the identity at inference), or
    with `padding_mode="reflect"` with their own border pixels mirrored (no blank band).
    Not keras.layers.RandomCrop: at inference that one resizes the whole image to the crop size
    instead of taking the centered crop the lab uses at test time.
    """

    def __init__(self, height: int, width: int, padding: int = 0, seed: int | None = None, padding_mode: str = "zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.height, self.width, self.padding, self.seed, self.padding_mode = height, width, padding, seed, padding_mode
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if self.padding:
            if not training and images.shape[1] == self.height and images.shape[2] == self.width:
                return images
            pad = self.padding
            mode = "reflect" if self.padding_mode == "reflect" else "constant"
            images = ops.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)], mode=mode)
        in_height, in_width = images.shape[1], images.shape[2]
        if not training:
            top, left = (in_height - self.height) // 2, (in_width - self.width) // 2
            return images[:, top : top + self.height, left : left + self.width, :]
        batch = ops.shape(images)[0]
        tops = keras.random.randint((batch, 1), 0, in_height - self.height + 1, seed=self.seed_generator)
        lefts = keras.random.randint((batch, 1), 0, in_width - self.width + 1, seed=self.seed_generator)
        rows = tops + ops.arange(self.height, dtype=tops.dtype)  # (batch, height): each image's own rows
        cols = lefts + ops.arange(self.width, dtype=lefts.dtype)
        # tf.gather with batch_dims, not keras.ops.take_along_axis: that one broadcasts the indices
        # to the whole batch and adds a select and transposes, ~9% of the bn step's op time (profiled).
        images = tf.gather(images, rows, axis=1, batch_dims=1)
        return tf.gather(images, cols, axis=2, batch_dims=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        return super().get_config() | {"height": self.height, "width": self.width, "padding": self.padding,
                                       "seed": self.seed,
                                      "padding_mode": self.padding_mode}


@keras.saving.register_keras_serializable(package="keras_cnn")
class RandomFlip(keras.layers.RandomFlip):
    """keras.layers.RandomFlip that defaults to inference.

    Keras' layer defaults to training=True, so a bare `model(x)` (or a serving function that
    does not pass training=False) would flip test images at random.
    """

    def call(self, data, training=False):
        return super().call(data, training=training)

    def transform_images(self, images, transformation, training=True):
        # The same flips as Keras' (same random draws), as one gather of each image's columns,
        # in order or reversed: Keras mirrors the whole batch and selects per image, which cost
        # 3% of the bn step's op time (profiled).
        if not training or self.mode != "horizontal" or len(images.shape) != 4:
            return super().transform_images(images, transformation, training=training)
        width = images.shape[2]
        columns = ops.arange(width)
        flips = ops.reshape(transformation["flips"], (-1, 1))  # (batch, 1): mirror this image?
        order = ops.where(flips, width - 1 - columns, columns)  # (batch, width)
        return tf.gather(ops.cast(images, self.compute_dtype), order, axis=2, batch_dims=1)


def inference_views(images, tta: str) -> tuple[list, list[float]]:
    """The views of a batch that test-time augmentation averages, and the weight of each.

    flip: the images and their mirror images, half each. flip-translate (airbench's, Jordan 2024):
    half the weight on those two, half on the images moved one pixel down-right and one pixel
    up-left (borders reflected), each with its mirror image.
    """
    def mirror(batch):
        return ops.flip(batch, axis=2)
    if tta == "flip":
        return [images, mirror(images)], [0.5, 0.5]
    height, width = images.shape[1], images.shape[2]
    padded = ops.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
    down_right, up_left = padded[:, :height, :width], padded[:, 2:, 2:]
    views = [images, mirror(images), down_right, mirror(down_right), up_left, mirror(up_left)]
    return views, [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]


@keras.saving.register_keras_serializable(package="keras_cnn")
class Cutout(keras.layers.Layer):
    """Training only: zero a `size` x `size` square at a uniform random center per image (DeVries & Taylor 2017).

    The square is clipped at the image border, as in the paper. It runs after normalization,
    so zero is the mean colour.
    """

    def __init__(self, size: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed = size, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        center_y = keras.random.randint((batch, 1, 1), 0, height, seed=self.seed_generator)
        center_x = keras.random.randint((batch, 1, 1), 0, width, seed=self.seed_generator)
        rows = ops.arange(height)[None, :, None]
        cols = ops.arange(width)[None, None, :]
        top = center_y - self.size // 2
        left = center_x - self.size // 2
        inside = (rows >= top) & (rows < top + self.size) & (cols >= left) & (cols < left + self.size)
        return ops.where(inside[..., None], ops.zeros_like(images), images)

    def get_config(self):
        return super().get_config() | {"size": self.size, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_cnn")
class ColorJitter(keras.layers.Layer):
    """Training only: scale brightness, contrast and saturation by random factors in [1 - s, 1 + s] per image.

    Acts on pixels in [0, 1] (before normalization) and clips to that range. Ours rather than
    keras.layers.RandomColorJitter, whose layers default to training=True in a bare call.
    """

    def __init__(self, strength: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.strength, self.seed = strength, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training or images.shape[-1] != 3:
            return images

        def factor():
            return keras.random.uniform((ops.shape(images)[0], 1, 1, 1), 1 - self.strength, 1 + self.strength,
                                        seed=self.seed_generator, dtype=images.dtype)

        images = images * factor()  # brightness
        mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
        images = (images - mean) * factor() + mean  # contrast
        gray = ops.mean(images, axis=3, keepdims=True)
        images = (images - gray) * factor() + gray  # saturation
        return ops.clip(images, 0.0, 1.0)

    def get_config(self):
        return super().get_config() | {"strength": self.strength, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_cnn")
class ZCAWhitening(keras.layers.Layer):
    """x -> (x - mean) @ W on whole images: the training split's ZCA whitening (a fixed, non-trainable map).

    `mean` (D,) and `matrix` (D, D), D = H*W*C, are weights (saved with the model, not in its
    config); construct with them, or let a saved model's weights fill them.
    """

    def __init__(self, mean=None, matrix=None, **kwargs):
        super().__init__(**kwargs)
        self._initial = (mean, matrix)

    def build(self, input_shape):
        dim = int(np.prod(input_shape[1:]))
        mean, matrix = self._initial
        self.mean = self.add_weight(shape=(dim,), initializer=_constant(mean, np.zeros(dim)), trainable=False,
                                    name="mean")
        self.matrix = self.add_weight(
            shape=(dim, dim), initializer=_constant(matrix, np.eye(dim)), trainable=False, name="matrix"
        )

    def get_config(self):
        return super().get_config()  # mean and matrix travel as weights, not in the config

    def call(self, images):
        flat = ops.reshape(images, (ops.shape(images)[0], -1))
        whitened = ops.matmul(flat - ops.cast(self.mean, flat.dtype), ops.cast(self.matrix, flat.dtype))
        return ops.reshape(whitened, ops.shape(images))


def _constant(value, default):
    array = np.asarray(default if value is None else value, dtype="float32")
    return lambda shape, dtype=None: ops.convert_to_tensor(array.reshape(shape), dtype=dtype or "float32")


def zca_whitening(
    images: np.ndarray, epsilon: float, channel_stats: ChannelStats | None = None, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and ZCA matrix W = U diag(1 / sqrt(S + epsilon * mean(S))) U^T of uint8 `images`.

    The images are scaled to [0, 1] and, with `channel_stats`, standardized first: ZCA sees what
    the layer before it outputs. `epsilon` is relative to the mean eigenvalue (the average pixel
    variance), so the same value suits [0, 1] pixels and standardized ones. Chunked, in float64.
    """
    dim = int(np.prod(images.shape[1:]))
    total, products = np.zeros(dim), np.zeros((dim, dim))
    for start in range(0, len(images), chunk):
        pixels = images[start : start + chunk].astype(np.float64) / 255.0
        if channel_stats is not None:
            pixels = (pixels - np.array(channel_stats.mean)) / np.array(channel_stats.std)
        flat = pixels.reshape(len(pixels), dim)
        total += flat.sum(axis=0)
        products += flat.T @ flat
    mean = total / len(images)
    covariance = products / len(images) - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    scale = 1.0 / np.sqrt(eigenvalues + epsilon * eigenvalues.mean())
    return mean.astype(np.float32), ((eigenvectors * scale) @ eigenvectors.T).astype(np.float32)


def patch_whitening_kernel(
    images: np.ndarray, size: int, filters: int, channel_stats: ChannelStats | None = None,
    epsilon: float = 5e-4, max_images: int = 10_000, chunk: int = 500,
) -> np.ndarray:
    """A `size`x`size` conv kernel (size, size, channels, filters) that whitens the patches of uint8 `images`.

    The covariance of all size x size patches (of the first `max_images`, as the layer before the
    conv sees them: scaled to [0, 1], standardized with `channel_stats`) has eigenvectors v and
    eigenvalues s; the kernel holds the filters/2 with the largest s as v / sqrt(s + epsilon *
    mean(s)), then the same negated (airbench's initialization: a conv that starts from the
    data's main directions, with unit-variance outputs, and both signs so that a ReLU keeps each).
    """
    channels, total, products, count = images.shape[-1], 0.0, 0.0, 0
    for start in range(0, min(len(images), max_images), chunk):
        pixels = images[start : min(start + chunk, max_images)].astype(np.float32) / 255.0
        if channel_stats is not None:
            pixels = (pixels - np.array(channel_stats.mean, np.float32)) / np.array(channel_stats.std, np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(pixels, (size, size), axis=(1, 2))  # n, h, w, c, size, size
        patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, size * size * channels).astype(np.float64)
        total, products, count = total + patches.sum(axis=0), products + patches.T @ patches, count + len(patches)
    mean = total / count
    eigenvalues, eigenvectors = np.linalg.eigh(products / count - np.outer(mean, mean))  # ascending
    top = slice(len(eigenvalues) - 1, len(eigenvalues) - 1 - filters // 2, -1)
    halves = eigenvectors[:, top] / np.sqrt(np.maximum(eigenvalues[top], 0) + epsilon * eigenvalues.mean())
    return np.concatenate([halves, -halves], axis=1).reshape(size, size, channels, filters).astype(np.float32)


def mix_batch(images, labels, augment: tuple[str, ...], mixup_alpha: float, cutmix_alpha: float, seed_generator):
    """Mixup or cutmix of a uint8 batch with a shuffled copy of itself; labels become soft (one-hot in, mixed out).

    One mixing weight per batch, as in both papers. With both in `augment`, each batch uses one
    of them at random. Runs on the raw uint8 input, before the model's preprocessing layers:
    these are linear or geometric, so mixing first is the same up to rounding (mixup) and
    exact for cutmix's pasted pixels; crops that follow are shared by the mixed pair.
    """
    batch = ops.shape(images)[0]
    partner = keras.random.shuffle(ops.arange(batch), seed=seed_generator)
    other_images, other_labels = ops.take(images, partner, axis=0), ops.take(labels, partner, axis=0)
    methods = [name for name in ("mixup", "cutmix") if name in augment]
    cutmix_share = 0.5 if len(methods) == 2 else float(methods == ["cutmix"])
    use_cutmix = keras.random.uniform((), seed=seed_generator) < cutmix_share

    def mixup():
        weight = keras.random.beta((), mixup_alpha, mixup_alpha, seed=seed_generator)
        mixed = weight * ops.cast(images, "float32") + (1 - weight) * ops.cast(other_images, "float32")
        return ops.cast(ops.round(mixed), images.dtype), weight

    def cutmix():
        weight = keras.random.beta((), cutmix_alpha, cutmix_alpha, seed=seed_generator)
        height, width = images.shape[1], images.shape[2]
        cut_h = ops.cast(ops.round(height * ops.sqrt(1 - weight)), "int32")
        cut_w = ops.cast(ops.round(width * ops.sqrt(1 - weight)), "int32")
        center_y = keras.random.randint((), 0, height, seed=seed_generator)
        center_x = keras.random.randint((), 0, width, seed=seed_generator)
        top, bottom = ops.maximum(center_y - cut_h // 2, 0), ops.minimum(center_y + cut_h // 2, height)
        left, right = ops.maximum(center_x - cut_w // 2, 0), ops.minimum(center_x + cut_w // 2, width)
        rows, cols = ops.arange(height)[:, None], ops.arange(width)[None, :]
        box = (rows >= top) & (rows < bottom) & (cols >= left) & (cols < right)
        mixed = ops.where(box[None, :, :, None], other_images, images)
        kept = 1 - ops.cast((bottom - top) * (right - left), "float32") / (height * width)  # the area really kept
        return mixed, kept

    mixed_images, weight = ops.cond(use_cutmix, cutmix, mixup)
    labels = ops.cast(labels, "float32")
    return mixed_images, weight * labels + (1 - weight) * ops.cast(other_labels, "float32")
