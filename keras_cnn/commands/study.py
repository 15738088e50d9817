"""`study`: answer one of the lab's questions with a small grid of runs and a report stating the finding."""

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


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `study`."""
    parser = commands.add_parser(
        "study",
        help="answer one of the lab's questions by experiment: a grid of runs, then a report with its finding",
        description="Run a study: a small grid of points, each trained with several seeds as ordinary runs in "
        "--out/<study>/<point>_seed-<n>/ (every run logs epoch 0, the untrained network), then --out/<study>/report.md "
        "with its tables (mean and spread over the seeds), charts and a finding that states a difference only where it "
        "exceeds twice its standard error. `study --list` says which question each answers and how long it takes; "
        "`study all` runs every study and writes --out/index.md. After an interruption, rerun the same command: "
        "finished runs are skipped, the unfinished one resumes.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="studies to run, or all (see --list)")
    parser.add_argument("--list", action="store_true",
                        help="list the studies, the questions they answer and their time")
    parser.add_argument("--data-dir", metavar="DIR", help="CIFAR-10 image folder (default: tensorflow-datasets)")
    parser.add_argument("--mnist-dir", metavar="DIR",
                        help="MNIST image folder, for the studies that train lenet5 (flip)")
    parser.add_argument("--epochs", type=int, metavar="N",
                        help="epochs of every run (default: the study's, see --list)")
    parser.add_argument("--limit", type=_limit, metavar="N|all",
                        help="images of each split per run (default: the study's 10000; all: every image)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds per grid point (default: 3)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="the first seed (default: 0): the runs use "
                        "seeds N to N + --seeds - 1")
    parser.add_argument("--mixed-precision", action="store_true", help="train in bfloat16 mixed precision (faster on "
                        "CPUs with native bfloat16, e.g. AMX or avx512_bf16; the report says so)")
    parser.add_argument("--grid", action="append", default=[], metavar="AXIS=V1,V2",
                        help="replace the values of one of the study's axes, e.g. --grid lr=0.01,0.1 or "
                        "--grid augment=none,crop28+flip (repeatable)")
    parser.add_argument("--out", default="studies", metavar="DIR", help="folder of the studies (default: studies)")
    add_verbose_flag(parser, progress=True)
    add_tensorboard_flags(parser)
    add_platform_flags(parser.add_argument_group(PLATFORM))
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Run the named studies; with --list (0) or no name (2), list the studies instead."""
    if args.list or not args.names:
        from keras_cnn.studies import describe_studies

        print("studies (name, the lab's questions, what it asks, its default scale and time):")
        print("\n".join(f"  {line}" for line in describe_studies()))
        return 0 if args.list else 2
    apply_platform_flags(args)
    from keras_cnn.studies import parse_grid, run_studies

    run_studies(args.names, args.out, data_dir=args.data_dir, mnist_dir=args.mnist_dir, epochs=args.epochs,
                limit=args.limit, seeds=args.seeds, first_seed=args.seed, grid=parse_grid(args.grid),
                mixed_precision=args.mixed_precision, verbose=progress(args),
                **tensorboard_options(args))
    return 0


def _limit(text: str) -> int:
    """--limit N, or all (0: every image)."""
    return 0 if text == "all" else int(text)
