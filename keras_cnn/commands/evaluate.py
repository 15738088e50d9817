"""`evaluate`: the test accuracy of a trained run's checkpoint, with its own or another test-time augmentation."""

import argparse
import json

from keras_cnn import console
from keras_cnn.commands.flags import add_run_flags, add_verbose_flag


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `evaluate`."""
    parser = commands.add_parser(
        "evaluate",
        help="test accuracy of a trained run's checkpoint, optionally with another test-time augmentation",
        description="Score a run's last.keras (or best.keras) on the run's test split. Test-time augmentation does not "
        "change training, so --tta scores the same weights with other views (e.g. flip-translate) without retraining.",
    )
    add_run_flags(parser)
    parser.add_argument("--tta", metavar="NAME", help="none, flip or flip-translate (default: the run's own)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="read the test split from DIR instead of the run's data source")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_verbose_flag(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Score the checkpoint and print the result, as a sentence or as JSON."""
    console.import_tensorflow_quietly()
    from keras_cnn.evaluation import evaluate_run

    result = evaluate_run(args.run, checkpoint=args.checkpoint, tta=args.tta, data_dir=args.data_dir)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for note in result["notes"]:
            print(note)
        print(
            f"Test accuracy {result['test_accuracy']:.2%} (cross-entropy {result['test_cross_entropy']:.4f}) of "
            f"{result['run_dir']} {result['checkpoint']}.keras on {result['test_images']:,} test images, "
            f"test-time augmentation {result['tta']}"
        )
    return 0
