"""`heatmap`: class scores over an image of any size, from a trained run made fully convolutional."""

import argparse

from keras_cnn import console
from keras_cnn.commands.flags import add_run_flags, add_verbose_flag


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `heatmap`."""
    parser = commands.add_parser(
        "heatmap",
        help="map of class scores over an image of any size, from a trained run",
        description="Make the run's model fully convolutional (fc4 a 4x4 convolution, fc5 a 1x1 one, same weights), "
        "apply it to IMAGE (PNG/JPEG of any size from 28x28 for the crop variants, 32x32 for the others) and write a "
        "PNG with the image beside the class-probability maps of the top classes.",
    )
    parser.add_argument("image", metavar="IMAGE", help="PNG or JPEG file")
    add_run_flags(parser)
    parser.add_argument("--top", type=int, default=4, metavar="K",
                        help="classes to show, highest probability anywhere first (default: 4)")
    parser.add_argument("--out", metavar="PNG", help="output file (default: RUN_DIR/heatmap-<image name>.png)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_verbose_flag(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Write the heatmap PNG; print its path and the map's size."""
    console.import_tensorflow_quietly()
    from keras_cnn.heatmap import heatmap

    path, scores = heatmap(args.run, args.image, out=args.out, checkpoint=args.checkpoint, top=args.top,
                           overwrite=args.overwrite)
    print(f"Wrote {path} ({scores.shape[0]}x{scores.shape[1]} map of {scores.shape[2]} class scores)")
    return 0
