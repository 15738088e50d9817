"""The splits every source returns, and the seeded ways of choosing their members (a leaf: imports no source).

`Split` holds uint8 images (N, H, W, C) and int32 labels; `Splits` a data set's train and test
(and validation) splits with the class names. `holdout_mask` and `stratified_subset` pick a
class-balanced share or number of items with a fixed seed.
"""

from dataclasses import dataclass

import numpy as np

from pipelines.errors import DataError
from pipelines.images import JPEG_DCT_METHOD

# Held-out splits (test or validation) must not move when the training seed changes.
HOLDOUT_SEED = 0


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, H, W, C) uint8
    labels: np.ndarray  # (N,) int32

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray) -> "Split":
        return Split(self.images[indices], self.labels[indices])


@dataclass(frozen=True)
class Splits:
    train: Split
    test: Split
    class_names: list[str]
    source: str  # e.g. "tfds:cifar10" or the image folder's path
    val: Split | None = None  # held out of the training split when asked for
    notes: tuple[str, ...] = ()  # one line each for skipped files and converted or resized images

    def describe(self) -> dict:
        """JSON-ready summary for config.json."""
        return {
            "source": self.source,
            "train_images": len(self.train),
            "val_images": len(self.val) if self.val is not None else 0,
            "test_images": len(self.test),
            "image_shape": list(self.train.images.shape[1:]),
            "class_names": self.class_names,
            **({"jpeg_dct_method": JPEG_DCT_METHOD} if not self.source.startswith("tfds:") else {}),
            **({"notes": list(self.notes)} if self.notes else {}),
        }


def holdout_mask(labels: np.ndarray, fraction: float, seed: int = HOLDOUT_SEED) -> np.ndarray:
    """Boolean mask of a seeded `fraction` of each class (at least one item per class)."""
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        held_out[members[: max(1, round(fraction * len(members)))]] = True
    return held_out


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random subset of `n` items with the classes as balanced as possible.

    Items are shuffled, ranked within their class, and taken in rank order: first one of every
    class, then a second of every class, and so on. Not the first N files, which in a
    class-sorted folder would all be one class.
    """
    num_classes = len(np.unique(labels))
    if n < num_classes:
        raise DataError(f"--limit {n} is below the number of classes ({num_classes}): every class must be represented")
    if n >= len(labels):
        return np.arange(len(labels))
    order = np.random.default_rng(seed).permutation(len(labels))
    rank_in_class = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = order[labels[order] == label]
        rank_in_class[members] = np.arange(len(members))
    chosen = order[np.argsort(rank_in_class[order], kind="stable")[:n]]
    return np.sort(chosen)
