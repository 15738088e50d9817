"""`serve`: a trained network on a local web page and over HTTP (TF Serving's REST predict API), until Ctrl-C."""

import argparse
import sys

from keras_cnn import console
from keras_cnn.commands.flags import add_model_flag, add_run_flags, add_verbose_flag


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `serve`."""
    parser = commands.add_parser(
        "serve",
        help="try a trained network in the browser; TF Serving's REST API",
        description="Start a web app and print its URL: a page to drop an image on (top 5 classes, the heatmap of "
        "the fully-convolutional network, the run's accuracy and curves), POST /v1/models/NAME:predict in TF "
        "Serving's JSON format, POST /api/classify for an image file, GET /v1/models/NAME/metadata. Ctrl-C stops it.",
    )
    source = parser.add_argument_group("the model (one of)").add_mutually_exclusive_group(required=True)
    add_model_flag(source, required=False)
    add_run_flags(parser, run_group=source)
    parser.add_argument("--data-dir", metavar="DIR",
                        help="image folder whose test images the page's 'random test image' draws from, e.g. "
                        "../shared/data/cifar10-jpeg")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free one)")
    parser.add_argument("--name", help="NAME in /v1/models/NAME (default: the folder's name)")
    add_verbose_flag(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, listen, print the URL, serve until Ctrl-C (exit 0)."""
    console.import_tensorflow_quietly()
    from keras_cnn.serving import serve

    try:
        serve(run_dir=args.run, model_dir=args.model, checkpoint=args.checkpoint, data_dir=args.data_dir,
              name=args.name, host=args.host, port=args.port)
    except KeyboardInterrupt:  # uvicorn stops gracefully, then raises the Ctrl-C it held
        pass
    print("stopped", file=sys.stderr)
    return 0
