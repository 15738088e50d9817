"""Atomic file writes: a crash or Ctrl-C never leaves a half-written file where a good one was.

Everything is written to a temporary file beside the target, then moved over it with
`os.replace`, which is atomic on POSIX and Windows.
"""

import json
import os
from collections.abc import Callable

TMP_PREFIX = ".tmp-"  # the target's own name follows, so its extension (.keras, .png) still says the format


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)`, then move the finished file to `path`."""
    folder, name = os.path.split(os.path.abspath(path))
    tmp_path = os.path.join(folder, f"{TMP_PREFIX}{name}")
    try:
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
