"""Predict the classes of PNG/JPEG files with an exported SavedModel (see `keras_cnn.export`).

Images are decoded and converted as the image-folder training data is (`pipelines.images`): to
the model's channels (RGB or grayscale), resized to the model's native size when they differ
(bilinear, with antialiasing here: photos are often many times that size), and sent as uint8
pixels to `serving_default`.

    predict("saved_models/bn", ["cat.png", "photos/"], top_k=3)
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

from keras_cnn.errors import ConfigError
from keras_cnn.export import read_export_info, serving_function
from pipelines.images import IMAGE_EXTENSIONS, decode_to_shape, is_image_file

BATCH_SIZE = 256


def predict(model_dir: str, paths: list[str], top_k: int = 3) -> list[dict]:
    """One result per image file: {"file", "predictions": [{"class", "index", "probability"}], "resized_from"}.

    Folders are searched (recursively) for image files (Keras' extensions: IMAGE_EXTENSIONS). A path that cannot be
    predicted gets {"file", "error"} instead, and the others are still predicted.
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
        results.append({"file": path, "predictions": None, "resized_from": list(original_shape[:2])
                        if resized else None})
        images.append(image)

    batches = [np.stack(images[i : i + BATCH_SIZE]) for i in range(0, len(images), BATCH_SIZE)]
    probabilities = iter(np.concatenate([classify(batch) for batch in batches]) if batches else [])
    for result in results:
        if "error" not in result:
            result["predictions"] = top_classes(next(probabilities), class_names, top_k)
    return results


def top_classes(probabilities: np.ndarray, class_names: list[str], top_k: int) -> list[dict]:
    """The `top_k` most probable classes, most probable first: [{"class", "index", "probability"}]."""
    best = np.argsort(-probabilities, kind="stable")[:top_k]
    return [{"class": class_names[i], "index": int(i), "probability": float(probabilities[i])} for i in best]


class ImageError(Exception):
    """A file that cannot be decoded as an image."""


def image_files(paths: list[str]) -> list[tuple[str, str | None]]:
    """(path, None) for each image file, folders expanded in sorted order; (path, error) for a path not usable."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(
                os.path.join(folder, name)
                for folder, _, names in os.walk(path)
                for name in names
                if is_image_file(name)
            )
            files += [(file, None) for file in found] or [(path, f"folder holds no {'/'.join(IMAGE_EXTENSIONS)} files")]
        elif os.path.isfile(path):
            files.append((path, None))
        else:
            files.append((path, "no such file or folder"))
    return files


def read_image(path: str, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The file as a uint8 image of `image_shape`, and its (height, width, channels) before conversion.

    Converted to the model's channel count (RGB to grayscale or back, alpha dropped); an image of
    another size is stretched to the native size (bilinear, antialiased).
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ImageError(f"cannot read it ({error.strerror})") from None
    return decode_image(data, image_shape)


def decode_image(data: bytes, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The encoded image `data` (a file's bytes) as `read_image` converts a file; ImageError if it is not one."""
    try:
        image, original_shape = decode_to_shape(tf.constant(data), image_shape, antialias=True)
    except tf.errors.OpError:
        raise ImageError("not an image file, or a damaged one") from None
    return image.numpy(), tuple(int(n) for n in original_shape)


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
