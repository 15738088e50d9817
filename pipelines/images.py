"""Decoding image files as `keras.utils.image_dataset_from_directory` does: to the data set's channels and size.

One function for the training folders and for `predict`, so that a photo to classify is
converted as the training images were. JPEGs are decoded the accurate way (`decode_pixels`), so
the pixels are those Pillow, OpenCV and browsers give a client of the exported model.
"""

import os

import numpy as np
import tensorflow as tf

from pipelines.errors import DataError

# Keras' own list (image_dataset_from_directory's ALLOWLIST_FORMATS): what a folder is searched for.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
JPEG_DCT_METHOD = "INTEGER_ACCURATE"  # recorded in config.json: runs before 2026-12-03 decoded with INTEGER_FAST


def is_image_file(name: str) -> bool:
    """Whether a file name has an image extension (any case); hidden files (.DS_Store, ._x.jpg) never do."""
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def decode_pixels(data: tf.Tensor, channels: int = 0) -> tf.Tensor:
    """An encoded image (JPEG, PNG, GIF, BMP) as uint8 (height, width, channels); 0 channels: the file's own.

    JPEGs go through `tf.io.decode_jpeg` with `dct_method="INTEGER_ACCURATE"`: TensorFlow's default
    (INTEGER_FAST, also what `tf.io.decode_image` uses and cannot change) differs from libjpeg's
    accurate IDCT, which Pillow uses, on about 65% of CIFAR-10's JPEG pixel values (up to 5 levels),
    enough to change 2% of a model's top-1 classes between the two decodings.
    """
    return tf.cond(
        tf.io.is_jpeg(data),
        lambda: tf.io.decode_jpeg(data, channels=channels, dct_method=JPEG_DCT_METHOD),
        lambda: tf.io.decode_image(data, channels=channels, expand_animations=False),
    )


def decode_to_shape(
    data: tf.Tensor, image_shape: tuple[int, int, int], antialias: bool = False
) -> tuple[tf.Tensor, tf.Tensor]:
    """The encoded image `data` as uint8 `image_shape`, and its own (height, width, channels) before conversion.

    Channels: grayscale (with or without alpha) becomes RGB by repeating the gray value, RGBA
    loses its alpha (as Keras' decoding does), RGB becomes grayscale by luminance; palette PNGs
    decode to RGB first. Size: an image of another size is stretched to the native one, bilinear
    (Keras' default; `antialias` also averages the pixels a shrunk image skips), and rounded
    back to uint8. Works in tf.data (graph) and eagerly; an undecodable file raises
    tf.errors.InvalidArgumentError.
    """
    height, width, channels = image_shape
    image = decode_pixels(data)
    original_shape = tf.shape(image)
    color = original_shape[2] >= 3
    if channels == 3:
        image = tf.cond(color, lambda: image[..., :3], lambda: tf.image.grayscale_to_rgb(image[..., :1]))
    else:
        image = tf.cond(color, lambda: tf.image.rgb_to_grayscale(image[..., :3]), lambda: image[..., :1])

    def resized():
        stretched = tf.image.resize(image, (height, width), method="bilinear", antialias=antialias)
        return tf.cast(tf.clip_by_value(tf.round(stretched), 0, 255), tf.uint8)

    image = tf.cond(tf.reduce_all(original_shape[:2] == [height, width]), lambda: image, resized)
    return tf.ensure_shape(image, image_shape), original_shape


def load_image(path: str, channels: int) -> np.ndarray:
    """A PNG/JPEG/GIF/BMP file as uint8 (H, W, channels); grayscale and RGB(A) are converted as needed."""
    if not os.path.isfile(path):
        raise DataError(f"image {path} does not exist: give the path of a PNG or JPEG file")
    try:
        image = decode_pixels(tf.io.read_file(path), channels)
    except tf.errors.OpError:
        raise DataError(f"{path} is not a readable PNG/JPEG image: give a PNG or JPEG file") from None
    return image.numpy()
