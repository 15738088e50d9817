"""Fully-connected layers as convolutions (the lab's questions 5 and 6), and class-score maps.

A dense layer on a H x W x C map is a H x W convolution with one filter per unit, and a dense
layer on a vector is a 1x1 convolution: `fully_convolutional` rewrites a trained model that way,
with the same weights. On the input size the model was trained on it predicts exactly what the
model predicts; on a larger image it slides the classifier over the image and returns a map of
class probabilities (a softmax over the classes at every position).
"""

import os

import keras
import matplotlib
import numpy as np
import tensorflow as tf
from keras import layers

from keras_cnn.errors import ConfigError, DataError, KerasCnnError, RunDirError
from keras_cnn.export import read_run
from keras_cnn.files import atomic_write
from keras_cnn.history import DEFAULT_CHECKPOINT
from pipelines.images import decode_pixels
from pipelines.preprocessing import RandomCrop, ZCAWhitening

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class ImageSizeError(KerasCnnError, ValueError):
    """An image (or --input-size) smaller than the smallest input the network can take."""


def fully_convolutional(model: keras.Sequential, image_size: tuple[int, int] | None = None) -> keras.Sequential:
    """`model` with its dense layers as convolutions and the same weights, for images of `image_size` (default: any).

    The first dense layer after Flatten becomes a convolution as large as the map it was trained
    on (the CIFAR-10 net's fc4: 4x4, 1000 filters), the later ones 1x1 convolutions (fc5: 10
    filters). The crop layer is left out, since it would cut a larger image down: at test time it
    only takes the centered crop (28x28 of the 32x32 image in the lab), and on that crop the two
    models agree. Layers keep their names.
    """
    if image_size is not None:
        _check_image_size(fully_convolutional(model), image_size)
    pixels = model.inputs[0]
    rebuilt, weights = [], []
    map_size = None  # (H, W) of the map that Flatten flattened
    for layer in model.layers:
        if isinstance(layer, ZCAWhitening) or (isinstance(layer, layers.Normalization) and len(layer.axis) > 1):
            what = "ZCA whitening" if isinstance(layer, ZCAWhitening) else "per-pixel normalization (a mean image)"
            raise ConfigError(
                f"a model with {what} only takes images of its training size: it has no fully-convolutional form"
            )
        if isinstance(layer, RandomCrop):
            continue
        if isinstance(layer, layers.Flatten):
            map_size = tuple(layer.input.shape[1:3])
            continue
        if isinstance(layer, layers.Dense):
            if map_size is None:
                raise ValueError(
                    f"dense layer {layer.name} follows no Flatten: the model is not a convolutional network"
                )
            kernel, bias = layer.get_weights()
            # Keras flattens channels-last maps in (H, W, C) order, the order of a convolution
            # kernel's first three axes: the dense kernel reshapes directly.
            kernel = kernel.reshape(*map_size, -1, layer.units)
            rebuilt.append(
                layers.Conv2D(
                    layer.units, map_size, activation=layer.activation, name=layer.name, dtype=layer.dtype_policy
                )
            )
            weights.append([kernel, bias])
            map_size = (1, 1)  # the next dense layers see one position
            continue
        rebuilt.append(type(layer).from_config(layer.get_config()))
        weights.append(layer.get_weights())
    shape = (*(image_size or (None, None)), pixels.shape[-1])
    converted = keras.Sequential(
        [keras.Input(shape, dtype=pixels.dtype, name="pixels"), *rebuilt], name=f"{model.name}_fullyconv"
    )
    for layer, values in zip(rebuilt, weights):
        layer.set_weights(values)
    return converted


def _check_image_size(model: keras.Sequential, size: tuple[int, int]) -> None:
    """Raise ImageSizeError, naming the smallest size, if the fully-convolutional `model` cannot take `size`."""
    if _fits(model, size):
        return
    smallest = next(n for n in range(1, 4096) if _fits(model, (n, n)))
    raise ImageSizeError(
        f"an image of {size[0]}x{size[1]} is too small for this network: it needs at least {smallest}x{smallest} pixels"
    )


def _fits(model: keras.Sequential, size: tuple[int, int]) -> bool:
    try:
        model.compute_output_shape((1, *size, model.inputs[0].shape[-1]))
    except ValueError:  # Keras: "Computed output size would be zero or negative"
        return False
    return True


def load_image(path: str, channels: int) -> np.ndarray:
    """A PNG/JPEG/GIF/BMP file as uint8 (H, W, channels); grayscale and RGB(A) are converted as needed."""
    if not os.path.isfile(path):
        raise DataError(f"image {path} does not exist: give the path of a PNG or JPEG file")
    try:
        image = decode_pixels(tf.io.read_file(path), channels)
    except tf.errors.OpError:
        raise DataError(f"{path} is not a readable PNG/JPEG image: give a PNG or JPEG file") from None
    return image.numpy()


def class_score_map(model: keras.Sequential, image: np.ndarray) -> np.ndarray:
    """Class probabilities (H_out, W_out, classes) of a fully-convolutional `model` at every position of `image`."""
    return np.asarray(model(image[None], training=False))[0]


def heatmap(
    run_dir: str,
    image_path: str,
    out: str | None = None,
    checkpoint: str = DEFAULT_CHECKPOINT,
    top: int = 4,
    overwrite: bool = False,
) -> tuple[str, np.ndarray]:
    """Plot the image beside the score maps of its `top` classes; returns the PNG's path and the score map.

    The model is RUN_DIR/<checkpoint>.keras made fully convolutional; the PNG goes to `out`,
    by default RUN_DIR/heatmap-<image name>.png.
    """
    from keras_cnn.analysis import analyse  # not at the top: analysis imports this module

    model, class_names = load_run(run_dir, checkpoint)
    out = out or os.path.join(run_dir, f"heatmap-{os.path.splitext(os.path.basename(image_path))[0]}.png")
    if os.path.exists(out) and not overwrite:
        raise RunDirError(f"{out} exists: pass --overwrite to replace it, or --out for another file")
    if not 1 <= top <= len(class_names):
        raise ConfigError(f"--top must be between 1 and {len(class_names)} (the number of classes), got {top}")
    image = load_image(image_path, model.inputs[0].shape[-1])
    converted = fully_convolutional(model, image.shape[:2])
    scores = class_score_map(converted, image)
    rows, cols = analyse(converted).rows[-1].fields
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    plot_heatmap(
        image,
        scores,
        class_names,
        (rows, cols),
        out,
        top,
        title=f"{os.path.basename(image_path)}, {run_dir} ({checkpoint})",
    )
    return out, scores


def load_run(run_dir: str, checkpoint: str = DEFAULT_CHECKPOINT) -> tuple[keras.Sequential, list[str]]:
    """The saved model of a run directory (`export.read_run` finds it) and its class names."""
    record, path = read_run(run_dir, checkpoint)
    model = keras.saving.load_model(path)
    classes = model.outputs[0].shape[-1]
    names = record.get("data", {}).get("class_names")
    return model, list(names) if names and len(names) == classes else [str(i) for i in range(classes)]


def plot_heatmap(
    image: np.ndarray, scores: np.ndarray, class_names: list[str], fields, path: str, top: int, title: str
) -> None:
    """The image, then for each of the `top` classes (highest probability anywhere) its map laid over the image.

    Each map cell is drawn centred on the centre of its receptive field, one cell per jump; `fields`
    are the output's receptive fields along rows and columns (from `analysis.analyse`).
    """
    rows, cols = fields
    height, width = image.shape[:2]
    best = np.argsort(-scores.max(axis=(0, 1)))[:top]
    extent = (
        cols.center - cols.jump / 2,
        cols.center + (scores.shape[1] - 0.5) * cols.jump,
        rows.center + (scores.shape[0] - 0.5) * rows.jump,
        rows.center - rows.jump / 2,
    )
    gray = image.mean(axis=-1) if image.shape[-1] > 1 else image[..., 0]
    figure, axes = plt.subplots(1, top + 1, figsize=(3.2 * (top + 1) + 0.8, 3.6), squeeze=False)
    axes = axes[0]
    axes[0].imshow(image if image.shape[-1] == 3 else image[..., 0], cmap=None if image.shape[-1] == 3 else "gray")
    axes[0].set_title(f"input {height}x{width}")
    for ax, index in zip(axes[1:], best):
        ax.imshow(gray, cmap="gray", alpha=0.5)
        shown = ax.imshow(
            scores[..., index], cmap="inferno", vmin=0, vmax=1, alpha=0.75, extent=extent, interpolation="nearest"
        )
        ax.set_xlim(-0.5, width - 0.5)
        ax.set_ylim(height - 0.5, -0.5)
        ax.set_title(f"{class_names[index]} (max {scores[..., index].max():.2f})")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    figure.colorbar(shown, ax=list(axes[1:]), fraction=0.02, pad=0.02, label="class probability")
    figure.suptitle(
        f"{title}\n{scores.shape[0]}x{scores.shape[1]} positions, one every {_pair(rows.jump, cols.jump)} px, each "
        f"seeing a {rows.size}x{cols.size} px window (softmax over classes at each position)",
        fontsize=9,
    )
    atomic_write(path, lambda tmp_path: figure.savefig(tmp_path, dpi=110, bbox_inches="tight"))
    plt.close(figure)


def _pair(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}x{b}"
