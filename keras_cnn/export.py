"""Export a run's model as a TensorFlow SavedModel that anyone can serve, without this project's code.

The `serving_default` signature takes raw uint8 images of the data set's native size, any batch
size, and returns class probabilities: scaling, normalization and the centered crop are the
model's first layers, so they are inside the graph. `model_info.json` beside `saved_model.pb`
carries the class names and the run's config.json; `--tflite` adds `model.tflite`.

    export_run("runs/bn")                     # -> saved_models/bn/
    tf.saved_model.load("saved_models/bn").signatures["serving_default"](pixels=uint8_images)["probabilities"]
"""

import datetime
import os
import shutil
import warnings
import zipfile

import keras
import numpy as np
import tensorflow as tf

from keras_cnn.console import quiet_native_logs
from keras_cnn.errors import KerasCnnError
from keras_cnn.files import TMP_PREFIX, read_json, write_json
from keras_cnn.history import DEFAULT_CHECKPOINT
from keras_cnn.locks import folder_lock
from keras_cnn.rundir import METRICS_FILE
from keras_cnn.runfolder import CHECKPOINTS, read_trained_run

INFO_FILE = "model_info.json"
TFLITE_FILE = "model.tflite"
# Keras' name for a model's forward pass; ExportArchive also publishes the first endpoint as
# "serving_default", the signature TF Serving, saved_model_cli and TFLite use by default.
ENDPOINT = "serve"
SIGNATURE = "serving_default"
INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"
# The export is checked against model.predict on this many random images. TFLite's kernels
# (XNNPACK) sum in another order than TensorFlow's: 1e-6 apart here, so allow 1e-4.
CHECK_IMAGES = 8
TOLERANCE = {"saved_model": 1e-5, "tflite": 1e-4}


class ExportError(KerasCnnError):
    """A model that cannot be exported, an export folder that cannot be written, or one that is not an export."""


def default_export_dir(run_dir: str) -> str:
    """saved_models/<run folder name>."""
    return os.path.join("saved_models", os.path.basename(os.path.normpath(run_dir)))


def export_run(
    run_dir: str,
    to: str | None = None,
    checkpoint: str = DEFAULT_CHECKPOINT,
    tflite: bool = False,
    overwrite: bool = False,
    verbose: bool = True,
) -> dict:
    """Export `run_dir`'s last.keras (or best.keras, where a validation split chose one) to `to` (default
    saved_models/<run name>); returns model_info.json.

    The export is written into a temporary folder beside `to`, checked against `model.predict`,
    then moved into place: a failed export leaves nothing behind, and an existing export is
    replaced only with `overwrite`.
    """
    say = print if verbose else (lambda *args: None)
    to = to or default_export_dir(run_dir)
    with folder_lock(to, "--to"):
        run, model_path = read_trained_run(run_dir, checkpoint)
        record = run.record
        _check_target(to, overwrite)
        model = load_checkpoint(model_path)
        image_shape = tuple(model.input_shape[1:])
        class_names = record["data"]["class_names"]
        if len(class_names) != model.output_shape[-1]:
            raise ExportError(
                f"{model_path} has {model.output_shape[-1]} outputs but config.json names {len(class_names)} classes"
            )

        parent, name = os.path.split(os.path.abspath(to))
        os.makedirs(parent, exist_ok=True)
        tmp_dir = os.path.join(parent, f"{TMP_PREFIX}{name}")
        shutil.rmtree(tmp_dir, ignore_errors=True)  # left by an interrupted export
        try:
            differences = _write_and_check(model, tmp_dir, image_shape, tflite, model_path)
            info = {
                "signature": SIGNATURE,
                "input": {"name": INPUT_NAME, "dtype": "uint8", "shape": [None, *image_shape]},
                "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, len(class_names)]},
                "class_names": class_names,
                "tflite": TFLITE_FILE if tflite else None,
                "source": {"run_dir": run_dir, "checkpoint": CHECKPOINTS[checkpoint]},
                "check": {"random_images": CHECK_IMAGES, "max_abs_difference_to_keras": differences},
                "exported": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
                "metrics": run.metrics,
                "run": record,
            }
            write_json(os.path.join(tmp_dir, INFO_FILE), info)
            _move_into_place(tmp_dir, to)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)

        _, height, width, channels = info["input"]["shape"]
        say(
            f"Exported {model_path} to {to}: signature {SIGNATURE} takes {INPUT_NAME} uint8 [batch, {height}, {width}, "
            f"{channels}] and returns {OUTPUT_NAME} of {len(class_names)} classes"
            + (f"; also {os.path.join(to, TFLITE_FILE)}" if tflite else "")
        )
        checked = ", ".join(f"{kind} {difference:.1g}" for kind, difference in differences.items())
        say(f"Checked on {CHECK_IMAGES} random images: max difference to model.predict {checked}")
        if info["metrics"] is None:
            say(f"Note: {run_dir} has no {METRICS_FILE}: the run is unfinished, this is its {checkpoint} model so far")
        return info


def _write_and_check(model: keras.Model, folder: str, image_shape: tuple, tflite: bool, model_path: str) -> dict:
    """Write the SavedModel (and .tflite) into `folder`; their max difference to `model.predict` on random images."""
    write_saved_model(model, folder, image_shape)
    images = np.random.default_rng(0).integers(0, 256, (CHECK_IMAGES, *image_shape), dtype=np.uint8)
    expected = model.predict(images, verbose=0)
    differences = {"saved_model": _max_difference(serving_function(folder)(images), expected)}
    if tflite:
        tflite_path = os.path.join(folder, TFLITE_FILE)
        write_tflite(folder, tflite_path)
        differences["tflite"] = _max_difference(tflite_function(tflite_path)(images), expected)
    for kind, difference in differences.items():
        if difference > TOLERANCE[kind]:
            raise ExportError(
                f"the exported {kind} disagrees with {model_path} by {difference:.2g} (more than {TOLERANCE[kind]:g}): "
                f"nothing was written; please report this"
            )
    return differences


def write_saved_model(model: keras.Model, path: str, image_shape: tuple[int, int, int]) -> None:
    """The SavedModel of `model` with one endpoint: uint8 [None, *image_shape] -> {"probabilities": ...}."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        ENDPOINT,
        # training=False explicitly: Keras 3 otherwise resolves `training` from each layer's call default.
        lambda pixels: {OUTPUT_NAME: model(pixels, training=False)},
        input_signature=[tf.TensorSpec([None, *image_shape], tf.uint8, name=INPUT_NAME)],
    )
    archive.write_out(path, verbose=False)


def write_tflite(saved_model_dir: str, path: str) -> None:
    """Convert the SavedModel's serving_default signature to a .tflite file (uint8 input, dynamic batch)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SIGNATURE])
    with open(path, "wb") as f:
        f.write(converter.convert())


def serving_function(export_dir: str):
    """images (uint8 array) -> probabilities, through the SavedModel's serving_default signature."""
    signature = tf.saved_model.load(export_dir).signatures[SIGNATURE]
    return lambda images: signature(**{INPUT_NAME: tf.constant(images, tf.uint8)})[OUTPUT_NAME].numpy()


def tflite_function(path: str):
    """images (uint8 array) -> probabilities, through the TFLite interpreter (which resizes to the batch)."""
    # tf.lite.Interpreter is deprecated for LiteRT's (same API and file format): no warning about it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        runner = tf.lite.Interpreter(model_path=path).get_signature_runner(SIGNATURE)

    def run(images):
        with quiet_native_logs():  # the first call prints "Created TensorFlow Lite XNNPACK delegate"
            return runner(**{INPUT_NAME: np.asarray(images, np.uint8)})[OUTPUT_NAME]

    return run


def read_export_info(export_dir: str) -> dict:
    """model_info.json of an export folder, with a clear error for a folder that is not one."""
    if not os.path.isdir(export_dir):
        raise ExportError(
            f"model folder {export_dir} does not exist: export one with `train_keras.py export --run runs/<name>`"
        )
    if not os.path.exists(os.path.join(export_dir, "saved_model.pb")):
        raise ExportError(f"{export_dir} is not a SavedModel (no saved_model.pb): pass --model saved_models/<name>")
    if not os.path.exists(os.path.join(export_dir, INFO_FILE)):
        raise ExportError(f"{export_dir} has no {INFO_FILE} (class names): re-export it with `train_keras.py export`")
    return read_json(os.path.join(export_dir, INFO_FILE))


def load_checkpoint(path: str) -> keras.Model:
    """The model of a .keras checkpoint, uncompiled; a missing, unreadable or damaged file is one ExportError line."""
    if not os.path.isfile(path):
        raise ExportError(f"cannot load {path}: there is no such file")
    # Keras says "File not found" of a file that is there but is no zip archive (truncated, or not a .keras file).
    if not zipfile.is_zipfile(path):
        raise ExportError(f"cannot load {path}: the file is unreadable (truncated, or not a .keras file)")
    try:
        return keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ExportError(f"cannot load {path} ({error}): it is damaged or not a Keras model") from None


def _check_target(to: str, overwrite: bool) -> None:
    """Refuse to replace an export without `overwrite`, and anything that is not an export at all."""
    if os.path.isfile(to):
        raise ExportError(f"{to} is a file: choose a folder with --to")
    if not os.path.isdir(to) or not os.listdir(to):
        return
    if not os.path.exists(os.path.join(to, "saved_model.pb")):
        raise ExportError(f"{to} is not empty and holds no SavedModel: choose another --to")
    if not overwrite:
        raise ExportError(f"{to} already holds an exported model: pass --overwrite to replace it, or --to another "
                          "folder")


def _move_into_place(tmp_dir: str, to: str) -> None:
    """Rename the finished export to `to`, first moving an old export aside (os.replace cannot replace a folder)."""
    old = None
    if os.path.isdir(to):
        parent, name = os.path.split(os.path.abspath(to))
        old = os.path.join(parent, f"{TMP_PREFIX}old-{name}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(to, old)
    try:
        os.replace(tmp_dir, to)
    except OSError:
        if old:
            os.replace(old, to)  # put the previous export back
        raise
    if old:
        shutil.rmtree(old)


def _max_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
