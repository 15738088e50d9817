"""The PyTorch control (benchmarks/torch_lab_run.py) is the Keras `bn` recipe, and writes records the project reads.

torch is not a dependency of the project: CI (.ci/run) installs benchmarks/requirements.txt's CPU build for
these tests, which are skipped where torch is absent.
"""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_cnn import resolve_config
from keras_cnn.history import read_history
from keras_cnn.models import build_model, preprocessing_layers
from keras_cnn.optimization import per_epoch_rate
from pipelines.preprocessing import channel_stats
from pipelines.sources import load_splits

ROOT = Path(__file__).resolve().parents[1]
torch = pytest.importorskip("torch")  # benchmarks/requirements.txt, not the project's
torch_reference = pytest.importorskip("benchmarks.torch_reference")
torch_lab_run = pytest.importorskip("benchmarks.torch_lab_run")


def test_the_control_has_the_keras_bn_networks_weights_and_test_time_input(cifar_like_folder):
    bn = resolve_config("bn")
    splits = load_splits("cifar10", (32, 32, 3), data_dir=str(cifar_like_folder))
    stats = channel_stats(splits.train.images)
    model = build_model(bn, stats, num_classes=10)
    network = torch_reference.lab_bn_network()
    # Layer by layer, the same shapes of trainable weights (PyTorch's kernels are out x in x h x w).
    keras_shapes = sorted(sorted(weight.shape) for weight in model.trainable_weights)
    torch_shapes = sorted(sorted(parameter.shape) for parameter in network.parameters())
    assert keras_shapes == torch_shapes
    # The test-time input: the Keras model's preprocessing in inference mode, the control's centered crop.
    mean, std = torch_reference.channel_stats(torch.from_numpy(splits.train.images))
    control = torch_lab_run.standardized_center(torch.from_numpy(splits.test.images), mean, std)
    keras_view = keras.Sequential(preprocessing_layers(bn, stats))(splits.test.images, training=False)
    # torch's std is the unbiased one (n - 1), the project's the population's: 1 part in 81,920 pixels here.
    assert np.allclose(control.permute(0, 2, 3, 1).numpy(), np.asarray(keras_view), rtol=1e-4, atol=1e-4)


def test_the_pytorch_control_writes_a_run_record_per_epoch(tmp_path, cifar_like_folder):
    run_dir = tmp_path / "torch-bn"
    result = subprocess.run([sys.executable, "benchmarks/torch_lab_run.py", "--data-dir", str(cifar_like_folder),
                             "--epochs", "2", "--run-dir", str(run_dir)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = read_history(str(run_dir / "history.csv"))
    assert [row["epoch"] for row in rows] == [1, 2]
    # The Keras bn recipe's per-epoch rate.
    rate = per_epoch_rate(resolve_config("bn"))
    assert [row["learning_rate"] for row in rows] == pytest.approx([rate(0), rate(1)])
    # Each epoch's test accuracy is a count of the 40 test images, as the printed line says.
    printed = [float(line.split("test accuracy ")[1].split(",")[0]) for line in result.stdout.splitlines()
               if line.startswith("epoch ")]
    assert [row["test_accuracy"] for row in rows] == pytest.approx(printed, abs=1e-4)
    assert all((row["test_accuracy"] * 40) == pytest.approx(round(row["test_accuracy"] * 40)) for row in rows)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["final_test_accuracy"] == rows[-1]["test_accuracy"] and metrics["default_checkpoint"] == "last"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["framework"].startswith("torch")
    assert config["data"] == {"train_images": 80, "test_images": 40}
