"""tensorflow-datasets source (the default): CIFAR-10 or MNIST, downloaded once into tfds' data folder.

Offline, `tfds.load(download=True)` retries for minutes before failing; here a missing data set
on a machine without internet fails at once with a line that says how to use a local copy.
"""

import contextlib
import logging
import os
import socket

import numpy as np

from pipelines.errors import DataError
from pipelines.splits import Split, Splits

TFDS_HOST = ("storage.googleapis.com", 443)  # where tfds downloads CIFAR-10 and MNIST from


def read_tfds(name: str) -> Splits:
    """Both splits of the tfds data set `name` as in-memory arrays; download only when online."""
    try:
        with _absl_warnings_off():  # tfds warns about the folder it is about to report missing
            return _as_splits(name, download=False)
    except AssertionError:
        pass  # not prepared yet: tfds raises AssertionError("could not find data in ...")
    if not _online():
        data_dir = os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
        raise DataError(
            f"{name} is not in tfds' data folder ({data_dir}) and cannot be downloaded: this machine is offline. "
            f"Use a local copy with --data-dir DIR (DIR/train/<class>/*.png, DIR/test/<class>/*.png), "
            f"or set TFDS_DATA_DIR to a folder where tfds prepared {name}"
        )
    return _as_splits(name, download=True)


def _as_splits(name: str, download: bool) -> Splits:
    import tensorflow_datasets as tfds

    (train, test), info = tfds.load(
        name, split=["train", "test"], as_supervised=True, with_info=True, download=download
    )
    return Splits(
        train=_to_arrays(train),
        test=_to_arrays(test),
        class_names=list(info.features["label"].names),
        source=f"tfds:{name}",
    )


def _to_arrays(dataset) -> Split:
    images, labels = [], []
    for image_batch, label_batch in dataset.batch(4096).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
    return Split(np.concatenate(images), np.concatenate(labels).astype(np.int32))


@contextlib.contextmanager
def _absl_warnings_off():
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl.setLevel(level)


def _online() -> bool:
    try:
        socket.create_connection(TFDS_HOST, timeout=3).close()
        return True
    except OSError:
        return False
