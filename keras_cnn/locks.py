"""One writer per output folder: a second command that would write the same folder is refused.

The lock is an OS lock (`fcntl.flock`) on a small file beside the folder, `<parent>/.<name>.lock`:
the operating system releases it when its process ends, however it ends (`kill -9` included), so
no stale lock ever blocks a rerun. Beside the folder and not in it, because `--overwrite` deletes
the folder. The holder deletes the file before it lets go, and a process that locks a file checks
that it is still the one at that path (else it starts again), so two processes never hold two files
of the same name; a killed holder leaves the file, unlocked, for the next one. It holds the
holder's pid, host and start time, for the message the next process prints. A process may take
the same lock again (`lab` holds its variants' folders while `train` writes each), and it is
released when the outermost holder ends.
"""

import contextlib
import datetime
import json
import os
import socket
import sys
from collections.abc import Iterator

from keras_cnn.errors import KerasCnnError
from keras_cnn.files import writing

try:
    import fcntl
except ImportError:  # Windows: no flock; commands run unlocked there
    fcntl = None

_held: dict[str, tuple[int, int]] = {}  # lock file -> (file descriptor, depth), of this process


class FolderInUse(KerasCnnError):
    """Another process is writing the output folder."""


def lock_path(folder: str) -> str:
    """The lock file of `folder`: `.<name>.lock` beside it."""
    parent, name = os.path.split(os.path.abspath(folder))
    return os.path.join(os.path.realpath(parent), f".{name}.lock")


@contextlib.contextmanager
def folder_lock(folder: str, what: str = "--run-dir") -> Iterator[None]:
    """Hold `folder`'s lock inside the block, or raise FolderInUse naming the process that holds it.

    `what` names the flag that chooses another folder, for the message.
    """
    path = lock_path(folder)
    if fcntl is None:
        yield
        return
    if path in _held:
        descriptor, depth = _held[path]
        _held[path] = (descriptor, depth + 1)
        try:
            yield
        finally:
            _held[path] = (descriptor, _held[path][1] - 1)
        return

    descriptor = _acquire(path, folder, what)
    _write_holder(descriptor)
    _held[path] = (descriptor, 1)
    try:
        yield
    finally:
        del _held[path]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still locked: a process that opened this file finds it gone and starts again
        os.close(descriptor)  # closing releases the lock


def _acquire(path: str, folder: str, what: str) -> int:
    """A descriptor of the lock file at `path`, locked by this process."""
    while True:
        with writing(folder):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise FolderInUse(
                f"{folder} is in use by another process ({holder}): wait for it to finish, or choose another {what}"
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the holder removed this file as we opened it: lock the new one


@contextlib.contextmanager
def folder_locks(folders: list[str], what: str = "--out") -> Iterator[None]:
    """Hold the locks of all `folders` inside the block (taken in order; none held if one is in use)."""
    with contextlib.ExitStack() as stack:
        for folder in folders:
            stack.enter_context(folder_lock(folder, what))
        yield


def _write_holder(descriptor: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(os.path.basename(arg) if i == 0 else arg for i, arg in enumerate(sys.argv)),
    }
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, (json.dumps(holder) + "\n").encode(), 0)


def _read_holder(descriptor: int) -> str:
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0).decode())
        return f"pid {holder['pid']} on {holder['host']}, since {holder['started']}: {holder['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its pid is not recorded yet"  # it has taken the lock and not written its name yet
