"""Exported SavedModels: served without project code, equal to the Keras model, written atomically."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import write_image_folder
from PIL import Image

import train_keras
from keras_cnn import RunDirError, train
from keras_cnn.export import ExportError, export_run

# Runs in a fresh interpreter that can only see TensorFlow and NumPy: what a user serving the model has.
CLIENT = """
import importlib.util, json, sys
import numpy as np
import tensorflow as tf

export_dir, images_path, out_dir = sys.argv[1:]
images = np.load(images_path)
serve = tf.saved_model.load(export_dir).signatures["serving_default"]
spec = serve.structured_input_signature[1]["pixels"]
first = serve(pixels=tf.constant(images))["probabilities"].numpy()
again = serve(pixels=tf.constant(images))["probabilities"].numpy()
single = serve(pixels=tf.constant(images[:1]))["probabilities"].numpy()

interpreter = tf.lite.Interpreter(model_path=export_dir + "/model.tflite")
pixels = interpreter.get_input_details()[0]
interpreter.resize_tensor_input(pixels["index"], images.shape)  # dynamic batch
interpreter.allocate_tensors()
interpreter.set_tensor(pixels["index"], images)
interpreter.invoke()
lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

np.savez(out_dir + "/out.npz", first=first, again=again, single=single, lite=lite)
with open(out_dir + "/client.json", "w") as f:
    json.dump({
        "input_dtype": spec.dtype.name,
        "input_shape": spec.shape.as_list(),
        "tflite_input_dtype": np.dtype(pixels["dtype"]).name,
        "tflite_shape_signature": pixels["shape_signature"].tolist(),
        "project_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("keras_cnn", "pipelines")),
        "project_importable": any(importlib.util.find_spec(m) is not None for m in ("keras_cnn", "pipelines")),
    }, f)
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A one-epoch `bn` run (normalization, crop, flip, dropout, BN: the layers that differ in training), exported."""
    root = tmp_path_factory.mktemp("export")
    data = write_image_folder(root / "data", classes=[f"class{i}" for i in range(10)], train=8, test=4)
    _, run_dir = train("bn", data_dir=str(data), epochs=1, batch_size=16, verbose=0,
                       run_dir=str(root / "runs" / "tiny"))
    export_dir = root / "saved_models" / "tiny"
    export_run(run_dir, to=str(export_dir), tflite=True, verbose=False)
    return Path(run_dir), export_dir, data


def test_export_is_served_without_project_code_and_equals_keras(exported, tmp_path):
    run_dir, export_dir, data = exported
    test_images = sorted((data / "test").glob("*/*.png"))[:9]
    images = np.stack([np.asarray(Image.open(path)) for path in test_images])
    expected = keras.saving.load_model(run_dir / "last.keras").predict(images, verbose=0)
    np.save(tmp_path / "images.npy", images)
    (tmp_path / "client.py").write_text(CLIENT)

    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "client.py"), str(export_dir), str(tmp_path / "images.npy"), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = json.loads((tmp_path / "client.json").read_text())
    assert client["project_modules"] == [] and not client["project_importable"]
    assert client["input_dtype"] == "uint8" and client["input_shape"] == [None, 32, 32, 3]
    assert client["tflite_input_dtype"] == "uint8" and client["tflite_shape_signature"] == [-1, 32, 32, 3]

    out = np.load(tmp_path / "out.npz")
    assert out["first"].shape == (9, 10)
    np.testing.assert_allclose(out["first"], expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(out["first"], out["again"])  # deterministic: no augmentation, no dropout
    np.testing.assert_allclose(out["single"], expected[:1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["lite"], expected, atol=1e-5, rtol=0)


def test_saved_model_cli_shows_a_uint8_serving_default_signature(exported):
    _, export_dir, _ = exported
    script = Path(sys.executable).with_name("saved_model_cli")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    done = subprocess.run([*command, "show", "--dir", str(export_dir), "--all"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    serving = done.stdout.split("signature_def['serving_default']:")[1].split("signature_def[")[0]
    assert "inputs['pixels']" in serving and "DT_UINT8" in serving and "(-1, 32, 32, 3)" in serving
    assert "outputs['probabilities']" in serving and "(-1, 10)" in serving
    ops = done.stdout.split("contains the following ops:")[1].split("\n")[0]
    assert "Conv2D" in ops and "Random" not in ops  # augmentation is not in the serving graph


def test_model_info_carries_class_names_and_run_config(exported):
    run_dir, export_dir, _ = exported
    info = json.loads((export_dir / "model_info.json").read_text())
    record = json.loads((run_dir / "config.json").read_text())
    assert info["class_names"] == record["data"]["class_names"] == [f"class{i}" for i in range(10)]
    assert info["run"]["config"] == record["config"] and info["run"]["config"]["variant"] == "bn"
    assert info["input"] == {"name": "pixels", "dtype": "uint8", "shape": [None, 32, 32, 3]}
    assert info["source"]["checkpoint"] == "last.keras" and info["tflite"] == "model.tflite"
    assert info["metrics"]["epochs"] == 1
    assert (export_dir / "saved_model.pb").exists() and (export_dir / "model.tflite").stat().st_size > 0
    assert not [p for p in export_dir.parent.iterdir() if p.name.startswith(".tmp-")]


def test_an_existing_export_is_replaced_only_with_overwrite(exported, tmp_path):
    run_dir, _, _ = exported
    target = tmp_path / "saved_models" / "model"
    export_run(str(run_dir), to=str(target), verbose=False)
    before = (target / "model_info.json").read_text()

    assert train_keras.main(["export", "--run", str(run_dir), "--to", str(target), "--checkpoint", "last"]) == 1
    assert (target / "model_info.json").read_text() == before

    assert train_keras.main(["export", "--run", str(run_dir), "--to", str(target), "--checkpoint", "last",
                             "--overwrite"]) == 0
    assert json.loads((target / "model_info.json").read_text())["source"]["checkpoint"] == "last.keras"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]


def test_a_failed_export_leaves_nothing_and_keeps_the_old_export(exported, tmp_path, monkeypatch):
    run_dir, _, _ = exported
    target = tmp_path / "saved_models" / "model"

    # The check against model.predict fails: nothing appears.
    monkeypatch.setattr("keras_cnn.export._max_difference", lambda a, b: 0.5)
    with pytest.raises(ExportError, match="disagrees"):
        export_run(str(run_dir), to=str(target), verbose=False)
    assert list(target.parent.iterdir()) == []
    monkeypatch.undo()

    # A crash in the middle of an overwrite: the previous export stays as it was.
    export_run(str(run_dir), to=str(target), verbose=False)
    files = {p.name: p.stat().st_mtime_ns for p in target.rglob("*")}

    def crash(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr("keras_cnn.export.write_tflite", crash)
    with pytest.raises(RuntimeError):
        export_run(str(run_dir), to=str(target), tflite=True, overwrite=True, verbose=False)
    assert {p.name: p.stat().st_mtime_ns for p in target.rglob("*")} == files
    assert sorted(p.name for p in target.parent.iterdir()) == ["model"]


@pytest.mark.parametrize("case", ["no run", "not a run", "target is not an export"])
def test_export_errors_are_one_line(exported, tmp_path, capsys, case):
    run_dir, _, _ = exported
    target = tmp_path / "out" / "model"
    run = {"no run": str(tmp_path / "missing"), "not a run": str(tmp_path)}.get(case, str(run_dir))
    if case == "target is not an export":
        target.mkdir(parents=True)
        (target / "notes.txt").write_text("mine")
    assert train_keras.main(["export", "--run", run, "--to", str(target), "--overwrite"]) == 1
    error = capsys.readouterr().err.strip()
    message = {"no run": "does not exist", "not a run": "not a run folder"}.get(case, "holds no SavedModel")
    assert error.startswith("error: ") and message in error and "\n" not in error
    if case == "target is not an export":
        assert [p.name for p in target.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("command", ["export", "evaluate"])
@pytest.mark.parametrize("damage", ["truncated", "not a .keras file"])
def test_a_checkpoint_that_is_there_but_unreadable_is_called_so(exported, tmp_path, capsys, command, damage):
    run_dir, _, _ = exported
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    checkpoint = copy / "last.keras"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000] if damage == "truncated" else b"{}")
    args = ["--run", str(copy), *(["--to", str(tmp_path / "out")] if command == "export" else [])]
    assert train_keras.main([command, *args]) == 1
    assert capsys.readouterr().err == (
        f"error: cannot load {checkpoint}: the file is unreadable (truncated, or not a .keras file)\n"
    )


def test_export_without_a_checkpoint_names_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"config": {"val_split": 0.0}}')
    with pytest.raises(RunDirError, match="no last.keras yet: train at least one epoch first"):
        export_run(str(run), to=str(tmp_path / "out"), verbose=False)


def test_train_with_export_writes_saved_models_run_name(tmp_path, monkeypatch, capsys):
    data = write_image_folder(tmp_path / "data", classes=("cat", "dog", "ship"), train=4, test=2)
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--variant", "baseline", "--data-dir", str(data), "--epochs", "1", "--batch-size", "16",
            "--verbose", "2"]
    assert train_keras.main([*argv, "--run-dir", "runs/first", "--export"]) == 0
    info = json.loads((tmp_path / "saved_models" / "first" / "model_info.json").read_text())
    assert info["class_names"] == ["cat", "dog", "ship"] and info["source"]["checkpoint"] == "last.keras"
    assert "Exported runs/first/last.keras to saved_models/first" in capsys.readouterr().out
