"""The flag groups several commands share, each declared here once, and what their values mean."""

import argparse
import dataclasses
import json
import os
import sys
import typing

from keras_cnn import console
from keras_cnn.config import VARIANTS, TrainConfig, recorded_settings, resolve_config
from keras_cnn.errors import ConfigError

SHOW_TF_LOGS = "tf-logs"  # the value of a bare --verbose

# The settings a newcomer reaches for, listed first in --help; the others under headings.
MOST_USED = ("data_dir", "epochs", "batch_size", "lr", "limit", "seed")
PLATFORM = "platform (speed only)"
ONE_DEVICE_BATCH = "images per training step"  # batch_size's help where the command trains on one device
SETTING_GROUPS = {
    "data": ("dataset", "test_fraction", "val_split", "strict_images"),
    "preprocessing and augmentation": ("normalization", "whitening", "zca_epsilon", "augment", "crop_padding",
                                       "crop_padding_mode", "cutout_size", "mixup_alpha", "cutmix_alpha",
                                       "color_jitter",
                                       "tta"),
    "network": ("arch", "init", "whiten_conv1", "freeze_conv1", "dropout", "batch_norm", "bn_momentum"),
    "optimization": ("optimizer", "momentum", "nesterov", "weight_decay", "label_smoothing", "ema_momentum", "sam_rho",
                     "schedule",
                     "lr_decay", "lr_step_epochs", "warmup_epochs", "eval_each_epoch", "eval_train", "eval_at_start"),
    PLATFORM: ("mixed_precision", "jit_compile", "strategy"),
}


def add_verbose_flag(parser: argparse.ArgumentParser, progress: bool = False, off_terminal: str = "lines") -> None:
    """--verbose: TensorFlow's own logs too; with `progress`, --verbose 0|1|2 sets Keras' progress output instead,
    whose default off a terminal is `off_terminal` (console.keras_verbosity: "lines", or "nothing" for one epoch)."""
    if not progress:
        parser.add_argument("--verbose", action="store_const", const=SHOW_TF_LOGS,
                            help="also show TensorFlow's own logs")
        return
    parser.add_argument(
        "--verbose", nargs="?", const=SHOW_TF_LOGS, choices=["0", "1", "2", "auto", SHOW_TF_LOGS], default="auto",
        metavar="0|1|2", help="progress: 0 silent, 1 progress bar, 2 one line per epoch (default: a bar on a terminal, "
        f"else {off_terminal}); --verbose alone: the default progress and TensorFlow's own logs",
    )


def progress(args: argparse.Namespace) -> int | str:
    """Keras' verbose value for --verbose: 0, 1, 2 or "auto"."""
    return int(args.verbose) if args.verbose in ("0", "1", "2") else "auto"


def add_tensorboard_flags(parser: argparse.ArgumentParser, where: str = "<run>/tensorboard/",
                          view: str = "runs") -> None:
    """--no-tensorboard and --tensorboard-histograms: the TensorBoard logs of the runs a command trains, in `where`."""
    parser.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                        help=f"write no TensorBoard logs (default: into {where}; view with tensorboard "
                        f"--logdir {view})")
    parser.add_argument("--tensorboard-histograms", action="store_true",
                        help="also log the weights' histograms every epoch")


def tensorboard_options(args: argparse.Namespace) -> dict:
    """The TensorBoard flags as keyword arguments of the training functions."""
    return {"tensorboard": args.tensorboard, "tensorboard_histograms": args.tensorboard_histograms}


def add_run_flags(parser: argparse.ArgumentParser, run_group: argparse._ActionsContainer | None = None) -> None:
    """--run and --checkpoint: the trained model a command reads; --run is required unless it goes into `run_group`
    (a group of alternatives such as `serve`'s --run or --model)."""
    (run_group or parser).add_argument("--run", required=run_group is None, metavar="DIR",
                                       help="run folder, e.g. runs/bn")
    parser.add_argument("--checkpoint", choices=["last", "best"], default="last",
                        help="last.keras, the final epoch (default), or best.keras: the epoch a validation split chose "
                        "(runs trained with --val-split)")


def add_model_flag(where: argparse._ActionsContainer, required: bool = True) -> None:
    """--model: an exported model folder (keras_cnn/export.py) that a command reads."""
    where.add_argument("--model", required=required, metavar="DIR", help="exported model folder, e.g. saved_models/bn")


def add_variant_flag(parser: argparse.ArgumentParser) -> None:
    """--variant of a command that also reads --config (config_from_args)."""
    parser.add_argument("--variant", choices=list(VARIANTS), help="lab variant (default: bn, or the --config file's)")


def add_setting_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = (),
                      helps: dict[str, str] | None = None) -> dict[str, argparse._ArgumentGroup]:
    """One flag per TrainConfig field (--batch-size for batch_size) but those in `skip`, absent from the result
    unless given.

    MOST_USED go with the parser's own options; the others into the SETTING_GROUPS headings (returned).
    `helps` replaces the help text of settings that the command uses in its own way.
    """
    hints = typing.get_type_hints(TrainConfig)
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    groups = {title: parser.add_argument_group(title) for title in SETTING_GROUPS}
    placed = [(parser, name) for name in MOST_USED]
    placed += [(groups[title], name) for title, names in SETTING_GROUPS.items() for name in names]
    for where, name in placed:
        if name in skip:
            continue
        flag, kind = "--" + name.replace("_", "-"), hints[name]
        help_text = (helps or {}).get(name, fields[name].metadata["help"])
        if kind is bool:
            where.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            where.add_argument(flag, type=_flag_type(kind), default=argparse.SUPPRESS, metavar=_metavar(kind),
                               help=help_text)
    return groups


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


def given_settings(args: argparse.Namespace) -> dict:
    """The setting flags given, {TrainConfig field: value}, --variant aside."""
    names = {field.name for field in dataclasses.fields(TrainConfig)} - {"variant"}
    return {name: value for name, value in vars(args).items() if name in names}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The variant's settings, then the --config file's, then the flags given."""
    settings = load_settings_file(args.config) if args.config else {}
    variant = args.variant or settings.pop("variant", "bn")
    settings.pop("variant", None)
    return resolve_config(variant, **(settings | given_settings(args)))


def read_config_file(path: str):
    """The JSON value of a --config file, or a one-line ConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as error:
        raise ConfigError(f"cannot read --config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"--config {path} is not valid JSON (line {error.lineno}): fix or regenerate it") from None


def load_settings_file(path: str) -> dict:
    """Settings from a JSON file: a flat {setting: value}, a run's config.json or tune's best.json ({"config": ...})."""
    data = read_config_file(path)
    settings = data.get("config", data) if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise ConfigError(f"--config {path} must hold a JSON object of settings")
    # A run's config.json reproduces that run, also one recorded before a setting existed.
    return recorded_settings(settings) if "config" in data else dict(settings)


def add_platform_flags(group: argparse._ArgumentGroup) -> None:
    """Speed-only options of the process; the defaults are what measured fastest here (BENCHMARKS.md)."""
    group.add_argument("--onednn", choices=["on", "off"], help="TensorFlow's oneDNN CPU kernels (default: on)")
    group.add_argument("--intra-op-threads", type=_count, default=0, metavar="N",
                       help="threads of one op (default 0: TensorFlow's choice, one per core)")
    group.add_argument("--inter-op-threads", type=_count, default=0, metavar="N",
                       help="ops run at once (default 0: TensorFlow's choice)")


def apply_platform_flags(args: argparse.Namespace) -> None:
    """Apply --onednn (before TensorFlow is imported) and the thread pools (before its first op)."""
    if args.onednn:
        wanted = "1" if args.onednn == "on" else "0"
        # TensorFlow reads the variable once, at import: changing it later would only change the record.
        if "tensorflow" in sys.modules and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != wanted:
            raise ConfigError("--onednn must be chosen before TensorFlow is imported: start a new Python process")
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = wanted
    console.import_tensorflow_quietly()
    import tensorflow as tf

    # 0 means "leave TensorFlow's choice": setting it anyway fails once TensorFlow has run an op
    # (e.g. when main() is called twice in one Python process, as in notebooks and tests).
    try:
        if args.intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
        if args.inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    except RuntimeError:
        raise ConfigError(
            "--intra-op-threads/--inter-op-threads must be set before TensorFlow runs its first op: "
            "start a new Python process (or call tf.config.threading first)"
        ) from None


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (automatic) or more, got {value}")
    return value
