"""Image-folder source: DIR/train/<class>/<image> and DIR/test/<class>/<image>, read as Keras users expect.

Labels are the positions of the class folder names in sorted order, which for CIFAR-10 gives the
standard label order (airplane=0 ... truck=9). A folder of class folders without train/ and test/
(like an MNIST sample) can be split with `test_fraction`. As in
`keras.utils.image_dataset_from_directory`, files without an image extension (notes.txt,
.DS_Store) are skipped, and images of other channels or size are converted to the data set's
(`pipelines.images.decode_to_shape`); each of these is reported in one line (`Splits.notes`).
`strict=True` refuses them instead.
"""

import hashlib
import os
import shutil

import numpy as np
import tensorflow as tf

from pipelines.errors import DataError
from pipelines.images import IMAGE_EXTENSIONS, decode_pixels, decode_to_shape, is_image_file
from pipelines.splits import Split, Splits, holdout_mask, stratified_subset

EXTENSIONS_TEXT = "/".join(IMAGE_EXTENSIONS)


def read_image_folder(
    data_dir: str,
    image_shape: tuple[int, int, int],
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.0,
    test_only: bool = False,
    strict: bool = False,
) -> Splits:
    """Decode the folder's train and test images into memory (a subset first, when `limit` is given).

    With `test_only` the training images are listed (they define the split) but not decoded: the
    train split comes back empty. `strict`: a file that is not an image, or an image of other
    channels or size, is an error instead of being skipped or converted.
    """
    if not os.path.exists(data_dir):
        raise DataError(f"data folder {data_dir} does not exist: point --data-dir at DIR with train/<class>/ and "
                        "test/<class>/")
    if not os.path.isdir(data_dir):
        raise DataError(f"--data-dir {data_dir} is a file, not a folder of train/<class>/ and test/<class>/ images")
    has_splits = all(os.path.isdir(os.path.join(data_dir, name)) for name in ("train", "test"))
    if has_splits and test_fraction:
        raise DataError(f"{data_dir} already has train/ and test/ folders: drop --test-fraction")
    skipped: list[str] = []
    if has_splits:
        train_paths, train_labels, class_names = list_class_folders(os.path.join(data_dir, "train"), skipped)
        test_paths, test_labels, test_classes = list_class_folders(os.path.join(data_dir, "test"), skipped)
        if test_classes != class_names:
            raise DataError(
                f"{data_dir}: train/ and test/ hold different class folders ({', '.join(class_names)} vs "
                f"{', '.join(test_classes)}): give both the same classes"
            )
    elif test_fraction and _class_folders(data_dir):
        paths, labels, class_names = list_class_folders(data_dir, skipped)
        is_test = holdout_mask(labels, test_fraction)
        train_paths, train_labels = paths[~is_test], labels[~is_test]
        test_paths, test_labels = paths[is_test], labels[is_test]
    else:
        hint = (
            ": it holds class folders, so add --test-fraction 0.2 to hold out 20% of each class as the test split"
            if _class_folders(data_dir)
            else ", each with one folder of images per class"
        )
        raise DataError(f"{data_dir} has no train/ and test/ folders{hint}")
    if skipped and strict:
        raise DataError(f"{skipped[0]} is not an image file ({EXTENSIONS_TEXT}): remove it, or drop --strict-images "
                        "to skip it")
    if limit is not None:
        keep = stratified_subset(train_labels, limit, seed)
        train_paths, train_labels = train_paths[keep], train_labels[keep]
        keep = stratified_subset(test_labels, limit, seed)
        test_paths, test_labels = test_paths[keep], test_labels[keep]
    if test_only:
        train_paths, train_labels = train_paths[:0], train_labels[:0]
    paths = np.concatenate([train_paths, test_paths])
    images, shapes = decode_images(paths, image_shape)
    notes = [f"{data_dir}: skipped {_count(len(skipped), 'file')} without an image extension ({EXTENSIONS_TEXT}), "
             f"e.g. {skipped[0]}"] if skipped else []
    notes += conversion_notes(paths, shapes, image_shape, strict)
    return Splits(
        train=Split(images[: len(train_paths)], train_labels),
        test=Split(images[len(train_paths) :], test_labels),
        class_names=class_names,
        source=data_dir,
        notes=tuple(notes),
    )


def list_class_folders(root: str, skipped: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Paths and int32 labels of the image files in root/<class>/, classes and files in sorted order.

    Other files (no image extension) are appended to `skipped`.
    """
    class_names = _class_folders(root)
    if not class_names:
        raise DataError(f"{root} has no class folders: put the images in {root}/<class name>/")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        files = sorted(f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f)))
        images = [f for f in files if is_image_file(f)]
        if skipped is not None:
            skipped += [os.path.join(folder, f) for f in files if not is_image_file(f)]
        if not images:
            raise DataError(f"class folder {folder} is empty (no {EXTENSIONS_TEXT} files): add its images or remove "
                            "the folder")
        paths += [os.path.join(folder, f) for f in images]
        labels += [label] * len(images)
    return np.array(paths), np.array(labels, dtype=np.int32), class_names


def decode_images(paths: np.ndarray, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Decode image files into one uint8 array of `image_shape` images, in parallel with tf.data.

    Also returns each file's own (height, width, channels). A file that cannot be decoded fails
    the fast batched pass; only then are the files decoded one by one, to name the first bad one.
    Many files are decoded once per machine: later calls read the arrays from `DecodedCache`.
    """
    cache = DecodedCache(paths, image_shape) if len(paths) >= DecodedCache.MIN_FILES else None
    if cache and (cached := cache.read()):
        return cached
    images, shapes = _decode(paths, image_shape)
    if cache:
        cache.write(images, shapes)
    return images, shapes


class DecodedCache:
    """Decoded arrays of a list of image files, kept on disk between processes.

    Decoding CIFAR-10's 60,000 JPEGs took 11-13 s of a 4-epoch run's start-up on 2 cores; reading
    them back takes about 2 s. The file's name is a hash of the image shape and of every
    path with its size and modification time, so a changed, added or removed file decodes afresh.
    Written whole under a temporary name and renamed; a cache that cannot be written is skipped.
    Folder: $KERAS_CNN_CACHE (or ~/.cache/keras-cnn); KERAS_CNN_CACHE=off turns it off.
    """

    MIN_FILES = 5000  # below this, decoding takes about a second: not worth a file

    def __init__(self, paths: np.ndarray, image_shape: tuple[int, int, int]):
        folder = os.environ.get("KERAS_CNN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "keras-cnn")
        digest = hashlib.sha256(repr(tuple(image_shape)).encode())
        for path in paths:
            info = os.stat(path)
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        self.off = folder == "off"
        self.path = os.path.join(folder, f"decoded-{digest.hexdigest()[:32]}")  # a folder: images.npy, shapes.npy

    def read(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.off or not os.path.isdir(self.path):
            return None
        try:  # .npy, not .npz: np.load reads an .npz member through zipfile, 5x slower
            return tuple(np.load(os.path.join(self.path, f"{name}.npy")) for name in ("images", "shapes"))
        except (OSError, ValueError):  # truncated or foreign: decode again
            return None

    def write(self, images: np.ndarray, shapes: np.ndarray) -> None:
        if self.off:
            return
        temporary = f"{self.path}.tmp-{os.getpid()}"
        try:
            os.makedirs(temporary, exist_ok=True)
            np.save(os.path.join(temporary, "images.npy"), images)
            np.save(os.path.join(temporary, "shapes.npy"), shapes)
            os.rename(temporary, self.path)
        except OSError:  # no space, read-only, or another process wrote it first
            shutil.rmtree(temporary, ignore_errors=True)


def _decode(paths: np.ndarray, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    images = np.empty((len(paths), *image_shape), dtype=np.uint8)
    shapes = np.empty((len(paths), 3), dtype=np.int64)
    files = tf.data.Dataset.from_tensor_slices(paths).map(
        lambda path: decode_to_shape(tf.io.read_file(path), image_shape), num_parallel_calls=tf.data.AUTOTUNE
    )
    try:
        start = 0
        for batch, batch_shapes in files.batch(1024).as_numpy_iterator():
            images[start : start + len(batch)] = batch
            shapes[start : start + len(batch)] = batch_shapes
            start += len(batch)
    except tf.errors.OpError:
        raise _first_undecodable(paths) from None
    return images, shapes


def conversion_notes(paths: np.ndarray, shapes: np.ndarray, image_shape: tuple[int, int, int],
                     strict: bool) -> list[str]:
    """One line each for the images converted to the data set's channels and those resized to its size.

    With `strict`, the first such image is an error instead.
    """
    height, width, channels = image_shape
    converted = np.flatnonzero(shapes[:, 2] != channels)
    resized = np.flatnonzero((shapes[:, 0] != height) | (shapes[:, 1] != width))
    if strict and (len(converted) or len(resized)):
        first = min(np.concatenate([converted, resized]))
        found_height, found_width, found_channels = shapes[first]
        raise DataError(
            f"{paths[first]} is {found_height}x{found_width} with {found_channels} channel(s), but this data set needs "
            f"{height}x{width} with {channels}: resize or convert it, or drop --strict-images to have it done"
        )
    everything = " (all of them: is this the right variant for this data?)"
    notes = []
    if len(converted):
        target = "RGB" if channels == 3 else "grayscale"
        notes.append(f"converted {_count(len(converted), 'image')} of {len(paths)} to {target}, "
                     f"e.g. {paths[converted[0]]} "
                     f"({shapes[converted[0]][2]} channel(s))" + (everything if len(converted) == len(paths) else ""))
    if len(resized):
        notes.append(f"resized {_count(len(resized), 'image')} of {len(paths)} to {height}x{width} (bilinear), e.g. "
                     f"{paths[resized[0]]} ({shapes[resized[0]][0]}x{shapes[resized[0]][1]})"
                     + (everything if len(resized) == len(paths) else ""))
    return notes


def _first_undecodable(paths: np.ndarray) -> DataError:
    """The error for the first file that cannot be decoded (slow: one file at a time)."""
    for path in paths:
        try:
            decode_pixels(tf.io.read_file(path))
        except tf.errors.OpError:
            return DataError(f"{path} is not a readable image (damaged, or not the format its name says): "
                             "remove or replace it")
    return DataError(f"could not decode the images of {os.path.dirname(os.path.dirname(paths[0]))}")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''}"


def _class_folders(root: str) -> list[str]:
    return sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
