"""Atomic file writes: a crash or Ctrl-C never leaves a half-written file where a good one was.

Everything is written to a temporary file beside the target, then moved over it with
`os.replace`, which is atomic on POSIX and Windows. A write that the file system refuses (no
space, read-only, no permission) becomes a `WriteError` naming the file and the cause, and the
temporary file is removed, so the previous good file stays and the space is given back.
"""

import contextlib
import errno
import json
import os
from collections.abc import Callable, Iterator

from keras_cnn.errors import KerasCnnError

TMP_PREFIX = ".tmp-"  # the target's own name follows, so its extension (.keras, .png) still says the format

# The refusals a user can fix, and how each is said. h5py and TensorFlow report them as their own
# exception types (RuntimeError, tf.errors.OpError) whose message holds the C library's text, so
# both the errno and that text are recognised.
WRITE_FAILURES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class WriteError(KerasCnnError):
    """A file that could not be written (no space, read-only, no permission); `errno` says which."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.errno = code


def write_failure(error: BaseException) -> int | None:
    """The errno of `error` when it is a write the file system refused (see WRITE_FAILURES), else None."""
    if getattr(error, "errno", None) in WRITE_FAILURES:
        return error.errno
    text = str(error)
    return next((code for code in WRITE_FAILURES if os.strerror(code) in text), None)


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
    """Turn a refused write inside the block into a one-line `WriteError` about `path`."""
    try:
        yield
    except WriteError:
        raise
    except Exception as error:  # OSError, h5py's RuntimeError, TensorFlow's OpError
        code = write_failure(error)
        if code is None:
            raise
        raise WriteError(code, f"cannot write {path}: {WRITE_FAILURES[code]}") from error


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then move the finished file to `path`."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp_path = os.path.join(folder, f"{TMP_PREFIX}{name}")
    try:
        with writing(path):
            write(tmp_path)
            os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def write_text(path: str, text: str) -> None:
    def write(tmp_path: str) -> None:
        with open(tmp_path, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def write_json(path: str, data) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def read_json(path: str):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def remove_leftovers(folder: str) -> None:
    """Delete temporary files an interrupted write left behind."""
    for name in os.listdir(folder):
        if name.startswith(TMP_PREFIX):
            os.remove(os.path.join(folder, name))
