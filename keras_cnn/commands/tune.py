"""`tune`: a keras-tuner search of a variant's hyperparameters, resumable, with its reports."""

import argparse
import sys
import textwrap

from keras_cnn import search_space
from keras_cnn.commands.flags import (
    ONE_DEVICE_BATCH,
    PLATFORM,
    add_platform_flags,
    add_setting_flags,
    add_tensorboard_flags,
    add_verbose_flag,
    apply_platform_flags,
    given_settings,
    progress,
    tensorboard_options,
)
from keras_cnn.config import VARIANTS


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `tune`: the search's flags, the setting flags (fixed values), then the search ranges."""
    parser = commands.add_parser(
        "tune",
        help="search learning rate, momentum, decay, dropout and batch size with keras-tuner",
        usage="%(prog)s [--variant NAME] [--tuner NAME] [--max-trials N] [--epochs N] [--out DIR] [flags...]",
        description=textwrap.fill(
            "Search hyperparameters of a variant with keras-tuner. Each trial trains the variant (settings below, as "
            "for train) with the trial's values for --epochs epochs (hyperband: at most) on one device and scores its "
            "best accuracy on the --val-split validation images, which tune requires (the test split is not used). "
            "A searchable setting given as a flag (e.g. --lr 0.01), or a range with equal ends, is fixed. --out "
            "receives trials.csv, "
        "summary.md, best.json (for train --config), objective.png and keras-tuner's state: rerun the same command "
        "to resume an interrupted search, with a larger --max-trials to extend a finished one.", 100),
        epilog="distributed search (keras-tuner's chief/worker mode; all share --out and the command):\n"
        + "".join(f"  KERASTUNER_TUNER_ID={tuner_id} KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 "
                  "python train_keras.py tune ...\n" for tuner_id in ("chief", "tuner0")) +
        "  (one more worker per KERASTUNER_TUNER_ID tuner1, tuner2, ...). The chief hands out trials and writes the\n"
        "  reports; the workers train.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--variant", choices=list(VARIANTS), default="bn",
                        help="lab variant to start from (default: bn)")
    parser.add_argument("--tuner", default="random", metavar="{" + ",".join(search_space.TUNERS) + "}",
                        help="search algorithm (default: random)")
    parser.add_argument("--max-trials", type=int, default=20, metavar="N", help="trials to run (default: 20)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: tuning/<variant>-<tuner>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start the search in --out over instead of resuming it")
    add_verbose_flag(parser, progress=True)
    add_tensorboard_flags(parser, where="--out's tensorboard/<trial>/", view="<out>/tensorboard")
    helps = {"batch_size": ONE_DEVICE_BATCH, "val_split": "hold out this share of each class of the training split "
             "as validation data, on which the trials are scored (required)"}
    groups = add_setting_flags(parser, skip=tuple(search_space.TRIAL_UNUSED), helps=helps)
    ranges = parser.add_argument_group("search ranges (a setting given as a flag above is fixed instead)")
    for name, (flag, _, _) in search_space.RANGES.items():
        ranges.add_argument(flag, nargs=2, type=float, metavar=("LOW", "HIGH"),
                            help=f"range of {name} (default: {search_space.default_text(name)})")
    ranges.add_argument(search_space.BATCH_SIZES_FLAG, metavar="A,B",
                        help=f"batch sizes to choose from (default: {search_space.default_text('batch_size')})")
    add_platform_flags(groups[PLATFORM])
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Run or resume the search; 130 when interrupted (the finished trials are kept)."""
    apply_platform_flags(args)
    from keras_cnn.tuning import tune

    ranges = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in search_space.FLAGS.items()}
    try:
        tune(args.variant, tuner=args.tuner, max_trials=args.max_trials, out=args.out, overwrite=args.overwrite,
             verbose=progress(args), **tensorboard_options(args),
             space={name: value for name, value in ranges.items() if value is not None}, **given_settings(args))
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume the search (finished trials are kept)", file=sys.stderr)
        return 130
    return 0
