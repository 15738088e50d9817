"""The PyTorch control (benchmarks/torch_lab_run.py) writes records that the project reads like any run's."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from keras_cnn.history import read_history

ROOT = Path(__file__).resolve().parents[1]


def test_the_pytorch_control_writes_a_run_record_per_epoch(tmp_path, cifar_like_folder):
    pytest.importorskip("torch")  # benchmarks/requirements.txt, not the project's
    run_dir = tmp_path / "torch-bn"
    result = subprocess.run([sys.executable, "benchmarks/torch_lab_run.py", "--data-dir", str(cifar_like_folder),
                             "--epochs", "2", "--run-dir", str(run_dir)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = read_history(str(run_dir / "history.csv"))
    assert [row["epoch"] for row in rows] == [1, 2]
    assert [row["learning_rate"] for row in rows] == pytest.approx([0.01, 0.0095])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["final_test_accuracy"] == rows[-1]["test_accuracy"] and metrics["default_checkpoint"] == "last"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["framework"].startswith("torch") and config["data"] == {"train_images": 80, "test_images": 40}
    assert "epoch 2: lr 0.00950" in result.stdout
