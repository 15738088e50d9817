"""`train`: train a variant of the lab's networks into a run folder."""

import argparse
import os

from keras_cnn.commands.flags import (
    PLATFORM,
    add_platform_flags,
    add_setting_flags,
    add_tensorboard_flags,
    add_variant_flag,
    add_verbose_flag,
    apply_platform_flags,
    config_from_args,
    progress,
    read_config_file,
    tensorboard_options,
)
from keras_cnn.config import variant_changes
from keras_cnn.formatting import setting
from keras_cnn.rundir import retrain_run_dir


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `train`: the setting flags, with the variants' table as the epilog."""
    parser = commands.add_parser(
        "train",
        help="train a variant of the lab's networks",
        usage="%(prog)s [--variant NAME] [--data-dir DIR] [--epochs N] [--run-dir DIR] [setting flags...]",
        description="Train a variant. Each setting below overrides the variant's value (the table at the end).",
        epilog=variants_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_variant_flag(parser)
    groups = add_setting_flags(parser)
    parser.add_argument("--config", metavar="FILE",
                        help="JSON settings to start from: a run's config.json or tune's best.json")
    parser.add_argument("--run-dir", metavar="DIR",
                        help="output folder (default: runs/<variant>; with a tune's best.json, "
                        "runs/<its search folder>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a finished run, or one with other settings, in the run folder")
    parser.add_argument("--export", action="store_true",
                        help="when training ends, export last.keras to saved_models/<run folder name> (as `export`; "
                        "--overwrite also replaces that export)")
    add_verbose_flag(parser, progress=True)
    add_tensorboard_flags(parser)
    add_platform_flags(groups[PLATFORM])
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Train the run (resuming an unfinished one), then export it with --export."""
    apply_platform_flags(args)
    from keras_cnn.training import train_config

    config = config_from_args(args)
    run_dir = args.run_dir
    if run_dir is None and args.config and "search" in read_config_file(args.config):  # a tune's best.json
        run_dir = retrain_run_dir(os.path.dirname(args.config))
    result = train_config(config, run_dir=run_dir, overwrite=args.overwrite, verbose=progress(args),
                          **tensorboard_options(args))
    if args.export:
        from keras_cnn.export import export_run

        export_run(result.run_dir, overwrite=args.overwrite, verbose=args.verbose != "0")
    return 0


def variants_table() -> str:
    """The settings each variant changes, one line per variant."""
    lines = ["variants (each CIFAR-10 variant adds to the one before):"]
    for name, changes in variant_changes().items():
        settings = ", ".join(f"{key}={setting(value, exact=True)}" for key, value in changes.items())
        lines.append(f"  {name:<9} {settings}")
    return "\n".join(lines)


