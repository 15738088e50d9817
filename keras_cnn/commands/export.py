"""`export`: a run's model as a SavedModel that takes uint8 images and returns probabilities."""

import argparse

from keras_cnn import console
from keras_cnn.commands.flags import add_run_flags, add_verbose_flag


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `export`."""
    parser = commands.add_parser(
        "export",
        help="export a run's model as a SavedModel (uint8 images in, probabilities out)",
        description="Export a run's model as a TensorFlow SavedModel whose serving_default signature takes raw uint8 "
        "images of the data set's native size and returns class probabilities, preprocessing included.",
    )
    add_run_flags(parser)
    parser.add_argument("--to", metavar="DIR", help="export folder (default: saved_models/<run folder name>)")
    parser.add_argument("--tflite", action="store_true", help="also write model.tflite, converted from the SavedModel")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export in the folder")
    add_verbose_flag(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Export the run's checkpoint."""
    console.import_tensorflow_quietly()
    from keras_cnn.export import export_run

    export_run(args.run, to=args.to, checkpoint=args.checkpoint, tflite=args.tflite, overwrite=args.overwrite)
    return 0
