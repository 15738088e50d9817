"""Reading a run folder: its settings, history, metrics and checkpoints, for every command that reads one.

`read_run` reads config.json, history.csv and metrics.json (absent until the run has finished);
`Run.checkpoint` finds last.keras or best.keras. `compare`, `export`, `evaluate`, `inspect`,
`heatmap`, `predict` and `study` all read runs through here, so a folder is judged the same way
and its problems are said in the same words everywhere.
"""

import math
import os
import sys
from dataclasses import dataclass
from functools import cached_property

from keras_cnn.config import recorded_settings
from keras_cnn.errors import RunDirError
from keras_cnn.files import read_json
from keras_cnn.formatting import finite
from keras_cnn.history import DEFAULT_CHECKPOINT, diverged_epoch, read_history, summarize
from keras_cnn.rundir import CONFIG_FILE, HISTORY_FILE, METRICS_FILE

CHECKPOINTS = {"best": "best.keras", "last": "last.keras"}
RUN_HINT = "pass --run runs/<name> of a trained run"


class NotARun(RunDirError):
    """A folder that holds no readable run; the message is the reason alone (e.g. "does not exist")."""


@dataclass(frozen=True)
class Run:
    """A run folder as its files hold it."""

    path: str
    record: dict  # config.json: "config" (every TrainConfig setting), "data", "platform", ...
    rows: list[dict]  # history.csv, one row per epoch ([] before the first epoch ends)
    metrics: dict | None  # metrics.json, None until the run has finished

    @cached_property
    def settings(self) -> dict:
        """Every TrainConfig setting; one added after the run was trained takes the value the run behaved as."""
        return recorded_settings(self.record["config"])

    @property
    def variant(self) -> str:
        return self.settings.get("variant") or os.path.basename(os.path.normpath(self.path))

    @property
    def class_names(self) -> list[str] | None:
        return self.record.get("data", {}).get("class_names")

    @property
    def split(self) -> str:
        """The split evaluated every epoch: "val" for a --val-split run, else "test"."""
        return "val" if self.rows and "val_accuracy" in self.rows[0] else "test"

    @cached_property
    def summary(self) -> dict:
        """Final and best accuracy, losses and timings, computed from history.csv like metrics.json."""
        return summarize(self.rows, self.split)

    @property
    def diverged_epoch(self) -> int | None:
        """The epoch whose training loss became NaN or infinite, if any."""
        return diverged_epoch(self.rows)

    def column(self, name: str) -> list[float]:
        """A history.csv column per epoch, NaN where absent or not finite (matplotlib leaves gaps there)."""
        return [row[name] if finite(row.get(name)) else math.nan for row in self.rows]

    def checkpoint(self, name: str = DEFAULT_CHECKPOINT) -> str:
        """The path of last.keras (the default) or best.keras.

        best.keras exists only where a validation split chose it; asking for it without one is an
        error that says so. Runs written before keras-cnn 0.2 hold a best.keras chosen on the test
        split: it still loads, with a note on stderr that its test accuracy is optimistic.
        """
        if name not in CHECKPOINTS:
            raise RunDirError(f"checkpoint '{name}' is unknown: use {' or '.join(CHECKPOINTS)}")
        has_val_split = self.record.get("config", {}).get("val_split", 0) > 0
        path = os.path.join(self.path, CHECKPOINTS[name])
        if not os.path.exists(path):
            if name == "best" and not has_val_split:
                raise RunDirError(
                    f"{self.path} has no best.keras: it was trained without --val-split, and the test split never "
                    "chooses an epoch; use the last epoch (--checkpoint last, the default), or train with "
                    "--val-split 0.1"
                )
            raise RunDirError(f"{self.path} has no {CHECKPOINTS[name]} yet: train at least one epoch first")
        if name == "best" and not has_val_split:
            print(f"note: {path} was chosen on the test split (a run written before keras-cnn 0.2), so its test "
                  f"accuracy is optimistic; --checkpoint last (the default) is not", file=sys.stderr)
        return path


def read_run(path: str, finished: bool = False) -> Run:
    """The run in folder `path`; NotARun says in one line why there is none (or, with `finished`, none finished)."""
    if not os.path.exists(path):
        raise NotARun("does not exist")
    if not os.path.isdir(path):
        raise NotARun("not a folder")
    if not os.path.exists(os.path.join(path, CONFIG_FILE)):
        raise NotARun(f"not a run folder (no {CONFIG_FILE})")
    if finished and not os.path.exists(os.path.join(path, METRICS_FILE)):
        raise NotARun(f"unfinished (no {METRICS_FILE}): rerun its training command to finish it")
    try:
        record = read_json(os.path.join(path, CONFIG_FILE))
        metrics_path = os.path.join(path, METRICS_FILE)
        metrics = read_json(metrics_path) if os.path.exists(metrics_path) else None
        rows = read_history(os.path.join(path, HISTORY_FILE))
    except (OSError, ValueError) as error:
        raise NotARun(f"unreadable run files ({error})") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise NotARun(f"older format ({CONFIG_FILE} has no \"config\" settings): retrain it")
    if metrics is not None and not isinstance(metrics, dict):
        raise NotARun(f"{METRICS_FILE} holds no JSON object: retrain it")
    return Run(path, record, rows, metrics)


def read_trained_run(path: str, checkpoint: str = DEFAULT_CHECKPOINT) -> tuple[Run, str]:
    """The run in `path` given as --run, and the path of its `checkpoint`; errors name the folder and --run."""
    try:
        run = read_run(path)
    except NotARun as error:
        raise RunDirError(f"{path}: {error}: {RUN_HINT}") from None
    return run, run.checkpoint(checkpoint)
