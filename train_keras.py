#!/usr/bin/env python3
"""Command line of keras-cnn, a thin layer over the `keras_cnn` package.

    python train_keras.py train --variant bn --data-dir ../shared/data/cifar10-jpeg --epochs 30
    python train_keras.py train --help

Installed (`pip install .`), the same command line is the `keras-cnn` command: `keras-cnn train --help`.
The commands live in keras_cnn/commands/, one module each; this file is their entry point.
"""

import sys

from keras_cnn.commands import build_parser, main

__all__ = ["build_parser", "console_main", "main"]


def console_main() -> int:
    """The `keras-cnn` command of the installed package (pyproject.toml's [project.scripts])."""
    return main(prog="keras-cnn")


if __name__ == "__main__":
    sys.exit(main())
