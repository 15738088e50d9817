"""lab: the progression in lab order, one run folder each, resumable; tiny folders, 1-2 epochs."""

import json
import re
from pathlib import Path

import pytest
from conftest import CIFAR_JPEG, MNIST_SAMPLE, needs_cifar_jpeg, needs_mnist_sample, write_image_folder, write_images

import train_keras
from keras_cnn import KerasCnnError
from keras_cnn.callbacks import EpochTimer
from keras_cnn.config import VARIANTS
from keras_cnn.lab import lab_configs, train_lab

FAST = dict(limit=20, batch_size=16, verbose=0)


@pytest.fixture
def mnist_like_folder(tmp_path) -> Path:
    """Class folders 0..9 of 28x28 grayscale PNGs, without train/ and test/ (like ../shared/data/mnist-sample)."""
    for digit in range(10):
        write_images(tmp_path / "mnist" / str(digit), 5, shape=(28, 28, 1), seed=digit)
    return tmp_path / "mnist"


def epochs_of(run_dir: Path) -> list[str]:
    return [line.split(",")[0] for line in (run_dir / "history.csv").read_text().splitlines()[1:]]


def test_lab_trains_in_order_then_a_rerun_skips_finished_runs(cifar_like_folder, mnist_like_folder, tmp_path, capsys):
    out = tmp_path / "lab"
    command = ["lab", "--data-dir", str(cifar_like_folder), "--mnist-dir", str(mnist_like_folder), "--epochs", "1",
               "--lenet5-epochs", "1", "--limit", "20", "--batch-size", "16", "--variants", "momentum,lenet5,baseline",
               "--out", str(out), "--verbose", "0"]
    assert train_keras.main(command) == 0
    lines = capsys.readouterr().out.splitlines()
    order = [line.split(":")[0] for line in lines if line.startswith("[")]
    assert order == ["[1/3] lenet5", "[2/3] baseline", "[3/3] momentum"]
    lenet5 = json.loads((out / "lenet5" / "config.json").read_text())
    assert lenet5["config"]["test_fraction"] == 0.2 and lenet5["data"]["source"] == str(mnist_like_folder)
    assert json.loads((out / "momentum" / "config.json").read_text())["config"]["data_dir"] == str(cifar_like_folder)
    report = (out / "report.md").read_text()
    table_rows = [line.split(" | ")[0] for line in report.splitlines() if line.startswith("| ")]
    assert table_rows[1:] == ["| lenet5", "| baseline", "| momentum"]  # after the header row
    assert (out / "test_accuracy.png").exists() and (out / "train_vs_test.png").exists()

    saved = {name: (out / name / "last.keras").stat().st_mtime_ns for name in ("lenet5", "baseline", "momentum")}
    assert train_keras.main(command) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum("already finished" in line and line.endswith("skipped") for line in lines) == 3
    assert {name: (out / name / "last.keras").stat().st_mtime_ns for name in saved} == saved  # nothing retrained

    # Other shared settings on the same --out: refused in one line before anything trains.
    limit = command.index("--limit") + 1
    assert train_keras.main([*command[:limit], "24", *command[limit + 1:]]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds a finished run with other settings (limit 20 -> 24)" in err[0]

    # More epochs: the CIFAR-10 runs are extended, LeNet5 (its own --lenet5-epochs unchanged) is skipped.
    assert train_keras.main([*command[:6], "2", *command[7:]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(line.endswith("to 2 epochs") and ": extending " in line for line in lines) == 2
    assert [epochs_of(out / name) for name in ("lenet5", "baseline", "momentum")] == [["1"], ["1", "2"], ["1", "2"]]


def test_interrupted_lab_resumes_the_unfinished_run_only(cifar_like_folder, tmp_path, monkeypatch):
    settings = dict(variants=["baseline", "norm"], data_dir=str(cifar_like_folder), epochs=2, **FAST)
    out = tmp_path / "lab"
    calls = []
    original = EpochTimer.on_epoch_begin

    def interrupt_in_norm_epoch_2(self, epoch, logs=None):
        calls.append(epoch)
        if len(calls) == 4:  # baseline's epochs 1 and 2, norm's epoch 1, then norm's epoch 2
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    with monkeypatch.context() as patch:
        patch.setattr(EpochTimer, "on_epoch_begin", interrupt_in_norm_epoch_2)
        with pytest.raises(KeyboardInterrupt):
            train_lab(str(out), say=lambda *args: None, **settings)
    assert epochs_of(out / "baseline") == ["1", "2"] and epochs_of(out / "norm") == ["1"]
    baseline_saved = (out / "baseline" / "last.keras").stat().st_mtime_ns

    outcomes = train_lab(str(out), say=lambda *args: None, **settings)
    assert outcomes == {"baseline": "finished", "norm": "resumed"}
    assert epochs_of(out / "norm") == ["1", "2"]
    assert (out / "baseline" / "last.keras").stat().st_mtime_ns == baseline_saved
    assert json.loads((out / "norm" / "metrics.json").read_text())["epochs"] == 2


def test_a_diverged_variant_is_recorded_and_the_lab_goes_on(cifar_like_folder, tmp_path, monkeypatch):
    monkeypatch.setitem(VARIANTS, "baseline", VARIANTS["baseline"] | {"lr": 1e30})
    messages = []
    outcomes = train_lab(str(tmp_path / "lab"), ["baseline", "norm"], data_dir=str(cifar_like_folder), epochs=1,
                         say=messages.append, **FAST)
    assert outcomes == {"baseline": "diverged", "norm": "trained"}
    assert any(message.startswith("[1/2] baseline: training diverged") for message in messages)
    assert "- baseline: diverged" in (tmp_path / "lab" / "report.md").read_text()


def test_sources_and_epochs_of_the_lab(cifar_like_folder, mnist_like_folder, tmp_path):
    messages = []
    configs, outcomes = lab_configs(None, str(cifar_like_folder), None, 3, None, {"seed": 0}, messages.append)
    assert list(configs) == ["baseline", "norm", "augment", "momentum", "dropout", "bn"]
    assert outcomes == {"lenet5": "skipped"} and "add --mnist-dir DIR" in messages[0] and len(messages) == 1
    assert {config.epochs for config in configs.values()} == {3}

    shared = dict(limit=100, seed=1, batch_size=32, init="glorot", mixed_precision=True)
    configs, _ = lab_configs(["lenet5", "bn"], None, str(mnist_like_folder), 3, None, shared, print)
    assert configs["lenet5"].epochs == VARIANTS["lenet5"]["epochs"] and configs["bn"].epochs == 3
    assert configs["lenet5"].test_fraction == 0.2 and configs["bn"].data_dir is None  # bn: tensorflow-datasets
    shared = {(c.limit, c.seed, c.batch_size, c.init, c.mixed_precision) for c in configs.values()}
    assert shared == {(100, 1, 32, "glorot", True)}

    configs, _ = lab_configs(["best", "bn"], str(cifar_like_folder), None, 3, None, {"seed": 0}, print)
    assert list(configs) == ["bn", "best"]  # beyond the lab only when asked, after it in the lab's order

    split = write_image_folder(tmp_path / "mnist-split", classes=("0", "1"), shape=(28, 28, 1))
    configs, _ = lab_configs(["lenet5"], None, str(split), None, 2, {"seed": 0}, print)
    assert configs["lenet5"].test_fraction == 0.0 and configs["lenet5"].epochs == 2

    configs, _ = lab_configs(["lenet5"], None, None, None, None, {"seed": 0}, print)
    assert configs["lenet5"].data_dir is None  # tensorflow-datasets' mnist


@pytest.mark.parametrize(
    "variants, data_dir, mnist_dir, message",
    [
        (["lenet5"], "cifar", None, "lenet5 trains on MNIST, and --data-dir is CIFAR-10's: add --mnist-dir"),
        (["bnn"], None, None, "unknown variant(s) bnn in --variants"),
        (None, "no/such/dir", None, "--data-dir no/such/dir is not a folder"),
        (None, None, "no/such/dir", "--mnist-dir no/such/dir is not a folder"),
    ],
)
def test_bad_lab_input_is_refused_before_training(cifar_like_folder, variants, data_dir, mnist_dir, message):
    data_dir = str(cifar_like_folder) if data_dir == "cifar" else data_dir
    with pytest.raises(KerasCnnError, match=re.escape(message)):
        lab_configs(variants, data_dir, mnist_dir, None, None, {"seed": 0}, print)


@needs_cifar_jpeg
@needs_mnist_sample
def test_lab_on_the_real_data_folders(tmp_path, capsys):
    out = tmp_path / "lab"
    assert train_keras.main(["lab", "--data-dir", str(CIFAR_JPEG), "--mnist-dir", str(MNIST_SAMPLE), "--epochs", "1",
                             "--lenet5-epochs", "1", "--limit", "100", "--variants", "lenet5,bn", "--out", str(out),
                             "--verbose", "0"]) == 0
    lenet5 = json.loads((out / "lenet5" / "config.json").read_text())
    assert lenet5["data"]["class_names"] == [str(digit) for digit in range(10)]
    assert json.loads((out / "bn" / "config.json").read_text())["data"]["class_names"][0] == "airplane"
    assert "| lenet5 |" in (out / "report.md").read_text() and "| bn |" in (out / "report.md").read_text()
