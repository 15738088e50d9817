"""run_state: what training a config into a folder does (new, resumed, extended), worked out without touching it."""

import dataclasses
import json
import os
import re

import pytest

from keras_cnn import RunDirError, resolve_config
from keras_cnn.rundir import prepare_run_dir, run_state

CONFIG = resolve_config("bn", epochs=3, limit=40)


def write_run(folder, config=CONFIG, finished=False, backup=True):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": config.to_dict()}))
    if finished:
        (folder / "metrics.json").write_text("{}")
    if backup:
        (folder / "backup").mkdir()
    return folder


def contents(folder) -> dict:
    return {path: os.stat(path).st_mtime_ns for path in sorted(str(p) for p in folder.rglob("*"))}


@pytest.mark.parametrize("case, expected", [
    ("absent", "new"), ("empty", "new"), ("unfinished", "resumed"), ("finished, more epochs", "extended"),
    ("unfinished, more epochs", "extended"), ("finished, overwrite", "new"), ("finished", "finished"),
])
def test_run_state_names_what_training_does_and_leaves_the_folder_alone(tmp_path, case, expected):
    run = tmp_path / "run"
    if case == "empty":
        run.mkdir()
    elif case != "absent":
        write_run(run, finished=case.startswith("finished"))
    config = dataclasses.replace(CONFIG, epochs=5) if "more epochs" in case else CONFIG
    before = contents(tmp_path)
    assert run_state(str(run), config, overwrite="overwrite" in case) == expected
    assert contents(tmp_path) == before
    if expected == "finished":  # train refuses it; the lab and study loops skip it
        with pytest.raises(RunDirError, match="holds a finished run: pass --overwrite"):
            prepare_run_dir(str(run), config)
        return
    # prepare_run_dir acts on the same answer.
    assert prepare_run_dir(str(run), config, overwrite="overwrite" in case) == expected
    assert os.path.isdir(run)
    assert not (run / "metrics.json").exists()  # a run about to train is unfinished
    if expected == "extended":
        assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 5


@pytest.mark.parametrize("case, message", [
    ("finished, other settings", "holds a finished run: pass --overwrite"),
    ("other settings", "holds an unfinished run with other settings (lr 0.01 -> 0.02)"),
    ("not a run", "is not empty and holds no run (no config.json)"),
    ("cosine, more epochs", "schedule depends on the number of epochs"),
    ("finished without its state, more epochs", "without its final training state"),
])
def test_run_state_refuses_in_one_line(tmp_path, case, message):
    run = tmp_path / "run"
    config = dataclasses.replace(CONFIG, lr=0.01)
    if case == "not a run":
        run.mkdir()
        (run / "notes.txt").write_text("mine")
    elif case.startswith("cosine"):
        config = dataclasses.replace(CONFIG, schedule="cosine")
        write_run(run, config)
        config = dataclasses.replace(config, epochs=5)
    else:
        write_run(run, config, finished=case.startswith("finished"), backup="without its state" not in case)
        config = dataclasses.replace(config, lr=0.02) if case.endswith("other settings") else config
        config = dataclasses.replace(config, epochs=5) if "more epochs" in case else config
    before = contents(tmp_path)
    with pytest.raises(RunDirError, match=re.escape(message)) as refused:
        run_state(str(run), config)
    assert "\n" not in str(refused.value) and contents(tmp_path) == before
