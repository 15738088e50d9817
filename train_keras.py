#!/usr/bin/env python3
"""Command line of keras-cnn, a thin layer over the `keras_cnn` package.

    python train_keras.py train --variant bn --data-dir ../shared/data/cifar10-jpeg --epochs 30
    python train_keras.py train --help
"""

import argparse
import dataclasses
import json
import os
import sys
import typing

# Quiet TensorFlow's C++ start-up chatter (CUDA probing on machines without a GPU); set
# TF_CPP_MIN_LOG_LEVEL=0 to see it. Must precede the first TensorFlow import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from keras_cnn.config import VARIANTS, TrainConfig, resolve_config, variant_changes  # noqa: E402
from keras_cnn.errors import ConfigError, KerasCnnError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.command(args)
    except KerasCnnError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume from the last finished epoch", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train_keras.py", description="The lab's CNNs in Keras 3.")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a variant of the lab's networks",
        description="Train a variant. Each setting below overrides the variant's value.",
        epilog=variants_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--variant", choices=list(VARIANTS), help="lab variant (default: bn, or the --config file's)")
    train.add_argument("--config", metavar="FILE", help="JSON settings to start from: a run's config.json or tune's best.json")
    train.add_argument("--run-dir", metavar="DIR", help="output folder (default: runs/<variant>)")
    train.add_argument("--overwrite", action="store_true", help="replace a finished run, or one with other settings, in the run folder")
    train.add_argument("--verbose", choices=["0", "1", "2", "auto"], default="auto", help="0 silent, 1 progress bar, 2 one line per epoch")
    add_setting_flags(train)
    train.set_defaults(command=run_train)
    return parser


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (--batch-size for batch_size), absent from the result unless given."""
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group("settings")
    for field in dataclasses.fields(TrainConfig):
        if field.name == "variant":
            continue
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        if kind is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=field.metadata["help"])
        else:
            group.add_argument(flag, type=_flag_type(kind), default=argparse.SUPPRESS, metavar=_metavar(kind), help=field.metadata["help"])


def run_train(args: argparse.Namespace) -> int:
    import_tensorflow_quietly()
    from keras_cnn.training import train_config

    config = config_from_args(args)
    train_config(config, run_dir=args.run_dir, overwrite=args.overwrite, verbose=args.verbose if args.verbose == "auto" else int(args.verbose))
    return 0


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The variant's settings, then the --config file's, then the flags given."""
    settings = load_settings_file(args.config) if args.config else {}
    variant = args.variant or settings.pop("variant", "bn")
    settings.pop("variant", None)
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    flags = {name: value for name, value in vars(args).items() if name in names - {"variant"}}
    return resolve_config(variant, **(settings | flags))


def load_settings_file(path: str) -> dict:
    """Settings from a JSON file: a flat {setting: value} or a run's config.json ({"config": {...}})."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as error:
        raise ConfigError(f"cannot read --config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"--config {path} is not valid JSON (line {error.lineno}): fix or regenerate it") from None
    settings = data.get("config", data) if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise ConfigError(f"--config {path} must hold a JSON object of settings")
    return dict(settings)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with native stderr muted, unless TF_CPP_MIN_LOG_LEVEL asks for its logs.

    TensorFlow's C++ start-up lines (oneDNN notice, CUDA probing on a machine without GPU) are
    written before its logging is initialised, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
    """
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "3":
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def variants_table() -> str:
    lines = ["variants (each CIFAR-10 variant adds to the one before):"]
    for name, changes in variant_changes().items():
        lines.append(f"  {name:<9} " + ", ".join(f"{key}={_show(value)}" for key, value in changes.items()))
    return "\n".join(lines)


def _show(value) -> str:
    return (",".join(value) or "none") if isinstance(value, list) else str(value)


def _flag_type(kind):
    optional = type(None) in typing.get_args(kind)
    base = next((arg for arg in typing.get_args(kind) if arg is not type(None)), kind) if optional else kind
    convert = str if base == tuple[str, ...] else base

    def parse(text: str):
        return None if optional and text.lower() == "none" else convert(text)

    parse.__name__ = base.__name__ if hasattr(base, "__name__") else "value"
    return parse


def _metavar(kind) -> str:
    if kind == tuple[str, ...]:
        return "A,B"
    if type(None) in typing.get_args(kind):
        return "N|none" if int in typing.get_args(kind) else "PATH"
    return {int: "N", float: "X", str: "NAME"}[kind]


if __name__ == "__main__":
    sys.exit(main())
