"""Image-folder source: DIR/train/<class>/<image> and DIR/test/<class>/<image>, PNG or JPEG.

Labels are the positions of the class folder names in sorted order, which for CIFAR-10 gives the
standard label order (airplane=0 ... truck=9). A folder of class folders without train/ and test/
(like an MNIST sample) can be split with `test_fraction`.
"""

import os

import numpy as np
import tensorflow as tf

from keras_cnn.errors import DataError
from pipelines.sources import Split, Splits, holdout_mask, stratified_subset


def read_image_folder(
    data_dir: str,
    image_shape: tuple[int, int, int],
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.0,
    test_only: bool = False,
) -> Splits:
    """Decode the folder's train and test images into memory (a subset first, when `limit` is given).

    With `test_only` the training images are listed (they define the split) but not decoded: the
    train split comes back empty.
    """
    if not os.path.exists(data_dir):
        raise DataError(f"data folder {data_dir} does not exist: point --data-dir at DIR with train/<class>/ and test/<class>/")
    if not os.path.isdir(data_dir):
        raise DataError(f"--data-dir {data_dir} is a file, not a folder of train/<class>/ and test/<class>/ images")
    has_splits = all(os.path.isdir(os.path.join(data_dir, name)) for name in ("train", "test"))
    if has_splits and test_fraction:
        raise DataError(f"{data_dir} already has train/ and test/ folders: drop --test-fraction")
    if has_splits:
        train_paths, train_labels, class_names = list_class_folders(os.path.join(data_dir, "train"))
        test_paths, test_labels, test_classes = list_class_folders(os.path.join(data_dir, "test"))
        if test_classes != class_names:
            raise DataError(
                f"{data_dir}: train/ and test/ hold different class folders ({', '.join(class_names)} vs "
                f"{', '.join(test_classes)}): give both the same classes"
            )
    elif test_fraction and _class_folders(data_dir):
        paths, labels, class_names = list_class_folders(data_dir)
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
    if limit is not None:
        keep = stratified_subset(train_labels, limit, seed)
        train_paths, train_labels = train_paths[keep], train_labels[keep]
        keep = stratified_subset(test_labels, limit, seed)
        test_paths, test_labels = test_paths[keep], test_labels[keep]
    if test_only:
        train_paths, train_labels = train_paths[:0], train_labels[:0]
    return Splits(
        train=Split(decode_images(train_paths, image_shape), train_labels),
        test=Split(decode_images(test_paths, image_shape), test_labels),
        class_names=class_names,
        source=data_dir,
    )


def list_class_folders(root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Paths and int32 labels of the files in root/<class>/, classes and files in sorted order."""
    class_names = _class_folders(root)
    if not class_names:
        raise DataError(f"{root} has no class folders: put the images in {root}/<class name>/")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        files = sorted(f for f in os.listdir(folder) if not f.startswith(".") and os.path.isfile(os.path.join(folder, f)))
        if not files:
            raise DataError(f"class folder {folder} is empty: add its images or remove the folder")
        paths += [os.path.join(folder, f) for f in files]
        labels += [label] * len(files)
    return np.array(paths), np.array(labels, dtype=np.int32), class_names


def decode_images(paths: np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    """Decode image files into one uint8 array, in parallel with tf.data.

    A file that cannot be decoded, or whose size differs from the others, fails the fast batched
    pass; only then are the files checked one by one, to name the first bad one.
    """
    images = np.empty((len(paths), *image_shape), dtype=np.uint8)
    files = tf.data.Dataset.from_tensor_slices(paths).map(_read_image, num_parallel_calls=tf.data.AUTOTUNE)
    try:
        start = 0
        for batch in files.batch(1024).as_numpy_iterator():
            images[start : start + len(batch)] = batch
            start += len(batch)
    except (tf.errors.OpError, ValueError):
        raise _first_bad_image(paths, image_shape) from None
    return images


def _read_image(path: tf.Tensor) -> tf.Tensor:
    return tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)


def _first_bad_image(paths: np.ndarray, image_shape: tuple[int, int, int]) -> DataError:
    """The error for the first file that is not a decodable image of `image_shape` (slow: one file at a time)."""
    for path in paths:
        try:
            shape = tuple(_read_image(tf.constant(path)).shape)
        except tf.errors.OpError:
            return DataError(f"{path} is not a readable PNG/JPEG image: remove or replace it")
        if shape != tuple(image_shape):
            height, width, channels = shape
            return DataError(
                f"{path} is {height}x{width} with {channels} channel(s), but this data set needs "
                f"{image_shape[0]}x{image_shape[1]} with {image_shape[2]}: resize or convert it"
            )
    return DataError(f"could not decode the images of {os.path.dirname(os.path.dirname(paths[0]))}")


def _class_folders(root: str) -> list[str]:
    return sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
