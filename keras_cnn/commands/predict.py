"""`predict`: the top classes of image files, from an exported model."""

import argparse

from keras_cnn import console
from keras_cnn.commands.flags import add_model_flag, add_verbose_flag


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `predict`."""
    parser = commands.add_parser(
        "predict",
        help="classify PNG/JPEG files with an exported model",
        description="Print the top classes of each image file (folders are searched for .png/.jpg/.jpeg). Images of "
        "another size are resized to the model's native size. Exit code 1 if any file could not be predicted.",
    )
    parser.add_argument("paths", nargs="+", metavar="IMAGE", help="image files or folders of them")
    add_model_flag(parser)
    parser.add_argument("--top-k", type=int, default=3, metavar="K", help="classes to print per image (default: 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    add_verbose_flag(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Print the predictions; 1 if any file could not be predicted."""
    console.import_tensorflow_quietly()
    from keras_cnn.predict import predict, print_results

    results = predict(args.model, args.paths, top_k=args.top_k)
    print_results(results, as_json=args.json)
    return 1 if any("error" in result for result in results) else 0
