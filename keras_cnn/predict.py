"""Predict the classes of PNG/JPEG files with an exported SavedModel (see `keras_cnn.export`).

Images are decoded with TensorFlow exactly as the image-folder training data is
(`pipelines/image_folder.py`), converted to the model's channels (RGB or grayscale), resized to
the model's native size when they differ, and sent as uint8 pixels to `serving_default`.

    predict("saved_models/bn", ["cat.png", "photos/"], top_k=3)
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

from keras_cnn.errors import ConfigError
from keras_cnn.export import read_export_info, serving_function

# What a folder is searched for; a file named explicitly may be any format TensorFlow decodes (GIF, BMP, WebP too).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
BATCH_SIZE = 256


def predict(model_dir: str, paths: list[str], top_k: int = 3) -> list[dict]:
    """One result per image file: {"file", "predictions": [{"class", "index", "probability"}], "resized_from"}.

    Folders are searched (recursively) for PNG/JPEG files. A path that cannot be predicted gets
    {"file", "error"} instead, and the others are still predicted.
    """
    if top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {top_k}")
    info = read_export_info(model_dir)
    class_names = info["class_names"]
    image_shape = tuple(info["input"]["shape"][1:])
    classify = serving_function(model_dir)

    results, images = [], []
    for path, error in image_files(paths):
        if error is None:
            try:
                image, original_shape = read_image(path, image_shape)
            except ImageError as bad:
                error = str(bad)
        if error is not None:
            results.append({"file": path, "error": error})
            continue
        resized = original_shape[:2] != image_shape[:2]
        results.append({"file": path, "predictions": None, "resized_from": list(original_shape[:2]) if resized else None})
        images.append(image)

    batches = [np.stack(images[i : i + BATCH_SIZE]) for i in range(0, len(images), BATCH_SIZE)]
    probabilities = iter(np.concatenate([classify(batch) for batch in batches]) if batches else [])
    for result in results:
        if "error" not in result:
            p = next(probabilities)
            best = np.argsort(-p, kind="stable")[:top_k]
            result["predictions"] = [{"class": class_names[i], "index": int(i), "probability": float(p[i])} for i in best]
    return results


class ImageError(Exception):
    """A file that cannot be decoded as an image."""


def image_files(paths: list[str]) -> list[tuple[str, str | None]]:
    """(path, None) for each image file, folders expanded in sorted order; (path, error) for a path that is not usable."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(folder, name)
                for folder, _, names in os.walk(path)
                for name in names
                if name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")
            )
            files += [(file, None) for file in found] or [(path, "folder holds no .png/.jpg/.jpeg files")]
        elif os.path.isfile(path):
            files.append((path, None))
        else:
            files.append((path, "no such file or folder"))
    return files


def read_image(path: str, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The file as a uint8 image of `image_shape`, and its shape before resizing.

    Decoded with the model's channel count (RGB to grayscale or back, alpha dropped). An image of
    another size is resized (stretched, bilinear with antialiasing) to the native size.
    """
    height, width, channels = image_shape
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ImageError(f"cannot read it ({error.strerror})") from None
    try:
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
    except tf.errors.OpError:
        raise ImageError("not a PNG/JPEG image, or a damaged one") from None
    original_shape = tuple(image.shape)
    if original_shape[:2] != (height, width):
        image = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image.numpy(), original_shape


def print_results(results: list[dict], as_json: bool = False) -> None:
    """Text: one line per file on stdout, errors on stderr; JSON: one document with every result on stdout."""
    out, err = sys.stdout, sys.stderr
    if as_json:
        print(json.dumps({"results": results}, indent=2), file=out)
        return
    for result in results:
        if "error" in result:
            print(f"error: {result['file']}: {result['error']}", file=err)
            continue
        top = ", ".join(f"{p['class']} {p['probability']:.1%}" for p in result["predictions"])
        resized = "  (resized from {}x{})".format(*result["resized_from"]) if result["resized_from"] else ""
        print(f"{result['file']}: {top}{resized}", file=out)
    failed = sum("error" in result for result in results)
    if failed:
        print(f"{failed} of {len(results)} file(s) could not be predicted", file=err)
