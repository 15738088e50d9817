"""The installable package: `pip install .` gives keras_cnn, pipelines and a `keras-cnn` command like train_keras.py."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import keras_cnn

REPO = Path(__file__).resolve().parents[1]
# What a checkout may hold besides its sources: run outputs, caches, earlier builds.
NOT_SOURCES = shutil.ignore_patterns(".git", "runs", "tuning", "saved_models", "build", "dist", "*.egg-info",
                                     "__pycache__", ".pytest_cache")
IMPORTED_FILES = """
import importlib.metadata, json, keras_cnn, pipelines, train_keras
print(json.dumps({"files": [keras_cnn.__file__, pipelines.__file__, train_keras.__file__],
                  "version": importlib.metadata.version("keras-cnn"),
                  "requires": importlib.metadata.requires("keras-cnn")}))
"""


def pip_install(tmp: Path, *options: str) -> Path:
    """Install a copy of the checkout into tmp/site (--target) with pip; return that folder.

    The copy keeps the build's build/ and *.egg-info out of the checkout; --no-build-isolation and
    --no-index build with the setuptools already installed, offline. --no-deps: the dependencies
    are those of the environment running the tests.
    """
    shutil.copytree(REPO, tmp / "src", ignore=NOT_SOURCES)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "--target", str(tmp / "site"), *options, str(tmp / "src")],
        check=True, capture_output=True, timeout=120,
    )
    return tmp / "site"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package as `pip install .` installs it, in a folder of its own."""
    return pip_install(tmp_path_factory.mktemp("package"))


def run_installed(site: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run from `cwd` (not the checkout) with only the installed copy importable."""
    return run(args, cwd, PYTHONPATH=str(site))


def run(args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    """Run `args` with the help text's width fixed, so that two help texts compare line by line."""
    env = os.environ | {"COLUMNS": "120"} | env
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def requirements(lines: list[str]) -> dict:
    """{canonical name: specifier set} of requirement lines, comments left out."""
    parsed = [Requirement(line) for line in lines if line.strip() and not line.strip().startswith("#")]
    return {canonicalize_name(r.name): r.specifier for r in parsed}


def test_the_installed_copy_is_imported_with_the_version_and_dependencies_of_the_checkout(installed, tmp_path):
    result = run_installed(installed, [sys.executable, "-c", IMPORTED_FILES], tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert all(Path(file).is_relative_to(installed) for file in found["files"]), found["files"]
    assert found["version"] == keras_cnn.__version__
    assert requirements(found["requires"]) == requirements((REPO / "requirements.txt").read_text().splitlines())


def test_keras_cnn_command_has_the_subcommands_and_version_of_train_keras_py(installed, tmp_path):
    command = str(installed / "bin" / "keras-cnn")
    installed_help = run_installed(installed, [command, "--help"], tmp_path)
    script_help = run([sys.executable, str(REPO / "train_keras.py"), "--help"], tmp_path)
    assert installed_help.returncode == 0 and script_help.returncode == 0
    assert installed_help.stdout.startswith("usage: keras-cnn ")
    assert installed_help.stdout.replace("keras-cnn", "train_keras.py") == script_help.stdout
    assert "usage: keras-cnn train " in run_installed(installed, [command, "train", "--help"], tmp_path).stdout

    version = run_installed(installed, [command, "--version"], tmp_path)
    script_version = run([sys.executable, str(REPO / "train_keras.py"), "--version"], tmp_path)
    assert version.stdout == f"keras-cnn {keras_cnn.__version__}\n"
    assert script_version.stdout == f"train_keras.py {keras_cnn.__version__}\n"


def test_keras_cnn_command_trains_one_epoch_and_records_the_version(installed, cifar_like_folder, tmp_path):
    run_dir = tmp_path / "run"
    result = run_installed(installed, [str(installed / "bin" / "keras-cnn"), "train", "--variant", "baseline",
                                       "--data-dir", str(cifar_like_folder), "--epochs", "1", "--batch-size", "16",
                                       "--run-dir", str(run_dir), "--verbose", "0"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 1
    assert json.loads((run_dir / "config.json").read_text())["versions"]["keras_cnn"] == keras_cnn.__version__


def test_editable_install_imports_the_sources_it_was_installed_from(tmp_path):
    site = pip_install(tmp_path, "--editable")
    # An editable install works through a .pth file, which Python reads in site folders only.
    code = f"import site; site.addsitedir({str(site)!r})\n{IMPORTED_FILES}"
    result = run([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert all(Path(file).is_relative_to(tmp_path / "src") for file in found["files"]), found["files"]
    assert found["version"] == keras_cnn.__version__
