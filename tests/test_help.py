"""The command line's --help, word for word as in tests/help/, and without TensorFlow or Keras imported.

After changing a flag or a help text on purpose, rewrite the files and review the diff:

    python tests/test_help.py && git diff tests/help
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HELP = Path(__file__).resolve().parent / "help"
# "" is the top level (tests/help/train_keras.txt), then every subcommand.
COMMANDS = ("", "train", "export", "evaluate", "predict", "serve", "lab", "study", "answers", "compare", "describe",
            "heatmap", "inspect", "lr-find", "tune")


def help_file(command: str) -> Path:
    return HELP / f"{command or 'train_keras'}.txt"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """train_keras.py in a fresh Python, 100 columns wide."""
    return subprocess.run([sys.executable, str(REPO / "train_keras.py"), *args], capture_output=True, text=True,
                          cwd=REPO, env=os.environ | {"COLUMNS": "100"}, timeout=120)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_unchanged(command):
    result = run_cli(*filter(None, [command]), "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout == help_file(command).read_text(encoding="utf-8")


def test_every_command_has_a_help_file():
    import train_keras

    parser = train_keras.build_parser()
    subcommands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    assert ("", *subcommands.choices) == COMMANDS


def test_version():
    import keras_cnn

    assert run_cli("--version").stdout == f"train_keras.py {keras_cnn.__version__}\n"


def test_building_the_parser_imports_neither_tensorflow_nor_keras():
    code = ("import sys, train_keras; train_keras.build_parser(); "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.stdout == "False False\n", result.stderr


if __name__ == "__main__":
    for command in COMMANDS:
        help_file(command).write_text(run_cli(*filter(None, [command]), "--help").stdout, encoding="utf-8")
