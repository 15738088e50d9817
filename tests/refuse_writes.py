"""Run the command line with the file system refusing some writes: the write-error tests' full disk.

    python tests/refuse_writes.py --match 'last.keras' --errno ENOSPC --from-epoch 2 -- train ...

From the start of epoch N (counted from 1 over the process; 0: from the start), every write
of a file whose name ends with the `--match` text raises OSError(errno) as the operating system
would: Python's open, os.makedirs and h5py's files (the resume state). The product's code is
unchanged; TensorFlow's own C++ writers (TensorBoard, SavedModel) are left to the tmpfs test.
"""

import argparse
import builtins
import errno
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as the command line sets it

import train_keras  # noqa: E402  (first, as in a plain run: keras_cnn sets TensorFlow's environment before the import)
from keras_cnn import console  # noqa: E402

console.import_tensorflow_quietly()
import h5py  # noqa: E402
import keras  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--match", required=True, help="refuse writes of files whose name ends with this")
    parser.add_argument("--errno", required=True, choices=["ENOSPC", "EROFS", "EACCES"])
    parser.add_argument("--from-epoch", type=int, default=0, metavar="N")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the arguments of train_keras.py")
    args = parser.parse_args()
    code = getattr(errno, args.errno)
    armed = {"on": args.from_epoch == 0}

    def refused(path, writing: bool) -> bool:
        return armed["on"] and writing and os.fspath(path).endswith(args.match)

    def refuse(path):
        raise OSError(code, os.strerror(code), os.fspath(path))

    real_open, real_makedirs, real_file = builtins.open, os.makedirs, h5py.File

    def fake_open(file, mode="r", *rest, **kwargs):
        if isinstance(file, (str, os.PathLike)) and refused(file, any(c in mode for c in "wax+")):
            refuse(file)
        return real_open(file, mode, *rest, **kwargs)

    def fake_makedirs(name, *rest, **kwargs):
        if refused(name, True):
            refuse(name)
        return real_makedirs(name, *rest, **kwargs)

    def fake_file(name, mode="r", *rest, **kwargs):
        if isinstance(name, (str, os.PathLike)) and refused(name, mode != "r"):
            refuse(name)
        return real_file(name, mode, *rest, **kwargs)

    builtins.open, os.makedirs, h5py.File = fake_open, fake_makedirs, fake_file
    on_epoch_begin = keras.callbacks.CallbackList.on_epoch_begin

    def epoch_begin(self, epoch, logs=None):
        armed["on"] = armed["on"] or epoch + 1 >= args.from_epoch
        on_epoch_begin(self, epoch, logs)

    keras.callbacks.CallbackList.on_epoch_begin = epoch_begin
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return train_keras.main(command)


if __name__ == "__main__":
    sys.exit(main())
