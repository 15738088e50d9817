"""Accelerator and distribution settings: mixed precision, XLA, mirrored and multi-worker strategies (on CPU)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import accuracy_applied_directly, write_image_folder

from keras_cnn import resolve_config, train
from keras_cnn.models import build_model
from keras_cnn.platform import jit_setting, scaled_for_replicas

REPO = Path(__file__).resolve().parents[1]


def test_mixed_precision_computes_in_bfloat16_on_cpu_with_float32_variables_and_output():
    model = build_model(resolve_config("bn", mixed_precision=True))
    conv = model.get_layer("conv1")
    assert conv.dtype_policy.name == "mixed_bfloat16" and conv.compute_dtype == "bfloat16"
    assert conv.kernel.dtype == "float32" and model.get_layer("bn1").gamma.dtype == "float32"
    assert model.get_layer("scale").compute_dtype == "float32"  # preprocessing stays float32
    out = model(np.zeros((2, 32, 32, 3), dtype=np.uint8))
    assert out.dtype == "float32"


def test_mixed_precision_model_trains_and_reloads(cifar_like_folder, tmp_path):
    _, run_dir = train("bn", data_dir=str(cifar_like_folder), epochs=1, batch_size=16, mixed_precision=True,
                       run_dir=str(tmp_path / "r"), verbose=0)
    record = json.loads((Path(run_dir) / "config.json").read_text())
    assert record["platform"]["compute_dtype"] == "mixed_bfloat16"
    model = keras.saving.load_model(Path(run_dir) / "last.keras")
    assert model.get_layer("fc4").compute_dtype == "bfloat16"
    probabilities = model.predict(np.zeros((3, 32, 32, 3), dtype=np.uint8), verbose=0)
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=1), 1, atol=1e-3)


def test_jit_setting_and_replica_scaling():
    settings = [jit_setting(resolve_config("bn", jit_compile=mode)) for mode in ("auto", "on", "off")]
    assert settings == ["auto", True, False]
    scaled = scaled_for_replicas(resolve_config("bn", batch_size=64, lr=0.01), 4)
    assert (scaled.batch_size, scaled.lr) == (256, 0.04)
    assert scaled_for_replicas(resolve_config("bn"), 1) == resolve_config("bn")


def run_python(code: str, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    script = cwd / f"script_{abs(hash(code))}.py"
    script.write_text(textwrap.dedent(code))
    environment = os.environ | {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"} | (env or {})
    return subprocess.run([sys.executable, str(script)], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def mirrored_runs(tmp_path_factory) -> Path:
    """One process with two logical CPU devices: `norm` + BN mirrored and on one device, then `bn` with SAM mirrored.

    Several mirrored runs in one process, as in a notebook: the SAM run's collectives differ from the
    first run's, which failed with "Shape mismatch in the collective instance" before the runs shared
    one MirroredStrategy (keras_cnn/platform.py).
    The first two have the same global batch (2 x 40 vs 80) and global learning rate, and one step per
    epoch (the whole training split in a batch), which makes the result independent of the shuffled
    order: under a strategy Keras iterates the dataset once more, so the shuffles differ.
    """
    folder = tmp_path_factory.mktemp("mirrored")
    data = write_image_folder(folder / "data", classes=[f"class{i}" for i in range(10)], train=8, test=4)
    code = f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras_cnn
        common = dict(data_dir={str(data)!r}, epochs=3, verbose=0, momentum=0.9, batch_norm=True)
        keras_cnn.train("norm", strategy="mirrored", batch_size=40, lr=0.025, run_dir="mirrored", **common)
        keras_cnn.train("norm", batch_size=80, lr=0.05, run_dir="single", **common)
        keras_cnn.train("bn", data_dir={str(data)!r}, strategy="mirrored", sam_rho=0.05, epochs=1, batch_size=20,
                        verbose=0, run_dir="sam")
    """
    result = run_python(code, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_mirrored_on_two_cpu_devices_matches_one_device(mirrored_runs):
    """The same training, up to float rounding; batch normalization is synchronized across the replicas,
    so it normalizes the global batch too."""
    mirrored = json.loads((mirrored_runs / "mirrored" / "config.json").read_text())["platform"]
    assert (mirrored["replicas"], mirrored["global_batch_size"], mirrored["global_lr"]) == (2, 80, 0.05)
    rows = {name: (mirrored_runs / name / "history.csv").read_text().splitlines() for name in ("mirrored", "single")}
    header = rows["single"][0].split(",")
    for name in ("loss", "test_loss", "test_accuracy"):
        column = header.index(name)
        values = [[float(line.split(",")[column]) for line in rows[run][1:]] for run in ("mirrored", "single")]
        assert np.allclose(values[0], values[1], rtol=1e-4, atol=1e-5), (name, values)
    models = [keras.saving.load_model(mirrored_runs / run / "last.keras") for run in ("mirrored", "single")]
    for layer in ("conv1", "bn2", "fc5"):
        for a, b in zip(models[0].get_layer(layer).get_weights(), models[1].get_layer(layer).get_weights()):
            assert np.allclose(a, b, atol=1e-4)


def test_sam_trains_under_the_mirrored_strategy(mirrored_runs):
    """SAM's second pass moves no variable in place, so it runs in the replicas' context."""
    platform = json.loads((mirrored_runs / "sam" / "config.json").read_text())["platform"]
    assert platform["replicas"] == 2
    # Its test score, evaluated across the replicas, is its last.keras applied to the test images on one device.
    metrics = json.loads((mirrored_runs / "sam" / "metrics.json").read_text())
    assert metrics["final_test_accuracy"] == pytest.approx(accuracy_applied_directly(mirrored_runs / "sam"), abs=1e-6)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_on_loopback_finishes_an_epoch_and_writes_one_set_of_outputs(cifar_like_folder, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    command = [sys.executable, str(REPO / "train_keras.py"), "train", "--variant", "norm", "--strategy", "multi-worker",
               "--data-dir", str(cifar_like_folder), "--epochs", "1", "--batch-size", "8", "--run-dir", "run",
               "--verbose", "2"]
    workers = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=os.environ | {"TF_CONFIG": json.dumps({"cluster": cluster,
                                                                    "task": {"type": "worker", "index": i}})})
        for i in range(2)
    ]
    try:
        outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert "Test accuracy" in outputs[0] and "Test accuracy" not in outputs[1]  # the chief reports
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["backup", "config.json", "curves.png", "history.csv", "last.keras", "metrics.json", "tensorboard"]
    # Each worker keeps its last epoch's resume state in its own folder, so none overwrites another's.
    states = sorted(str(p.relative_to(tmp_path / "run" / "backup")) for p in (tmp_path / "run" / "backup").glob("*/*"))
    assert states == ["worker-0/epoch-0001", "worker-1/epoch-0001"]
    record = json.loads((tmp_path / "run" / "config.json").read_text())["platform"]
    assert record["replicas"] == 2 and record["global_batch_size"] == 16
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 2


def test_mixed_precision_run_exports_a_float32_probability_signature(cifar_like_folder, tmp_path):
    import tensorflow as tf

    from keras_cnn.export import export_run

    _, run_dir = train("bn", data_dir=str(cifar_like_folder), epochs=1, batch_size=16, mixed_precision=True,
                       run_dir=str(tmp_path / "r"), verbose=0)
    export_run(run_dir, to=str(tmp_path / "export"), verbose=False)
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    pixels = np.random.default_rng(6).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    served = serve(pixels=tf.constant(pixels))["probabilities"]
    assert served.dtype == tf.float32
    expected = keras.saving.load_model(Path(run_dir) / "last.keras").predict(pixels, verbose=0)
    assert np.allclose(served.numpy(), expected, atol=1e-5)


def test_platform_flags_set_the_thread_pools_and_are_recorded(cifar_like_folder, tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "train_keras.py"), "train", "--variant", "baseline", "--data-dir",
         str(cifar_like_folder), "--epochs", "1", "--batch-size", "16", "--run-dir", "run", "--verbose", "0",
         "--intra-op-threads", "1", "--inter-op-threads", "2", "--onednn", "off"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    platform = json.loads((tmp_path / "run" / "config.json").read_text())["platform"]
    assert (platform["intra_op_threads"], platform["inter_op_threads"],
            platform["TF_ENABLE_ONEDNN_OPTS"]) == (1, 2, "0")


def test_thread_flags_after_tensorflow_started_are_a_one_line_error(capsys):
    import tensorflow as tf

    import train_keras

    tf.constant(1.0) + 1.0  # TensorFlow has run an op: its thread pools are fixed from here on
    wanted = tf.config.threading.get_intra_op_parallelism_threads() + 3
    code = train_keras.main(["train", "--variant", "baseline", "--intra-op-threads", str(wanted)])
    assert code == 1
    assert "must be set before TensorFlow runs its first op" in capsys.readouterr().err


def test_onednn_flag_after_tensorflow_imported_is_a_one_line_error(capsys, monkeypatch):
    import tensorflow  # noqa: F401

    import train_keras

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")  # what the imported TensorFlow runs with
    assert train_keras.main(["train", "--variant", "baseline", "--onednn", "off"]) == 1
    assert "--onednn must be chosen before TensorFlow is imported" in capsys.readouterr().err


def test_bfloat16_hint_only_for_float32_runs_on_a_cpu_with_bfloat16_instructions(tmp_path, monkeypatch):
    from keras_cnn import platform

    with_bf16, without = tmp_path / "bf16", tmp_path / "plain"
    with_bf16.write_text("flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("flags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert platform.cpu_computes_bfloat16(str(with_bf16)) and not platform.cpu_computes_bfloat16(str(without))
    assert not platform.cpu_computes_bfloat16(str(tmp_path / "missing"))

    monkeypatch.setattr(platform, "cpu_computes_bfloat16", lambda: True)
    assert "--mixed-precision" in platform.speed_hint(resolve_config("bn"))
    assert platform.speed_hint(resolve_config("bn", mixed_precision=True)) is None
    monkeypatch.setattr(platform, "cpu_computes_bfloat16", lambda: False)
    assert platform.speed_hint(resolve_config("bn")) is None
