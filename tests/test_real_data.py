"""End-to-end runs on the real data in ../shared/data (skipped when it is absent), accuracy floors included.

The two accuracy tests are part of the default run: about 10 s (LeNet5 on the MNIST sample) and 50 s (bn on
5,000 CIFAR-10 images) on 2 CPU cores shared with two trainings (2026-12-05).
"""

import json
from pathlib import Path

from conftest import CIFAR_JPEG, MNIST_SAMPLE, needs_cifar_jpeg, needs_mnist_sample

from keras_cnn import train
from pipelines.sources import load_splits


@needs_cifar_jpeg
def test_bn_one_epoch_on_a_subset_of_the_cifar10_jpeg_copy(tmp_path):
    _, run_dir = train("bn", data_dir=str(CIFAR_JPEG), limit=1000, epochs=1, run_dir=str(tmp_path / "bn"), verbose=0)
    record = json.loads((Path(run_dir) / "config.json").read_text())
    assert record["data"]["train_images"] == 1000 and record["data"]["test_images"] == 1000
    assert record["data"]["class_names"][:3] == ["airplane", "automobile", "bird"]
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    # 8 steps of 128 images: 20.8% measured (23.3% with --seed 1), above chance (10%).
    assert metrics["final_test_accuracy"] > 0.15 and metrics["epochs"] == 1


@needs_cifar_jpeg
def test_cifar10_jpeg_subset_has_every_class_and_the_native_shape():
    splits = load_splits("cifar10", (32, 32, 3), data_dir=str(CIFAR_JPEG), limit=200, seed=1)
    assert splits.train.images.shape == (200, 32, 32, 3)
    assert sorted(set(splits.train.labels.tolist())) == list(range(10))


@needs_mnist_sample
def test_lenet5_one_epoch_on_the_mnist_sample(tmp_path):
    _, run_dir = train("lenet5", data_dir=str(MNIST_SAMPLE), test_fraction=0.2, limit=2000, epochs=1,
                       run_dir=str(tmp_path / "lenet5"), verbose=0)
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    # 16 steps of 128 digits from the lab's (PyTorch's) small initial weights: 30.8% measured, well above chance.
    assert metrics["final_test_accuracy"] > 0.2
    assert "final_test_top5_accuracy" in metrics


@needs_mnist_sample
def test_lenet5_reaches_92_percent_in_5_epochs_on_the_mnist_sample(tmp_path):
    # 5 epochs of the sample's 8,000 training digits are 315 steps: 93.35% measured with the lab's
    # initialization (94.00% on 2026-12-05; 94.95% with Keras' Glorot). The lab's 98.5% comes from the full
    # 60,000 (2,345 steps), which are not here. About 10 s.
    _, run_dir = train("lenet5", data_dir=str(MNIST_SAMPLE), test_fraction=0.2, run_dir=str(tmp_path / "l"), verbose=0)
    assert json.loads((Path(run_dir) / "metrics.json").read_text())["final_test_accuracy"] >= 0.92


@needs_cifar_jpeg
def test_bn_learns_in_two_epochs_on_5000_cifar10_jpeg_images(tmp_path):
    # 2 epochs of 5,000 training images (80 steps), scored on 5,000 test images: 36.62% measured (40.32% with
    # --seed 1), three times chance at the floor; about 50 s. Two epochs of all 50,000 images (the floor was 55%
    # there) take ten times as long, too long for every CI run.
    _, run_dir = train("bn", data_dir=str(CIFAR_JPEG), limit=5000, epochs=2, run_dir=str(tmp_path / "bn"), verbose=0)
    assert json.loads((Path(run_dir) / "metrics.json").read_text())["final_test_accuracy"] >= 0.30
