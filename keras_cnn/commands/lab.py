"""`lab`: train the lab's progression of variants, one run folder each, then compare them in a report."""

import argparse

from keras_cnn.commands.flags import (
    PLATFORM,
    add_platform_flags,
    add_tensorboard_flags,
    add_verbose_flag,
    apply_platform_flags,
    progress,
    tensorboard_options,
)
from keras_cnn.config import INITS, VARIANTS, TrainConfig


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `lab`: the settings every run of the lab shares."""
    parser = commands.add_parser(
        "lab",
        help="train the lab's progression, one run folder per variant, then write the report",
        description="Train LeNet5 on MNIST, then the CIFAR-10 variants baseline -> norm -> augment -> momentum -> "
        "dropout -> bn with shared settings, into --out/<variant>, then compare them (report.md and charts in --out). "
        "After an interruption, rerun the same command: finished runs are skipped, the unfinished one resumes.",
    )
    parser.add_argument("--data-dir", metavar="DIR",
                        help="CIFAR-10 image folder DIR/train/<class>/*, DIR/test/<class>/* "
                        "(default: tensorflow-datasets)")
    parser.add_argument("--mnist-dir", metavar="DIR",
                        help="MNIST image folder for lenet5: train/ and test/, or only class folders (then 20%% of "
                        "each class is the test split). Default: tensorflow-datasets; with --data-dir but no "
                        "--mnist-dir, lenet5 is skipped")
    parser.add_argument("--epochs", type=int, metavar="N",
                        help=f"epochs of each CIFAR-10 variant (default: {VARIANTS['baseline']['epochs']}, the lab's)")
    parser.add_argument("--lenet5-epochs", type=int, metavar="N",
                        help=f"epochs of lenet5 (default: {VARIANTS['lenet5']['epochs']}, the lab's)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="every run uses a seeded random subset of N images of each split")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of every run (default: 0)")
    parser.add_argument("--batch-size", type=int, metavar="N", help="batch size of every run (default: 128, the lab's)")
    parser.add_argument("--init", choices=INITS,
                        help=f"initial weights of every run (default: {TrainConfig.init}, the lab's)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="every run in mixed precision (bfloat16 on CPU: faster where the CPU has bfloat16 "
                        "instructions)")
    parser.add_argument("--variants", metavar="A,B",
                        help=f"train only these ({','.join(VARIANTS)}), in lab order; the report covers every lab run "
                        "in --out")
    parser.add_argument("--out", default="runs/lab", metavar="DIR",
                        help="folder of the run folders and the report (default: runs/lab)")
    add_verbose_flag(parser, progress=True)
    parser.add_argument("--inspect", action="store_true",
                        help="run `inspect` on every finished run in --out before the report, which links its pictures")
    add_tensorboard_flags(parser)
    add_platform_flags(parser.add_argument_group(PLATFORM))
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Train the lab's runs that are not finished, then write the report."""
    apply_platform_flags(args)
    from keras_cnn.lab import train_lab

    train_lab(
        args.out,
        [name.strip() for name in args.variants.split(",") if name.strip()] if args.variants else None,
        data_dir=args.data_dir,
        mnist_dir=args.mnist_dir,
        epochs=args.epochs,
        lenet5_epochs=args.lenet5_epochs,
        limit=args.limit,
        seed=args.seed,
        batch_size=args.batch_size,
        init=args.init,
        mixed_precision=args.mixed_precision,
        inspect=args.inspect,
        verbose=progress(args),
        **tensorboard_options(args),
    )
    return 0
