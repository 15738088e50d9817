"""`inspect`: inside a trained run: confusion matrix, mistakes, filters, feature maps, what augmentation does."""

import argparse

from keras_cnn import console
from keras_cnn.commands.flags import add_run_flags, add_verbose_flag


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `inspect`."""
    parser = commands.add_parser(
        "inspect",
        help="see inside a trained run: confusion matrix, mistakes, filters, feature maps, what augmentation does",
        description="Predict the run's test split with its last.keras (or best.keras) and write, into RUN_DIR/inspect "
        "(or --out): the confusion matrix (counts and row shares), report.md with per-class accuracy, precision and "
        "the most confused pairs, galleries of the highest-loss test images and of the most confident correct ones, "
        "conv1's filters, the feature maps of each convolution for one test image, and training images as the "
        "training step sees them beside the test step's view.",
    )
    add_run_flags(parser)
    parser.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/inspect)")
    parser.add_argument("--class", dest="class_name", metavar="NAME", help="galleries of this class's test images only")
    parser.add_argument("--image", metavar="INDEX|FILE",
                        help="feature maps of this test image (index) or image file (default: test image 0)")
    parser.add_argument("--count", type=int, default=16, metavar="N", help="images per gallery (default: 16)")
    parser.add_argument("--data-dir", metavar="DIR", help="read the data from DIR instead of the run's data source")
    add_verbose_flag(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Write the run's inspection files; print what was written and the test accuracy."""
    console.import_tensorflow_quietly()
    from keras_cnn.inspection import inspect_run

    summary = inspect_run(args.run, checkpoint=args.checkpoint, out=args.out, class_name=args.class_name,
                          image=args.image, count=args.count, data_dir=args.data_dir)
    print(
        f"Wrote {', '.join(summary['files'])} to {summary['out']}: test accuracy {summary['test_accuracy']:.2%} on "
        f"{summary['test_images']:,} test images, {summary['seconds']} s"
    )
    return 0
