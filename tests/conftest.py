"""Shared test helpers: tiny image folders written by the tests, and the optional real data."""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
CIFAR_JPEG = SHARED_DATA / "cifar10-jpeg"
MNIST_SAMPLE = SHARED_DATA / "mnist-sample"

needs_cifar_jpeg = pytest.mark.skipif(not CIFAR_JPEG.is_dir(), reason="../shared/data/cifar10-jpeg is absent")
needs_mnist_sample = pytest.mark.skipif(not MNIST_SAMPLE.is_dir(), reason="../shared/data/mnist-sample is absent")


@pytest.fixture(autouse=True, scope="session")
def decoded_cache_in_a_temporary_folder(tmp_path_factory):
    """The decoded-images cache of large folders (pipelines.image_folder.DecodedCache) never lands in ~/.cache."""
    os.environ["KERAS_CNN_CACHE"] = str(tmp_path_factory.mktemp("decoded-cache"))


def write_images(folder: Path, count: int, shape=(32, 32, 3), suffix=".png", seed=0) -> list[Path]:
    """`count` images of uniformly random pixels and `shape` in `folder`, drawn with `seed` (one per class folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        image = Image.fromarray(pixels[..., 0] if shape[-1] == 1 else pixels)
        path = folder / f"{i:04d}{suffix}"
        image.save(path)
        paths.append(path)
    return paths


def write_image_folder(root: Path, classes=("cat", "dog", "ship"), train=4, test=2, shape=(32, 32, 3),
                       suffix=".png") -> Path:
    """root/train/<class>/*.png and root/test/<class>/*.png."""
    for index, name in enumerate(classes):
        write_images(root / "train" / name, train, shape, suffix, seed=index)
        write_images(root / "test" / name, test, shape, suffix, seed=100 + index)
    return root


# Ten colours far apart (matplotlib's tab10, white for its gray), one per class of `write_learnable_folder`.
CLASS_COLORS = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                         (140, 86, 75), (227, 119, 194), (250, 250, 250), (188, 189, 34), (23, 190, 207)])


def write_learnable_folder(root: Path, train: int = 150, test: int = 20, seed: int = 0) -> Path:
    """A 10-class CIFAR-shaped image folder that a network can learn, unlike noise: root/{train,test}/class<k>/*.png.

    Each image is a disc of its class's colour, of random size and place, on noisy gray of random
    brightness; flips and crops keep the class.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:32, 0:32]
    for split, count in (("train", train), ("test", test)):
        for label, color in enumerate(CLASS_COLORS):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = np.repeat(rng.uniform(60, 190) + rng.normal(0, 20, (32, 32, 1)), 3, axis=2)
                (center_y, center_x), radius = rng.uniform(11, 21, 2), rng.uniform(6.4, 9.6)
                disc = (rows - center_y) ** 2 + (cols - center_x) ** 2 <= radius**2
                image[disc] = color + rng.normal(0, 15, (int(disc.sum()), 3))
                Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return root


@pytest.fixture
def cifar_like_folder(tmp_path) -> Path:
    """A 10-class CIFAR-shaped image folder: 8 train and 4 test PNGs per class."""
    classes = [f"class{i}" for i in range(10)]
    return write_image_folder(tmp_path / "cifar", classes=classes, train=8, test=4)


def applied_directly(run_dir, checkpoint: str = "last.keras", split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """The run's checkpoint applied to a split of the run's data outside the training code: (probabilities, labels)."""
    import json

    import keras

    from keras_cnn.config import TrainConfig, recorded_settings
    from keras_cnn.training import load_data

    settings = recorded_settings(json.loads((Path(run_dir) / "config.json").read_text())["config"])
    data = getattr(load_data(TrainConfig.from_dict(settings), test_only=split == "test"), split)
    model = keras.saving.load_model(Path(run_dir) / checkpoint)
    return model.predict(data.images, batch_size=256, verbose=0), data.labels


def accuracy_applied_directly(run_dir, checkpoint: str = "last.keras", split: str = "test") -> float:
    """The share of the split's images whose most probable class, by the checkpoint applied directly, is the label."""
    probabilities, labels = applied_directly(run_dir, checkpoint, split)
    return float(np.mean(probabilities.argmax(axis=1) == labels))


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """The per-epoch scalars of a TensorBoard run folder (train/ or validation/): tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    events.Reload()
    return {tag: [(event.step, float(make_ndarray(event.tensor_proto))) for event in events.Tensors(tag)]
            for tag in events.Tags()["tensors"] if tag.startswith("epoch_")}


def check_study_report(folder: Path, runs_have_epoch_0: bool = True) -> None:
    """A study's report.md and results.json quote its runs' own records: finding, table cells, means, charts."""
    import csv
    import json
    import re
    import statistics

    from keras_cnn.formatting import percent

    results = json.loads((folder / "results.json").read_text())
    report = (folder / "report.md").read_text()
    assert results["finding"] and all(f"- {line}" in report for line in results["finding"])
    finals = {}
    for run, recorded in results["runs"].items():
        history = list(csv.DictReader((folder / run / "history.csv").open()))
        # The run's last evaluation, as its history logged it epoch by epoch (no study holds out a validation split).
        final = float(history[-1]["test_accuracy"])
        assert recorded["metrics"]["final_test_accuracy"] == pytest.approx(final, abs=1e-7), run
        row = next(line for line in report.splitlines() if line.startswith(f"| {run} "))
        assert f"| {recorded['seed']} | {percent(final)} |" in row
        epochs = [int(row["epoch"]) for row in history]
        assert epochs == list(range(0 if runs_have_epoch_0 else 1, recorded["metrics"]["epochs"] + 1))
        finals[run] = final
    for point, summary in results["points"].items():  # a point's mean: the mean of its runs' logged last epochs
        values = [finals[run] for run in summary["runs"] if not results["runs"][run]["diverged"]]
        row = next(line for line in report.splitlines() if line.startswith(f"| {point} "))
        if values:
            assert f"| {percent(statistics.fmean(values))}" in row, point
    for chart in re.findall(r"!\[[^]]*\]\(([^)]+)\)", report):
        assert (folder / chart).stat().st_size > 1000


STUDY_TINY = ["--limit", "8", "--epochs", "1", "--seeds", "2", "--verbose", "0", "--no-tensorboard"]  # a tiny scale


def run_study_cli(*args: str, cwd: Path, script: str = "train_keras.py", prefix: tuple = ()):
    """The command line (or `script`, e.g. tests/interrupt.py with its `prefix`) in a fresh process; its result."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, str(repo / script), *prefix, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=1800)


@pytest.fixture(scope="module")
def study_folders(tmp_path_factory) -> dict[str, Path]:
    """A CIFAR-like and an MNIST-like image folder for the study tests."""
    root = tmp_path_factory.mktemp("study-data")
    return {"cifar": write_image_folder(root / "cifar"),
            "mnist": write_image_folder(root / "mnist", classes=("0", "1", "7"), shape=(28, 28, 1))}
