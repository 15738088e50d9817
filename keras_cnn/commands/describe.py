"""`describe`: a variant's network layer by layer, or a picture of what its augmentation does to training images."""

import argparse

from keras_cnn import console
from keras_cnn.commands.flags import add_verbose_flag
from keras_cnn.config import VARIANTS, resolve_config


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `describe`."""
    parser = commands.add_parser(
        "describe",
        help="the network layer by layer: shapes, weights, receptive fields, multiply-accumulates",
        description="Print, for every layer of a variant's network, its output shape, its weights and their formula, "
        "the receptive field of one unit on the input image (size and jump), and its multiply-accumulates per image; "
        "then the totals and, for each convolution, the weights a fully-connected layer with the same input and output "
        "would need. With an --input-size other than the data set's, the dense layers do not fit, so the "
        "fully-convolutional equivalent (the one `heatmap` uses) is described.",
    )
    parser.add_argument("--variant", choices=list(VARIANTS), default="bn", help="lab variant (default: bn)")
    parser.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"),
                        help="input image size (default: the data set's)")
    parser.add_argument("--fully-conv", action="store_true",
                        help="describe the fully-convolutional equivalent even on the data set's size")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables")
    parser.add_argument("--show-augmentation", nargs="?", const="", metavar="VARIANT",
                        help="instead of the tables, write a PNG of a few training images as the training step of "
                        "VARIANT (default: --variant) sees them, after normalization, crop, flip and any other "
                        "augmentation, beside the test step's view; needs data: --data-dir, or tensorflow-datasets")
    parser.add_argument("--data-dir", metavar="DIR", help="--show-augmentation: image folder to take the images from")
    parser.add_argument("--test-fraction", type=float, default=0.0, metavar="X",
                        help="--show-augmentation: for a folder of class folders without train/ and test/ (e.g. MNIST)")
    parser.add_argument("--out", metavar="PNG",
                        help="--show-augmentation: output file (default: runs/augmentation-VARIANT.png)")
    add_verbose_flag(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Print the tables, or write the augmentation picture with --show-augmentation."""
    console.import_tensorflow_quietly()
    if args.show_augmentation is not None:
        from keras_cnn.inspection import show_augmentation

        variant = args.show_augmentation or args.variant
        config = resolve_config(variant, data_dir=args.data_dir, test_fraction=args.test_fraction)
        print(f"Wrote {show_augmentation(config, args.out)}: training images as the {variant} training step sees them")
        return 0
    from keras_cnn.analysis import describe, format_markdown, format_text

    analysis = describe(args.variant, args.input_size, fully_conv=args.fully_conv)
    print((format_markdown if args.markdown else format_text)(analysis), end="")
    return 0
