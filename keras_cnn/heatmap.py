"""`heatmap`: the class-score map of a trained run's fully-convolutional form over an image of any size.

`fullyconv.fully_convolutional` turns the run's dense layers into convolutions; `analysis.analyse`
gives the receptive field and jump of each output position, which place the map on the image.
"""

import os

import keras
import numpy as np

from keras_cnn.analysis import analyse
from keras_cnn.errors import ConfigError, RunDirError
from keras_cnn.export import load_checkpoint
from keras_cnn.formatting import pair
from keras_cnn.fullyconv import fully_convolutional
from keras_cnn.history import DEFAULT_CHECKPOINT
from keras_cnn.plots import plt, save_figure
from keras_cnn.runfolder import read_trained_run
from pipelines.images import load_image


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
    model, class_names = load_model_and_classes(run_dir, checkpoint)
    out = out or os.path.join(run_dir, f"heatmap-{os.path.splitext(os.path.basename(image_path))[0]}.png")
    if os.path.exists(out) and not overwrite:
        raise RunDirError(f"{out} exists: pass --overwrite to replace it, or --out for another file")
    if not 1 <= top <= len(class_names):
        raise ConfigError(f"--top must be between 1 and {len(class_names)} (the number of classes), got {top}")
    image = load_image(image_path, model.inputs[0].shape[-1])
    converted = fully_convolutional(model, image.shape[:2])
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    title = f"{os.path.basename(image_path)}, {run_dir} ({checkpoint})"
    return out, draw_heatmap(converted, image, class_names, out, top, title)


def draw_heatmap(converted: keras.Sequential, image: np.ndarray, class_names: list[str], out: str, top: int,
                 title: str) -> np.ndarray:
    """Write the PNG of `plot_heatmap` for `image` under the fully-convolutional model `converted`; its score map.

    `heatmap` and the page of `serve` (keras_cnn/serving.py) both draw through here.
    """
    scores = class_score_map(converted, image)
    rows, cols = analyse(converted).rows[-1].fields
    plot_heatmap(image, scores, class_names, (rows, cols), out, top, title=title)
    return scores


def load_model_and_classes(run_dir: str, checkpoint: str = DEFAULT_CHECKPOINT) -> tuple[keras.Sequential, list[str]]:
    """A run directory's `checkpoint` (found by `runfolder.read_trained_run`) and its class names."""
    run, path = read_trained_run(run_dir, checkpoint)
    model = load_checkpoint(path)
    classes = model.outputs[0].shape[-1]
    names = run.class_names
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
        f"{title}\n{scores.shape[0]}x{scores.shape[1]} positions, one every {pair(rows.jump, cols.jump)} px, each "
        f"seeing a {rows.size}x{cols.size} px window (softmax over classes at each position)",
        fontsize=9,
    )
    save_figure(figure, path, dpi=110, bbox_inches="tight")
