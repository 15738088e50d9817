"""One writer per folder, and a refused write said in one line, losing nothing: as a user meets each (subprocesses)."""

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_image_folder

from keras_cnn.locks import FolderInUse, folder_lock, lock_path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, str(REPO / "train_keras.py")]
HELPERS = REPO / "tests"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    classes = [f"class{i}" for i in range(10)]
    return write_image_folder(tmp_path_factory.mktemp("data") / "cifar", classes=classes, train=4, test=2)


def train_args(data: Path, run_dir: Path, epochs: int = 3) -> list[str]:
    return ["train", "--variant", "baseline", "--data-dir", str(data), "--epochs", str(epochs), "--batch-size", "20",
            "--run-dir", str(run_dir), "--verbose", "2", "--no-tensorboard"]


def lab_args(data: Path, out: Path) -> list[str]:
    return ["lab", "--variants", "baseline", "--data-dir", str(data), "--epochs", "3", "--batch-size", "20",
            "--out", str(out), "--verbose", "2", "--no-tensorboard"]


def run(command: list[str], expect: int) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    shown = f"{' '.join(command)}\nexit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == expect, shown
    assert "Traceback" not in result.stderr, shown
    return result


def error_line(result: subprocess.CompletedProcess) -> str:
    """The command's one line on stderr, which must be its only one."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def history_epochs(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def holding(command: list[str]) -> subprocess.Popen:
    """Start `command` and return once it has saved epoch 1 and holds its folder (tests/interrupt.py)."""
    process = subprocess.Popen([sys.executable, str(HELPERS / "interrupt.py"), "--hold-after-epoch", "1",
                                "--", *command],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    for line in process.stdout:
        if line.strip() == "holding":
            return process
    process.wait()
    raise AssertionError(f"{command} ended before holding its folder: {process.stderr.read()[-3000:]}")


@pytest.mark.parametrize("first, others", [("train", ("train", "lab")), ("lab", ("train",))])
def test_a_second_writer_is_refused_and_a_killed_writers_rerun_goes_on(data, tmp_path, first, others):
    out = tmp_path / "lab"
    commands = {"train": train_args(data, out / "baseline"), "lab": lab_args(data, out)}
    writer = holding(commands[first])
    try:
        for second in others:
            line = error_line(run([*CLI, *commands[second]], expect=1))
            assert f"{out / 'baseline'} is in use by another process (pid {writer.pid} on " in line
            flag = "--run-dir" if second == "train" else "--out"
            assert line.endswith(f"wait for it to finish, or choose another {flag}")
        assert history_epochs(out / "baseline") == [1]  # the refused processes wrote nothing
    finally:
        writer.send_signal(signal.SIGKILL)  # kill -9: no cleanup, the lock goes with the process
        writer.wait()
    rerun = run([*CLI, *commands[first]], expect=0)
    assert "going on from epoch 2" in rerun.stdout
    assert history_epochs(out / "baseline") == [1, 2, 3]


def test_the_lock_is_beside_the_folder_reentrant_in_a_process_and_released(tmp_path):
    folder = tmp_path / "runs" / "bn"
    with folder_lock(str(folder)):
        with folder_lock(str(folder)):  # lab holds its variants' folders while train writes each
            assert Path(lock_path(str(folder))) == tmp_path / "runs" / ".bn.lock"
        probe = [sys.executable, "-c", "import sys; from keras_cnn.locks import folder_lock\n"
                 f"with folder_lock({str(folder)!r}): sys.exit(3)"]
        refused = subprocess.run(probe, capture_output=True, text=True, cwd=REPO, timeout=120)
        assert refused.returncode == 1 and FolderInUse.__name__ in refused.stderr, refused.stderr
        assert f"pid {os.getpid()} on " in refused.stderr
    assert not Path(lock_path(str(folder))).exists()  # released: nothing left beside the folder
    released = subprocess.run(probe, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert released.returncode == 3, released.stderr


@pytest.mark.parametrize("match, code, epoch, cause", [
    ("last.keras", "ENOSPC", 2, "no space left on the device"),
    ("weights.weights.h5", "ENOSPC", 2, "no space left on the device"),  # the resume state, by h5py
    ("history.csv", "EROFS", 3, "the file system is read-only"),
    ("curves.png", "EACCES", 3, "permission denied"),  # after the last epoch: the run's end
])
def test_a_refused_write_ends_in_one_line_and_the_rerun_resumes(data, tmp_path, match, code, epoch, cause):
    run_dir = tmp_path / "run"
    refusing = [sys.executable, str(HELPERS / "refuse_writes.py"), "--match", match, "--errno", code,
                "--from-epoch", str(epoch), "--"]
    line = error_line(run([*refusing, *train_args(data, run_dir)], expect=1))
    assert line.startswith(f"error: cannot write {run_dir}") and f": {cause}" in line, line
    resumed = epoch if match != "curves.png" else 4  # curves.png: written once the 3 epochs are done
    go_on = "its epochs are done, it writes the run's last files" if resumed == 4 else f"it resumes from epoch {epoch}"
    assert line.endswith(f"rerun the same command: {go_on}"), line
    if code == "ENOSPC":
        assert "this run needs 14.3 MB (last.keras and the resume state, 4.8 MB each" in line, line
    assert not list(run_dir.rglob(".tmp-*")), "a failed write leaves no temporary file behind"

    rerun = run([*CLI, *train_args(data, run_dir)], expect=0)
    assert ("all 3 done, writing the run's last files" if resumed == 4
            else f"going on from epoch {epoch}") in rerun.stdout
    assert history_epochs(run_dir) == [1, 2, 3]
    assert (run_dir / "metrics.json").is_file()
    assert [path.name for path in (run_dir / "backup").iterdir()] == ["epoch-0003"]


def test_a_run_warns_when_the_free_space_is_short(data, tmp_path):
    free_space = [sys.executable, "-c", "import shutil, sys, runpy\n"
                  "shutil.disk_usage = lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10**7, 10**7)\n"
                  f"sys.argv = {[str(REPO / 'train_keras.py'), *train_args(data, tmp_path / 'run', epochs=1)]!r}\n"
                  "runpy.run_path(sys.argv[0], run_name='__main__')"]
    result = run(free_space, expect=0)
    assert f"warning: only 10.0 MB free where {tmp_path / 'run'} is: this run needs 14.3 MB" in result.stdout


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MB tmpfs (as root where mounting is allowed; skipped elsewhere), unmounted at the end."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small file system needs root and the permission to mount")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_ends_in_one_line_and_a_rerun_with_space_resumes(data, small_disk):
    """The user's case: checkpoints and TensorBoard logs on a real file system that fills up in epoch 2."""
    run_dir = small_disk / "run"
    command = [*CLI, *[arg for arg in train_args(data, run_dir) if arg != "--no-tensorboard"]]
    result = run(command, expect=1)
    assert f"warning: only 12.6 MB free where {run_dir} is: this run needs 14.3 MB" in result.stdout
    line = error_line(result)
    assert line.startswith(f"error: cannot write {run_dir}/") and ": no space left on the device: " in line, line
    assert line.endswith("free space, then rerun the same command: it resumes from epoch 2"), line

    subprocess.run(["mount", "-o", "remount,size=40m", str(small_disk)], check=True)
    run(command, expect=0)
    assert history_epochs(run_dir) == [1, 2, 3]

    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    export = run([*CLI, "export", "--run", str(run_dir), "--to", str(small_disk / "export")], expect=1)
    assert error_line(export) == f"error: cannot write {small_disk / 'export'}: the file system is read-only"
