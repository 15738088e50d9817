"""Where the images come from: tensorflow-datasets or an image folder, decoded once into memory.

Every source returns the same `Splits`: uint8 arrays (N, H, W, C) and int32 labels for the train and
test splits, plus the class names. Decoding happens here, once; the tf.data pipelines then read
from memory, so later epochs do no decoding (the in-memory arrays are the cache).
"""

from dataclasses import replace

from pipelines.errors import DataError
from pipelines.splits import Split, Splits, holdout_mask, stratified_subset

__all__ = ["Split", "Splits", "load_splits", "stratified_subset"]  # the splits' types, for the modules that read them

def load_splits(
    dataset: str,
    image_shape: tuple[int, int, int],
    data_dir: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.0,
    val_split: float = 0.0,
    test_only: bool = False,
    strict_images: bool = False,
) -> Splits:
    """Load the train and test splits of `dataset` from tfds, or from the image folder `data_dir`.

    `limit` keeps a seeded random subset of that many images of each split, every class
    represented. Image-folder subsets are chosen before decoding, so small runs start fast.
    `val_split` then holds that share of each class of the training split out as `val`.
    `test_only` (scoring a trained model): the train split comes back empty, and an image folder's
    training images are not decoded. `strict_images`: an image folder's non-image files and
    images of other channels or size are errors instead of being skipped or converted.
    """
    if data_dir is None:
        if test_fraction:
            raise DataError("--test-fraction splits an image folder: it needs --data-dir")
        from pipelines.tfds_source import read_tfds

        splits = read_tfds(dataset)
        if limit is not None:
            splits = Splits(
                train=splits.train.subset(stratified_subset(splits.train.labels, limit, seed)),
                test=splits.test.subset(stratified_subset(splits.test.labels, limit, seed)),
                class_names=splits.class_names,
                source=splits.source,
            )
    else:
        from pipelines.image_folder import read_image_folder

        splits = read_image_folder(data_dir, image_shape, limit=limit, seed=seed, test_fraction=test_fraction,
                                   test_only=test_only, strict=strict_images)
    if test_only:
        splits = replace(splits, train=splits.train.subset(slice(0, 0)))
    _check_shape(splits, image_shape, test_only)
    if val_split and not test_only:
        is_val = holdout_mask(splits.train.labels, val_split)
        splits = replace(splits, train=splits.train.subset(~is_val), val=splits.train.subset(is_val))
        emptied = sorted(set(splits.val.labels) - set(splits.train.labels))
        if emptied:
            raise DataError(
                f"--val-split {val_split} holds out every training image of {len(emptied)} class(es) (e.g. "
                f"{splits.class_names[emptied[0]]}): lower --val-split or raise --limit"
            )
    return splits


def _check_shape(splits: Splits, image_shape: tuple[int, int, int], test_only: bool = False) -> None:
    for name, split in (("test", splits.test),) if test_only else (("train", splits.train), ("test", splits.test)):
        if len(split) == 0:
            raise DataError(f"the {name} split of {splits.source} is empty")
        found = tuple(split.images.shape[1:])
        if found != tuple(image_shape):
            raise DataError(
                f"{splits.source}: {name} images are {_shape_text(found)}, but this variant needs "
                f"{_shape_text(image_shape)}: choose the matching variant or resize the images"
            )


def _shape_text(shape) -> str:
    height, width, channels = shape
    return f"{height}x{width} with {channels} channel{'s' if channels != 1 else ''}"
