"""inspect: confusion matrix, galleries, filters, feature maps and the augmentation grid of a trained run."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image_folder

import train_keras
from keras_cnn import train
from keras_cnn.config import resolve_config
from keras_cnn.evaluation import evaluate_run
from keras_cnn.inspection import (
    augmentation_views,
    confusion_matrix,
    most_confident,
    most_confused,
    per_class_scores,
    plot_confusion_matrix,
    top_losses,
)
from keras_cnn.lab import train_lab
from keras_cnn.models import preprocessing_layers
from pipelines.preprocessing import ChannelStats

CLASSES = [f"class{i}" for i in range(10)]
STATS = ChannelStats((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory):
    """A 1-epoch bn run trained by `lab --inspect`, so its inspect/ folder and the lab report exist."""
    root = tmp_path_factory.mktemp("inspect")
    data = write_image_folder(root / "data", classes=CLASSES, train=8, test=4)
    train_lab(str(root / "lab"), ["bn"], data_dir=str(data), epochs=1, batch_size=16, inspect=True, verbose=0,
              say=lambda *args: None)
    run_dir = root / "lab" / "bn"
    return run_dir, json.loads((run_dir / "inspect" / "summary.json").read_text())


def test_confusion_matrix_counts_every_test_image_and_its_trace_is_the_runs_accuracy(lab_run):
    run_dir, summary = lab_run
    matrix = np.array(summary["confusion_matrix"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert matrix.shape == (10, 10) and matrix.sum() == summary["test_images"] == 40
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["final_test_accuracy"], abs=1e-6)
    assert summary["test_accuracy"] == pytest.approx(evaluate_run(str(run_dir))["test_accuracy"], abs=1e-6)
    assert [row["images"] for row in summary["per_class"]] == matrix.sum(axis=1).tolist()


def test_confusion_matrix_scores_and_most_confused_pairs_by_hand():
    labels, predicted = np.array([0, 0, 1, 1, 2, 2, 2]), np.array([0, 1, 1, 1, 0, 0, 2])
    matrix = confusion_matrix(labels, predicted, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [2, 0, 1]]
    scores = per_class_scores(matrix, ["a", "b", "c"])
    assert [s.accuracy for s in scores] == [0.5, 1.0, pytest.approx(1 / 3)]
    assert [s.precision for s in scores] == [pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    assert most_confused(matrix, ["a", "b", "c"]) == [("c", "a", 2, pytest.approx(2 / 3)), ("a", "b", 1, 0.5)]
    assert per_class_scores(confusion_matrix(np.array([0]), np.array([0]), 2), ["a", "b"])[1].precision is None


def test_galleries_are_sorted_and_restricted_to_a_class():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(4), size=200).astype(np.float32)
    labels = rng.integers(0, 4, 200)
    losses = -np.log(probabilities[np.arange(200), labels])
    worst = top_losses(labels, probabilities, 10)
    assert len(worst) == 10 and np.all(np.diff(losses[worst]) <= 0) and losses[worst[0]] == losses.max()
    surest = most_confident(labels, probabilities, 10, class_index=2)
    assert np.all(labels[surest] == 2) and np.all(probabilities[surest].argmax(axis=1) == 2)
    assert np.all(np.diff(probabilities[surest, 2]) <= 0)
    assert np.all(labels[top_losses(labels, probabilities, 500, class_index=3)] == 3)


def test_the_runs_galleries_are_sorted(lab_run):
    _, summary = lab_run
    mistakes, confident = summary["galleries"]["mistakes.png"], summary["galleries"]["confident.png"]
    losses = [item["loss"] for item in mistakes]
    assert len(mistakes) == 16 and losses == sorted(losses, reverse=True)
    assert all(item["label"] == item["predicted"] for item in confident)
    assert [item["loss"] for item in confident] == sorted(item["loss"] for item in confident)


def test_every_picture_and_the_report_are_written_and_linked(lab_run):
    run_dir, summary = lab_run
    folder = run_dir / "inspect"
    assert sorted(os.listdir(folder)) == sorted(summary["files"])
    assert not [name for name in os.listdir(folder) if name.startswith(".tmp-")]
    report = (folder / "report.md").read_text()
    assert all(f"]({name})" in report for name in summary["files"] if name.endswith(".png"))
    assert summary["feature_maps"]["layers"] == {"relu1": [28, 28, 32], "relu2": [14, 14, 64], "relu3": [7, 7, 64]}
    lab_report = (run_dir.parent / "report.md").read_text()
    assert "[report](bn/inspect/report.md)" in lab_report
    assert "[confusion matrix](bn/inspect/confusion_matrix.png)" in lab_report


def test_a_failing_write_leaves_the_previous_picture_and_no_temporary_file(tmp_path, monkeypatch):
    import matplotlib.figure

    path = tmp_path / "confusion_matrix.png"
    plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b", "c"], str(path), "first")
    before = path.read_bytes()

    def fail(figure, target, **kwargs):
        Path(target).write_bytes(b"half a PNG")
        raise OSError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fail)
    with pytest.raises(OSError):
        plot_confusion_matrix(np.ones((3, 3), dtype=int), ["a", "b", "c"], str(path), "second")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["confusion_matrix.png"]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)


def test_augmentation_grid_of_augment_shows_28x28_crops_of_the_image_or_its_mirror(images):
    config = resolve_config("augment")
    test_views, train_views = augmentation_views(preprocessing_layers(config, STATS), images, config, draws=4)
    pixels = images / 255.0
    np.testing.assert_allclose(test_views, pixels[:, 2:30, 2:30], atol=1e-5)  # the centered crop
    for view in train_views:
        assert view.shape == (6, 28, 28, 3)
        for crop, image in zip(view, pixels):
            windows = [image[top : top + 28, left : left + 28] for top in range(5) for left in range(5)]
            assert any(np.allclose(crop, w, atol=1e-5) or np.allclose(crop, w[:, ::-1], atol=1e-5) for w in windows)
    assert not all(np.allclose(view, test_views) for view in train_views)


def test_augmentation_grid_of_baseline_shows_the_unchanged_image(images):
    config = resolve_config("baseline")
    test_views, train_views = augmentation_views(preprocessing_layers(config), images, config, draws=2)
    for view in (test_views, *train_views):
        np.testing.assert_allclose(view, images / 255.0, atol=1e-6)


def test_describe_show_augmentation_writes_the_grid_without_a_run(cifar_like_folder, tmp_path, capsys):
    out = tmp_path / "grid.png"
    argv = ["describe", "--show-augmentation", "augment", "--data-dir", str(cifar_like_folder), "--out", str(out)]
    assert train_keras.main(argv) == 0
    assert capsys.readouterr().out.strip().startswith(f"Wrote {out}: ") and out.stat().st_size > 0


@pytest.mark.parametrize("case", ["unknown class", "missing run", "missing image", "index out of range", "count 0"])
def test_inspect_errors_are_one_line(lab_run, tmp_path, capsys, case):
    run_dir, _ = lab_run
    run = ["--run", str(run_dir), "--out", str(tmp_path / "out")]
    args, message = {
        "unknown class": ([*run, "--class", "cow"], "class 'cow' is not one of the run's classes: class0, class1"),
        "missing run": (["--run", str(tmp_path / "nothing")], "does not exist"),
        "missing image": ([*run, "--image", str(tmp_path / "no.png")], "does not exist"),
        "index out of range": ([*run, "--image", "40"], "--image 40 is out of range: the test split has 40 images"),
        "count 0": ([*run, "--count", "0"], "--count must be at least 1"),
    }[case]
    assert train_keras.main(["inspect", *args]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error


def test_inspect_with_a_class_an_image_file_and_last_checkpoint(lab_run, tmp_path, capsys):
    from PIL import Image

    run_dir, _ = lab_run
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(tmp_path / "grey.png")  # resized to 32x32
    out = tmp_path / "out"
    argv = ["inspect", "--run", str(run_dir), "--checkpoint", "last", "--out", str(out), "--class", "class3",
            "--image", str(tmp_path / "grey.png"), "--count", "3"]
    assert train_keras.main(argv) == 0
    assert capsys.readouterr().out.startswith("Wrote confusion_matrix.png, mistakes-class3.png, confident-class3.png")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checkpoint"] == "last" and summary["feature_maps"]["image"] == "grey.png"
    gallery = summary["galleries"]["mistakes-class3.png"]
    assert len(gallery) == 3 and all(item["label"] == "class3" for item in gallery)


def test_inspect_an_mnist_shaped_lenet5_run(tmp_path, capsys):
    digits = [str(d) for d in range(10)]
    data = write_image_folder(tmp_path / "mnist", classes=digits, train=8, test=4, shape=(28, 28, 1))
    run_dir = tmp_path / "lenet5"
    train("lenet5", data_dir=str(data), epochs=1, batch_size=16, verbose=0, run_dir=str(run_dir))
    assert train_keras.main(["inspect", "--run", str(run_dir), "--image", "3"]) == 0
    assert capsys.readouterr().out.startswith("Wrote ")
    summary = json.loads((run_dir / "inspect" / "summary.json").read_text())
    assert summary["feature_maps"]["layers"] == {"conv1": [28, 28, 6], "conv2": [10, 10, 16]}
    assert np.array(summary["confusion_matrix"]).sum() == 40
