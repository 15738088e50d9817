"""See inside a trained run: confusion matrix, mistakes, conv1's filters, feature maps, what augmentation does.

    inspect_run("runs/bn")   # -> runs/bn/inspect/: report.md, confusion_matrix.png, mistakes.png, ...

Each piece is a function on arrays (`confusion_matrix`, `per_class_scores`, `most_confused`, `top_losses`,
`most_confident`, `feature_maps`, `augmentation_views`) with a `plot_*` function beside it. The test split
is predicted in one batched `model.predict`, with the run's own test-time augmentation, so the confusion
matrix's accuracy is the run's; filters and feature maps come from the plain layers (`model.layers`).
"""

import dataclasses
import math
import os
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from keras_cnn.config import DATASET_SHAPES, TrainConfig
from keras_cnn.errors import ConfigError
from keras_cnn.evaluation import cross_entropy
from keras_cnn.export import load_checkpoint
from keras_cnn.files import write_json, write_text
from keras_cnn.formatting import markdown_table, percent
from keras_cnn.history import DEFAULT_CHECKPOINT
from keras_cnn.locks import folder_lock
from keras_cnn.models import MIXING, preprocessing_layers
from keras_cnn.plots import plt, save_figure
from keras_cnn.rundir import INSPECT_FOLDER
from keras_cnn.runfolder import read_trained_run
from keras_cnn.training import load_data, normalization_stats, zca_stats
from pipelines.images import decode_to_shape, load_image
from pipelines.preprocessing import ZCAWhitening, mix_batch
from pipelines.sources import Split, Splits

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"
CONFUSION_CHART = "confusion_matrix.png"
FILTERS_CHART = "filters.png"
FEATURE_MAPS_CHART = "feature_maps.png"
AUGMENTATION_CHART = "augmentation.png"
AUGMENTATION_IMAGES = 6  # training images in the augmentation grid
AUGMENTATION_DRAWS = 4  # training-step views of each
SAMPLE_LIMIT = 1000  # training images decoded to pick the grid's images from


@dataclass(frozen=True)
class ClassScores:
    name: str
    images: int  # test images of the class
    accuracy: float | None  # share of them predicted as the class (= its recall); None without images
    precision: float | None  # share of the images predicted as the class that are of it; None if none is
    predicted: int  # test images predicted as the class


# --- the pieces, on arrays ---


def predict_probabilities(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, classes) of uint8 `images`, batched, in float32 (also for mixed-precision runs)."""
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float32)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j]: images of class i predicted as class j."""
    return tf.math.confusion_matrix(labels, predicted, num_classes).numpy()


def per_class_scores(matrix: np.ndarray, class_names: list[str]) -> list[ClassScores]:
    """Per class: its images, the share predicted right (accuracy = recall), precision, images predicted as it."""
    correct, images, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    return [
        ClassScores(name, int(n), _share(c, n), _share(c, p), int(p))
        for name, c, n, p in zip(class_names, correct, images, predicted)
    ]


def most_confused(matrix: np.ndarray, class_names: list[str], count: int = 5) -> list[tuple[str, str, int, float]]:
    """The `count` most frequent mistakes as (true class, predicted class, images, share of the true class)."""
    mistakes = matrix.astype(np.int64)
    np.fill_diagonal(mistakes, 0)
    order = np.argsort(-mistakes, axis=None, kind="stable")[:count]
    pairs = [np.unravel_index(index, mistakes.shape) for index in order]
    return [
        (class_names[t], class_names[p], int(mistakes[t, p]), _share(mistakes[t, p], matrix[t].sum()))
        for t, p in pairs
        if mistakes[t, p] > 0
    ]


def top_losses(labels: np.ndarray, probabilities: np.ndarray, count: int, class_index: int | None = None) -> np.ndarray:
    """Indices of the `count` images with the highest loss, highest first; of class `class_index` only, if given."""
    losses = cross_entropy(labels, probabilities)
    candidates = np.flatnonzero(labels == class_index) if class_index is not None else np.arange(len(labels))
    return candidates[np.argsort(-losses[candidates], kind="stable")][:count]


def most_confident(
    labels: np.ndarray, probabilities: np.ndarray, count: int, class_index: int | None = None
) -> np.ndarray:
    """Indices of the `count` correctly predicted images with the highest probability of their class, highest first."""
    correct = probabilities.argmax(axis=1) == labels
    if class_index is not None:
        correct &= labels == class_index
    candidates = np.flatnonzero(correct)
    confidence = probabilities[candidates, labels[candidates]]
    return candidates[np.argsort(-confidence, kind="stable")][:count]


def first_conv_kernel(model: keras.Sequential) -> np.ndarray:
    """conv1's kernel, (k, k, input channels, filters)."""
    return np.asarray(model.get_layer("conv1").kernel, dtype=np.float32)


def feature_layer_names(model: keras.Sequential) -> list[str]:
    """For each convolution conv1, conv2, ...: the last layer of its block before pooling (its ReLU, if any).

    The maps are shown as the next layer receives them, after batch normalization and the activation.
    """
    names = [layer.name for layer in model.layers]
    convolutions = [name for name in names if name.startswith("conv")]
    return [f"relu{name[4:]}" if f"relu{name[4:]}" in names else name for name in convolutions]


def feature_maps(model: keras.Sequential, image: np.ndarray) -> dict[str, np.ndarray]:
    """The maps (H, W, channels) of `feature_layer_names` for one uint8 image, in inference mode.

    A functional model over the plain layers' graph: a tta model's own call would average several views.
    """
    names = feature_layer_names(model)
    extractor = keras.Model(model.inputs[0], [model.get_layer(name).output for name in names])
    outputs = extractor(image[None], training=False)
    return {name: np.asarray(output, dtype=np.float32)[0] for name, output in zip(names, outputs)}


def preprocessing_layers_of(model: keras.Sequential) -> list[layers.Layer]:
    """The model's first layers, before the first convolution: scaling, normalization, augmentation."""
    first_conv = next(index for index, layer in enumerate(model.layers) if isinstance(layer, layers.Conv2D))
    return list(model.layers[:first_conv])


def augmentation_views(
    preprocessing: list[layers.Layer], images: np.ndarray, config: TrainConfig, draws: int = AUGMENTATION_DRAWS
) -> tuple[np.ndarray, list[np.ndarray]]:
    """`images` (uint8) as the test step sees them, and `draws` times as the training step does, in [0, 1] pixels.

    The views are the model's own preprocessing layers called with training=False and training=True
    (after mixup/cutmix, which `LabSequential.train_step` applies first), mapped back to pixels by `viewable`.
    """

    def run(batch, training: bool) -> np.ndarray:
        for layer in preprocessing:
            batch = layer(batch, training=training)
        return viewable(np.asarray(batch, dtype=np.float32), preprocessing)

    seeds = keras.random.SeedGenerator(config.seed)
    no_labels = np.zeros((len(images), 1), dtype=np.float32)  # mix_batch mixes labels too; they are not shown
    train_views = []
    for _ in range(draws):
        batch = images
        if any(name in config.augment for name in MIXING):
            batch, _ = mix_batch(batch, no_labels, config.augment, config.mixup_alpha, config.cutmix_alpha, seeds)
        train_views.append(run(batch, training=True))
    return run(images, training=False), train_views


def viewable(batch: np.ndarray, preprocessing: list[layers.Layer]) -> np.ndarray:
    """Preprocessed images back in [0, 1]: standardization undone; after ZCA whitening, each image stretched to [0, 1].

    ZCA's output is not an image of pixels (its inverse would undo what it shows), so it is shown as is, rescaled.
    """
    if any(isinstance(layer, ZCAWhitening) for layer in preprocessing):
        low = batch.min(axis=(1, 2, 3), keepdims=True)
        high = batch.max(axis=(1, 2, 3), keepdims=True)
        return (batch - low) / np.maximum(high - low, 1e-12)
    for layer in preprocessing:
        if isinstance(layer, layers.Normalization):
            batch = batch * np.sqrt(np.asarray(layer.variance)).reshape(-1) + np.asarray(layer.mean).reshape(-1)
    return np.clip(batch, 0.0, 1.0)


# --- pictures ---


def plot_confusion_matrix(matrix: np.ndarray, class_names: list[str], path: str, title: str) -> str:
    """Two panels: the counts, and each row divided by its class's images (the share of each prediction)."""
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 0.55 * len(class_names) + 2.5
    figure, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size), layout="constrained")
    for ax, values, name, text in (
        (axes[0], matrix, "counts", lambda v: f"{v:d}"),
        (axes[1], rows, "share of the true class (rows sum to 1)", lambda v: f"{v:.2f}".lstrip("0") if v else "0"),
    ):
        shown = ax.imshow(values, cmap="Blues")
        figure.colorbar(shown, ax=ax, shrink=0.8)
        threshold = values.max() / 2
        if len(class_names) <= 20:  # numbers in the cells while they are legible
            for (i, j), value in np.ndenumerate(values):
                ax.text(j, i, text(value), ha="center", va="center", fontsize=7,
                        color="white" if value > threshold else "black")
        ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
        ax.set_yticks(range(len(class_names)), class_names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(name)
    figure.suptitle(title)
    return save_figure(figure, path)


def plot_gallery(images: np.ndarray, captions: list[str], path: str, title: str, columns: int = 8) -> str:
    """uint8 images in a grid, each with its caption; an empty gallery says so."""
    count = max(len(images), 1)
    columns = min(columns, count)
    grid_rows = math.ceil(count / columns)
    size = (1.5 * columns + 0.2, 1.95 * grid_rows + 0.6)
    figure, axes = plt.subplots(grid_rows, columns, figsize=size, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions):
        _show_image(ax, image)
        ax.set_title(caption, fontsize=7)
    if not len(images):
        axes[0, 0].text(0.5, 0.5, "no image", ha="center", va="center")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_filters(kernel: np.ndarray, path: str, title: str) -> str:
    """Each filter of a first convolution as a tile: RGB for 3 input channels, gray for 1, numbered row by row.

    Each filter is scaled on its own so that 0 is mid-gray and its largest weight (in absolute value) is
    black or white: the pattern, not the magnitude, is what the tile shows.
    """
    filters = np.moveaxis(kernel, -1, 0)  # (filters, k, k, channels)
    peak = np.abs(filters).max(axis=(1, 2, 3), keepdims=True)
    columns = min(8, len(filters))
    tiles = mosaic(0.5 + 0.5 * filters / np.maximum(peak, 1e-12), columns)
    figure, ax = plt.subplots(figsize=(1.0 * columns + 0.4, 1.0 * math.ceil(len(filters) / columns) + 0.6))
    _show_image(ax, tiles)
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_feature_maps(image: np.ndarray, maps: dict[str, np.ndarray], path: str, title: str, columns: int = 16) -> str:
    """The image as conv1 receives it (in [0, 1]), then per layer a tile per channel, each on its own scale."""
    grids = {}
    for name, values in maps.items():
        channels = np.moveaxis(values, -1, 0)[..., None]  # (channels, H, W, 1)
        low, high = channels.min(axis=(1, 2, 3), keepdims=True), channels.max(axis=(1, 2, 3), keepdims=True)
        grids[name] = mosaic((channels - low) / np.maximum(high - low, 1e-12), columns, fill=np.nan)[..., 0]
    heights = [grid.shape[0] / grid.shape[1] for grid in grids.values()]
    figure, axes = plt.subplots(len(grids) + 1, 1, figsize=(9, 9 * sum(heights) + 3.2),
                                height_ratios=[0.2 * sum(heights), *heights])
    _show_image(axes[0], image)
    axes[0].set_title(f"as conv1 receives it (test step, {image.shape[0]}x{image.shape[1]})", fontsize=8)
    for ax, (name, grid) in zip(axes[1:], grids.items()):
        shape = maps[name].shape
        block = f" (conv{name[4:]} block)" if name.startswith("relu") else ""
        ax.imshow(grid, cmap=plt.get_cmap("viridis").with_extremes(bad="white"), interpolation="nearest")  # gaps: NaN
        ax.set_title(f"{name}{block}: {shape[0]}x{shape[1]}, {shape[2]} channels", fontsize=8)
    for ax in axes:
        ax.axis("off")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def mosaic(tiles: np.ndarray, columns: int, gap: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tiles (N, H, W, C) as one image, `columns` per row, with `gap` pixels of `fill` (white in RGB) between them.

    One image drawn once instead of an axes per tile: matplotlib takes seconds to lay out a hundred axes.
    """
    count, height, width, channels = tiles.shape
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, channels), fill, dtype=np.float32)
    for index, tile in enumerate(tiles):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = tile
    return grid


def plot_augmentation(originals: np.ndarray, test_views: np.ndarray, train_views: list[np.ndarray], path: str,
                      title: str) -> str:
    """Per image, one row: the image, the test step's view, the training step's views."""
    columns = 2 + len(train_views)
    figure, axes = plt.subplots(len(originals), columns, figsize=(1.45 * columns, 1.45 * len(originals) + 0.6),
                                squeeze=False)
    for row, original in enumerate(originals):
        views = [original / 255.0, test_views[row], *(draw[row] for draw in train_views)]
        for column, (ax, view) in enumerate(zip(axes[row], views)):
            _show_image(ax, view)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                name = ["image", "test step"][column] if column < 2 else f"training {column - 1}"
                ax.set_title(name, fontsize=8)
            if row == len(originals) - 1:
                ax.set_xlabel(f"{view.shape[0]}x{view.shape[1]}", fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def _show_image(ax, image: np.ndarray) -> None:
    """uint8 or [0, 1] float pixels, (H, W, 3) in colour or (H, W, 1) in gray, without smoothing."""
    if image.shape[-1] == 1:
        white = 255 if image.dtype == np.uint8 else 1
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=white, interpolation="nearest")
    else:
        ax.imshow(image, interpolation="nearest")


# --- a run ---


def inspect_run(
    run_dir: str,
    checkpoint: str = DEFAULT_CHECKPOINT,
    out: str | None = None,
    class_name: str | None = None,
    image: str | int | None = None,
    count: int = 16,
    data_dir: str | None = None,
) -> dict:
    """Write the pictures of a run's `checkpoint` and report.md into `out` (default RUN_DIR/inspect).

    Returns summary.json's contents (and "out").

    class_name: restrict the galleries to test images of that class. image: the feature maps' input, a test
    image's index or an image file (default: the first test image). data_dir: read the data from there
    instead of the run's source (same layout, same classes).
    """
    started = time.perf_counter()
    run, model_path = read_trained_run(run_dir, checkpoint)
    config = TrainConfig.from_dict(run.settings | ({"data_dir": data_dir} if data_dir else {}))
    class_names = list(run.class_names)
    if count < 1:
        raise ConfigError(f"--count must be at least 1, got {count}")
    class_index = _class_index(class_name, class_names)
    model = load_checkpoint(model_path)
    test = load_data(config, test_only=True).test
    chosen_image, image_label = _chosen_image(image, test, DATASET_SHAPES[config.dataset])
    out = out or os.path.join(run_dir, INSPECT_FOLDER)
    with folder_lock(out, "--out"):
        os.makedirs(out, exist_ok=True)

        probabilities = predict_probabilities(model, test.images, config.batch_size)
        predicted = probabilities.argmax(axis=1)
        matrix = confusion_matrix(test.labels, predicted, len(class_names))
        accuracy = float(np.trace(matrix) / matrix.sum())
        name = f"{run_dir} ({checkpoint}.keras)"
        files = [plot_confusion_matrix(matrix, class_names, os.path.join(out, CONFUSION_CHART),
                                       f"{name}: {accuracy:.2%} of {len(test):,} test images")]

        suffix = f"-{class_name}" if class_name else ""
        losses = cross_entropy(test.labels, probabilities)
        worst = top_losses(test.labels, probabilities, count, class_index)
        surest = most_confident(test.labels, probabilities, count, class_index)
        of_class = f" of class {class_name}" if class_name else ""
        galleries = {
            f"mistakes{suffix}.png": (worst, f"{name}: the {len(worst)} test images{of_class} with the highest loss\n"
                                             "(true → predicted class, its probability p, cross-entropy loss)"),
            f"confident{suffix}.png": (
                surest, f"{name}: the {len(surest)} most confident correct predictions{of_class}\n"
                        "(true → predicted class, its probability p, cross-entropy loss)"),
        }
        for file_name, (indices, title) in galleries.items():
            captions = [_caption(i, test.labels, predicted, probabilities, losses, class_names) for i in indices]
            files.append(plot_gallery(test.images[indices], captions, os.path.join(out, file_name), title))

        kernel = first_conv_kernel(model)
        size = "x".join(str(n) for n in kernel.shape[:3])
        title = f"{name}: conv1's {kernel.shape[-1]} filters ({size})"
        files.append(plot_filters(kernel, os.path.join(out, FILTERS_CHART), title))
        maps = feature_maps(model, chosen_image)
        preprocessing = preprocessing_layers_of(model)
        seen, _ = augmentation_views(preprocessing, chosen_image[None], config, draws=0)
        files.append(plot_feature_maps(seen[0], maps, os.path.join(out, FEATURE_MAPS_CHART),
                                       f"{name}: feature maps of {image_label}"))

        sample = one_per_class(sample_splits(config).train, AUGMENTATION_IMAGES)
        test_views, train_views = augmentation_views(preprocessing, sample.images, config)
        files.append(plot_augmentation(sample.images, test_views, train_views, os.path.join(out, AUGMENTATION_CHART),
                                       f"{config.variant} ({run_dir}): training images as each step sees them"))

        scores = per_class_scores(matrix, class_names)
        pairs = most_confused(matrix, class_names)
        summary = {
            "run_dir": run_dir,
            "checkpoint": checkpoint,
            "tta": config.tta,
            "test_images": len(test),
            "test_accuracy": accuracy,
            "confusion_matrix": matrix.tolist(),
            "class_names": class_names,
            "per_class": [dataclasses.asdict(score) for score in scores],
            "most_confused": [dict(true=t, predicted=p, images=n, share=s) for t, p, n, s in pairs],
            "galleries": {
                file_name: [
                    {"index": int(i), "label": class_names[test.labels[i]], "predicted": class_names[predicted[i]],
                     "probability": float(probabilities[i, predicted[i]]), "loss": float(losses[i])}
                    for i in indices
                ]
                for file_name, (indices, _) in galleries.items()
            },
            "feature_maps": {"image": image_label, "layers": {n: list(m.shape) for n, m in maps.items()}},
        }
        summary["seconds"] = round(time.perf_counter() - started, 1)
        summary["files"] = [os.path.basename(path) for path in files] + [SUMMARY_FILE, REPORT_FILE]
        write_json(os.path.join(out, SUMMARY_FILE), summary)
        write_text(os.path.join(out, REPORT_FILE), report_markdown(summary, scores, pairs, files))
        summary["out"] = out
        return summary


def sample_splits(config: TrainConfig) -> Splits:
    """A small stratified subset of the run's data (quick to decode), to show training images."""
    # Every class must be in a stratified subset, so it cannot be smaller than the classes: 1,000 images
    # cover any data set of up to 1,000 classes and decode in a fraction of a second.
    return load_data(dataclasses.replace(config, limit=SAMPLE_LIMIT, val_split=0.0))


def one_per_class(split: Split, count: int) -> Split:
    """`count` images of `split`: the first of each class in class order, then the others."""
    firsts = np.unique(split.labels, return_index=True)[1]
    order = np.concatenate([firsts, np.setdiff1d(np.arange(len(split)), firsts)])
    return split.subset(order[:count])


def show_augmentation(config: TrainConfig, out: str | None = None) -> str:
    """The augmentation grid of a variant without a trained run (default file runs/augmentation-<variant>.png).

    The preprocessing layers are the variant's own (`models.preprocessing_layers`), with normalization
    statistics (and ZCA) from a 1,000-image sample of the training split: enough to show the images, whose
    standardization `viewable` undoes.
    """
    splits = sample_splits(config)
    norm_stats = normalization_stats(config, splits)
    preprocessing = preprocessing_layers(config, norm_stats, zca_stats(config, splits, norm_stats))
    sample = one_per_class(splits.train, AUGMENTATION_IMAGES)
    test_views, train_views = augmentation_views(preprocessing, sample.images, config)
    out = out or os.path.join("runs", f"augmentation-{config.variant}.png")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    return plot_augmentation(sample.images, test_views, train_views, out,
                             f"{config.variant}: training images as each step sees them ({splits.source})")


def report_markdown(summary: dict, scores: list[ClassScores], pairs: list, files: list[str]) -> str:
    """report.md: the accuracy, the per-class table, the most confused pairs and every picture."""
    lines = [
        f"# Inside {summary['run_dir']} ({summary['checkpoint']}.keras)",
        "",
        f"Test accuracy **{summary['test_accuracy']:.2%}** on {summary['test_images']:,} test images "
        f"(test-time augmentation: {summary['tta']}); written by `train_keras.py inspect` in {summary['seconds']} s.",
        "",
        "## Per class",
        "",
        markdown_table(["class", "test images", "accuracy (= recall)", "precision", "predicted as it"],
                       [[s.name, f"{s.images:,}", percent(s.accuracy), percent(s.precision), f"{s.predicted:,}"]
                        for s in scores], right=range(1, 5)),
        "",
        "*accuracy*: share of the class's test images predicted as it; *precision*: share of the images predicted as "
        "the class that are of it.",
        "",
        "**Most confused** (true class → predicted class: images, share of the true class): "
        + ("; ".join(f"{t} → {p}: {n} ({percent(s)})" for t, p, n, s in pairs) or "no mistakes") + ".",
        "",
    ]
    titles = {CONFUSION_CHART: "Confusion matrix", FILTERS_CHART: "conv1's filters", FEATURE_MAPS_CHART: "Feature maps",
              AUGMENTATION_CHART: "What the network sees: a test step and training steps"}
    for path in files:
        file_name = os.path.basename(path)
        gallery = "Highest losses" if file_name.startswith("mistakes") else "Most confident, correct"
        title = titles.get(file_name, gallery)
        lines += [f"## {title}", "", f"![{title}]({file_name})", ""]
    return "\n".join(lines)


def _class_index(class_name: str | None, class_names: list[str]) -> int | None:
    if class_name is None:
        return None
    if class_name not in class_names:
        raise ConfigError(f"class '{class_name}' is not one of the run's classes: {', '.join(class_names)}")
    return class_names.index(class_name)


def _chosen_image(image: str | int | None, test: Split, shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """The feature maps' input: a test image by index (default 0), or an image file resized to the run's image size."""
    if image is None or isinstance(image, int) or str(image).lstrip("-").isdigit():
        index = int(image or 0)
        if not 0 <= index < len(test):
            raise ConfigError(
                f"--image {index} is out of range: the test split has {len(test):,} images (0 to {len(test) - 1})"
            )
        return test.images[index], f"test image {index}"
    load_image(str(image), shape[-1])  # a missing or unreadable file is one line
    pixels, _ = decode_to_shape(tf.io.read_file(str(image)), shape, antialias=True)  # as `predict` converts it
    return pixels.numpy(), os.path.basename(str(image))


def _caption(index: int, labels, predicted, probabilities, losses, class_names) -> str:
    """true → predicted class, the predicted class's probability and the loss."""
    true, guess = labels[index], predicted[index]
    return f"{class_names[true]} → {class_names[guess]}\np {probabilities[index, guess]:.2f}, loss {losses[index]:.2f}"


def _share(part, whole) -> float | None:
    return float(part / whole) if whole else None
