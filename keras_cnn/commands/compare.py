"""`compare`: report.md and charts of finished runs, from their own records."""

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `compare`."""
    parser = commands.add_parser(
        "compare",
        help="compare finished runs: report.md and charts",
        description="Write report.md (one row per run), test_accuracy.png, train_vs_test.png and, when a learning "
        "rate changes, learning_rate.png, all from the runs' own history.csv, metrics.json and config.json. A folder "
        "of runs (like lab's --out) stands for the runs in it; a folder that is not a finished run is named and "
        "skipped.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders, or folders of them")
    parser.add_argument("--out", metavar="DIR",
                        help="folder for the report and charts (default: the folder that holds the runs)")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Write the report and charts; print what was written."""
    from keras_cnn.report import compare

    written = compare(args.run_dirs, args.out)
    print("Wrote " + ", ".join(written))
    return 0
