"""Run directories: a new run, the resumption of an unfinished one, and never a silent overwrite."""

import os
import shutil

from keras_cnn.config import TrainConfig, recorded_settings
from keras_cnn.errors import RunDirError
from keras_cnn.files import read_json, remove_leftovers

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
TENSORBOARD_FOLDER = "tensorboard"  # tensorboard --logdir runs shows every run
BACKUP_FOLDER = "backup"  # TrainingState's folder; removed when training finishes
INSPECT_FOLDER = "inspect"  # `inspect`'s pictures and report.md


def default_run_dir(config: TrainConfig) -> str:
    return os.path.join("runs", config.variant)


def retrain_run_dir(search_out: str) -> str:
    """Where `train --config <search_out>/best.json` trains by default: runs/<search folder>.

    tuning/bn-random -> runs/bn-random, so that retraining a search's best trial does not land on
    runs/<variant>, which usually holds a finished run of the variant already.
    """
    return os.path.join("runs", os.path.basename(os.path.abspath(search_out)))


def prepare_run_dir(run_dir: str, config: TrainConfig, overwrite: bool = False) -> bool:
    """Create `run_dir` for a new run, or check that it holds an unfinished run of `config`.

    Returns True when the run resumes. A finished run, or one with other settings, is only
    replaced with `overwrite`; a folder that is not a run directory is never touched.
    """
    if os.path.isfile(run_dir):
        raise RunDirError(f"--run-dir {run_dir} is a file: choose a folder")
    if not os.path.isdir(run_dir) or not os.listdir(run_dir):
        os.makedirs(run_dir, exist_ok=True)
        return False
    config_path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.exists(config_path):
        raise RunDirError(f"{run_dir} is not empty and holds no run (no {CONFIG_FILE}): choose another --run-dir")
    if overwrite:
        shutil.rmtree(run_dir)
        os.makedirs(run_dir)
        return False
    if os.path.exists(os.path.join(run_dir, METRICS_FILE)):
        raise RunDirError(f"{run_dir} holds a finished run: pass --overwrite to train it again, or --run-dir for a new one")
    changed = changed_settings(run_dir, config)
    if changed:
        raise RunDirError(
            f"{run_dir} holds an unfinished run with other settings ({'; '.join(changed)}): rerun with its settings "
            f"to resume it, or pass --overwrite or a new --run-dir"
        )
    remove_leftovers(run_dir)
    return True


def changed_settings(run_dir: str, config: TrainConfig) -> list[str]:
    """The settings of the run in `run_dir` that `config` changes, as "name old -> new"."""
    stored = recorded_settings(read_json(os.path.join(run_dir, CONFIG_FILE)).get("config", {}))
    return [f"{name} {stored.get(name)!r} -> {value!r}" for name, value in config.to_dict().items() if stored.get(name) != value]
