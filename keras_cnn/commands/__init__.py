"""The command line (train_keras.py, the `keras-cnn` command): one module per command, its flags and its run().

Each command module has `add_parser(commands)`, which declares its subcommand and sets `command`
to its `run(args) -> exit code`; flags.py declares the flag groups several commands share. Nothing
here imports TensorFlow until a command runs, so that --help stays fast. No other module of
keras_cnn imports this package (pyproject.toml's import contracts).
"""

import argparse
import os
import sys

from keras_cnn import __version__, console
from keras_cnn.commands import (
    answers,
    compare,
    describe,
    evaluate,
    export,
    heatmap,
    inspect_run,
    lab,
    lr_find,
    predict,
    serve,
    study,
    train,
    tune,
)
from keras_cnn.commands.flags import SHOW_TF_LOGS
from keras_cnn.errors import KerasCnnError
from keras_cnn.files import WRITE_FAILURES, WriteError, write_failure

# In the order of --help.
COMMANDS = (train, export, evaluate, predict, serve, lab, study, answers, compare, describe, heatmap, inspect_run,
            lr_find, tune)


def build_parser(prog: str = "train_keras.py") -> argparse.ArgumentParser:
    """The parser of the whole command line, `prog` its name in usage lines."""
    parser = argparse.ArgumentParser(prog=prog, description="The lab's CNNs in Keras 3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None, prog: str = "train_keras.py") -> int:
    """Run the command of `argv` (default: sys.argv[1:]); its exit code, errors printed in one line."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    # TensorFlow's own logs stay off the console (keras_cnn/console.py) unless the user sets
    # TF_CPP_MIN_LOG_LEVEL or passes --verbose; TensorFlow reads the level once, at its import.
    if "tensorflow" not in sys.modules and "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if getattr(args, "verbose", None) == SHOW_TF_LOGS else console.QUIET
    try:
        return args.command(args)
    except KerasCnnError as error:
        print(f"error: {error}", file=sys.stderr)
        if isinstance(error, WriteError):
            # h5py's files left open by the refused write crash the interpreter's teardown (seen: a
            # segmentation fault, exit 139, after tracebacks from h5py): end the process here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1
    except OSError as error:  # a write refused outside the project's writers: a folder, TensorBoard's logs
        if (code := write_failure(error)) is None:
            raise
        print(f"error: cannot write {error.filename or 'the output'}: {WRITE_FAILURES[code]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume from the last finished epoch", file=sys.stderr)
        return 130
