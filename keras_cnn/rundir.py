"""Run directories: a new run, the resumption of an unfinished one, the extension of a run, no silent overwrite."""

import datetime
import os
import shutil
from typing import Literal

from keras_cnn.config import PER_EPOCH_SCHEDULES, TrainConfig, recorded_settings
from keras_cnn.errors import RunDirError
from keras_cnn.files import read_json, remove_leftovers, write_json

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
TENSORBOARD_FOLDER = "tensorboard"  # tensorboard --logdir runs shows every run
BACKUP_FOLDER = "backup"  # TrainingState's folder: the last epoch's state, kept to resume or extend the run
INSPECT_FOLDER = "inspect"  # `inspect`'s pictures and report.md
RECORD_FILES = (CONFIG_FILE, HISTORY_FILE, METRICS_FILE)  # a run's record: what a published study keeps of it


def default_run_dir(config: TrainConfig) -> str:
    return os.path.join("runs", config.variant)


def retrain_run_dir(search_out: str) -> str:
    """Where `train --config <search_out>/best.json` trains by default: runs/<search folder>.

    tuning/bn-random -> runs/bn-random, so that retraining a search's best trial does not land on
    runs/<variant>, which usually holds a finished run of the variant already.
    """
    return os.path.join("runs", os.path.basename(os.path.abspath(search_out)))


# What a run folder holds for a config: nothing yet, or a run replaced with --overwrite ("new"); an unfinished run of
# it ("resumed" by training); a run of its settings with fewer epochs ("extended" by training); or the finished run
# itself ("finished": `train` refuses it, the lab and study loops skip it).
RunState = Literal["new", "resumed", "extended", "finished"]


def run_state(run_dir: str, config: TrainConfig, overwrite: bool = False) -> RunState:
    """What `run_dir` holds for `config` (see RunState), without touching the folder; RunDirError where no run of
    `config` may be trained there.

    A run asked for more epochs than it has (finished or not) is extended, where its schedule allows it
    (`is_longer`). A finished run, or one with other settings, is only replaced with `overwrite`; a folder that
    is not a run directory is never touched.
    """
    if os.path.isfile(run_dir):
        raise RunDirError(f"--run-dir {run_dir} is a file: choose a folder")
    if not os.path.isdir(run_dir) or not os.listdir(run_dir):
        return "new"
    if not os.path.exists(os.path.join(run_dir, CONFIG_FILE)):
        raise RunDirError(f"{run_dir} is not empty and holds no run (no {CONFIG_FILE}): choose another --run-dir")
    if overwrite:
        return "new"
    if is_longer(run_dir, config):
        return "extended"
    changed = changed_settings(run_dir, config)
    if os.path.exists(os.path.join(run_dir, METRICS_FILE)):
        if changed:
            raise _finished_run(run_dir)
        return "finished"
    if changed:
        raise RunDirError(
            f"{run_dir} holds an unfinished run with other settings ({'; '.join(changed)}): rerun with its settings "
            f"to resume it, or pass --overwrite or a new --run-dir"
        )
    return "resumed"


def prepare_run_dir(run_dir: str, config: TrainConfig, overwrite: bool = False) -> RunState:
    """Make `run_dir` ready to train `config` as `run_state` says, and return that state; a finished run is refused.

    new: an empty folder (a run replaced with `overwrite` is deleted); extended: the run made one of
    `config.epochs`, unfinished (`extend`); resumed and extended: the leftovers of an interrupted write removed.
    """
    state = run_state(run_dir, config, overwrite)
    if state == "finished":
        raise _finished_run(run_dir)
    if state == "new":
        if overwrite and os.path.exists(os.path.join(run_dir, CONFIG_FILE)):
            shutil.rmtree(run_dir)
        os.makedirs(run_dir, exist_ok=True)
        return state
    if state == "extended":
        extend(run_dir, config)
    remove_leftovers(run_dir)
    return state


def _finished_run(run_dir: str) -> RunDirError:
    return RunDirError(
        f"{run_dir} holds a finished run: pass --overwrite to train it again, --epochs more than its "
        f"{stored_settings(run_dir).get('epochs')} to extend it, or --run-dir for a new one"
    )


def is_longer(run_dir: str, config: TrainConfig) -> bool:
    """Whether `config` is the run in `run_dir` with more epochs; raise when such a run cannot be extended exactly."""
    stored = stored_settings(run_dir)
    if [name for name, value in config.to_dict().items() if stored.get(name) != value] != ["epochs"]:
        return False
    if config.epochs <= stored["epochs"]:
        return False
    if config.schedule not in PER_EPOCH_SCHEDULES:
        raise RunDirError(
            f"{run_dir} holds a run of {stored['epochs']} epochs whose {config.schedule} schedule depends on the "
            f"number of epochs: going on to {config.epochs} would not be the run trained {config.epochs} epochs from "
            f"the start; pass --overwrite to train it again, or --run-dir for a new one"
        )
    if os.path.exists(os.path.join(run_dir, METRICS_FILE)) and not os.path.isdir(os.path.join(run_dir, BACKUP_FOLDER)):
        raise RunDirError(
            f"{run_dir} holds a finished run without its final training state (made before keras-cnn 0.3 kept it), "
            f"so it cannot be extended exactly: pass --overwrite to train it again, or --run-dir for a new one"
        )
    return True


def extend(run_dir: str, config: TrainConfig) -> None:
    """Make the run in `run_dir` a run of `config.epochs`: unfinished again, its config.json saying so."""
    metrics = os.path.join(run_dir, METRICS_FILE)
    if os.path.exists(metrics):
        os.remove(metrics)  # first: a crash before config.json is rewritten leaves an unfinished, shorter run
    record = read_json(os.path.join(run_dir, CONFIG_FILE))
    record.setdefault("extended", []).append({
        "from_epochs": record["config"]["epochs"],
        "to_epochs": config.epochs,
        "at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    })
    record["config"]["epochs"] = config.epochs
    write_json(os.path.join(run_dir, CONFIG_FILE), record)


def stored_settings(run_dir: str) -> dict:
    return recorded_settings(read_json(os.path.join(run_dir, CONFIG_FILE)).get("config", {}))


def changed_settings(run_dir: str, config: TrainConfig) -> list[str]:
    """The settings of the run in `run_dir` that `config` changes, as "name old -> new"."""
    stored = stored_settings(run_dir)
    return [f"{name} {stored.get(name)!r} -> {value!r}"
            for name, value in config.to_dict().items() if stored.get(name) != value]
