#!/usr/bin/env python3
"""Command line of keras-cnn, a thin layer over the `keras_cnn` package.

    python train_keras.py train --variant bn --data-dir ../shared/data/cifar10-jpeg --epochs 30
    python train_keras.py train --help

Installed (`pip install .`), the same command line is the `keras-cnn` command: `keras-cnn train --help`.
"""

import argparse
import dataclasses
import json
import os
import sys
import textwrap
import typing

from keras_cnn import __version__, console, search_space
from keras_cnn.config import INITS, VARIANTS, TrainConfig, recorded_settings, resolve_config, variant_changes
from keras_cnn.errors import ConfigError, KerasCnnError
from keras_cnn.files import WRITE_FAILURES, WriteError, write_failure
from keras_cnn.rundir import retrain_run_dir

SHOW_TF_LOGS = "tf-logs"  # the value of a bare --verbose


def main(argv: list[str] | None = None, prog: str = "train_keras.py") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    # TensorFlow's own logs stay off the console (keras_cnn/console.py) unless the user sets
    # TF_CPP_MIN_LOG_LEVEL or passes --verbose; TensorFlow reads the level once, at its import.
    if "tensorflow" not in sys.modules and "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if getattr(args, "verbose", None) == SHOW_TF_LOGS else console.QUIET
    try:
        return args.command(args)
    except KerasCnnError as error:
        print(f"error: {error}", file=sys.stderr)
        if isinstance(error, WriteError):
            # h5py's files left open by the refused write crash the interpreter's teardown (seen: a
            # segmentation fault, exit 139, after tracebacks from h5py): end the process here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        return 1
    except OSError as error:  # a write refused outside the project's writers: a folder, TensorBoard's logs
        if (code := write_failure(error)) is None:
            raise
        print(f"error: cannot write {error.filename or 'the output'}: {WRITE_FAILURES[code]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume from the last finished epoch", file=sys.stderr)
        return 130


def console_main() -> int:
    """The `keras-cnn` command of the installed package (pyproject.toml's [project.scripts])."""
    return main(prog="keras-cnn")


def build_parser(prog: str = "train_keras.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="The lab's CNNs in Keras 3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a variant of the lab's networks",
        usage="%(prog)s [--variant NAME] [--data-dir DIR] [--epochs N] [--run-dir DIR] [setting flags...]",
        description="Train a variant. Each setting below overrides the variant's value (the table at the end).",
        epilog=variants_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--variant", choices=list(VARIANTS), help="lab variant (default: bn, or the --config file's)")
    groups = add_setting_flags(train)
    train.add_argument("--config", metavar="FILE", help="JSON settings to start from: a run's config.json or tune's best.json")
    train.add_argument("--run-dir", metavar="DIR",
                       help="output folder (default: runs/<variant>; with a tune's best.json, runs/<its search folder>)")
    train.add_argument("--overwrite", action="store_true", help="replace a finished run, or one with other settings, in the run folder")
    train.add_argument("--export", action="store_true", help="when training ends, export last.keras to saved_models/<run folder name> (as `export`; --overwrite also replaces that export)")
    add_verbose_flag(train, progress=True)
    add_tensorboard_flags(train)
    add_platform_flags(groups[PLATFORM])
    train.set_defaults(command=run_train)

    export = commands.add_parser(
        "export",
        help="export a run's model as a SavedModel (uint8 images in, probabilities out)",
        description="Export a run's model as a TensorFlow SavedModel whose serving_default signature takes raw uint8 "
        "images of the data set's native size and returns class probabilities, preprocessing included.",
    )
    add_run_flags(export)
    export.add_argument("--to", metavar="DIR", help="export folder (default: saved_models/<run folder name>)")
    export.add_argument("--tflite", action="store_true", help="also write model.tflite, converted from the SavedModel")
    export.add_argument("--overwrite", action="store_true", help="replace an existing export in the folder")
    add_verbose_flag(export)
    export.set_defaults(command=run_export)

    evaluate = commands.add_parser(
        "evaluate",
        help="test accuracy of a trained run's checkpoint, optionally with another test-time augmentation",
        description="Score a run's last.keras (or best.keras) on the run's test split. Test-time augmentation does not "
        "change training, so --tta scores the same weights with other views (e.g. flip-translate) without retraining.",
    )
    add_run_flags(evaluate)
    evaluate.add_argument("--tta", metavar="NAME", help="none, flip or flip-translate (default: the run's own)")
    evaluate.add_argument("--data-dir", metavar="DIR", help="read the test split from DIR instead of the run's data source")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")
    add_verbose_flag(evaluate)
    evaluate.set_defaults(command=run_evaluate)

    predict = commands.add_parser(
        "predict",
        help="classify PNG/JPEG files with an exported model",
        description="Print the top classes of each image file (folders are searched for .png/.jpg/.jpeg). Images of "
        "another size are resized to the model's native size. Exit code 1 if any file could not be predicted.",
    )
    predict.add_argument("paths", nargs="+", metavar="IMAGE", help="image files or folders of them")
    predict.add_argument("--model", required=True, metavar="DIR", help="exported model folder, e.g. saved_models/bn")
    predict.add_argument("--top-k", type=int, default=3, metavar="K", help="classes to print per image (default: 3)")
    predict.add_argument("--json", action="store_true", help="print one JSON document instead of lines")
    add_verbose_flag(predict)
    predict.set_defaults(command=run_predict)

    lab = commands.add_parser(
        "lab",
        help="train the lab's progression, one run folder per variant, then write the report",
        description="Train LeNet5 on MNIST, then the CIFAR-10 variants baseline -> norm -> augment -> momentum -> "
        "dropout -> bn with shared settings, into --out/<variant>, then compare them (report.md and charts in --out). "
        "After an interruption, rerun the same command: finished runs are skipped, the unfinished one resumes.",
    )
    lab.add_argument("--data-dir", metavar="DIR", help="CIFAR-10 image folder DIR/train/<class>/*, DIR/test/<class>/* (default: tensorflow-datasets)")
    lab.add_argument("--mnist-dir", metavar="DIR", help="MNIST image folder for lenet5: train/ and test/, or only class folders "
                     "(then 20%% of each class is the test split). Default: tensorflow-datasets; with --data-dir but no "
                     "--mnist-dir, lenet5 is skipped")
    lab.add_argument("--epochs", type=int, metavar="N", help=f"epochs of each CIFAR-10 variant (default: {VARIANTS['baseline']['epochs']}, the lab's)")
    lab.add_argument("--lenet5-epochs", type=int, metavar="N", help=f"epochs of lenet5 (default: {VARIANTS['lenet5']['epochs']}, the lab's)")
    lab.add_argument("--limit", type=int, metavar="N", help="every run uses a seeded random subset of N images of each split")
    lab.add_argument("--seed", type=int, default=0, metavar="N", help="seed of every run (default: 0)")
    lab.add_argument("--batch-size", type=int, metavar="N", help="batch size of every run (default: 128, the lab's)")
    lab.add_argument("--init", choices=INITS, help=f"initial weights of every run (default: {TrainConfig.init}, the lab's)")
    lab.add_argument("--mixed-precision", action="store_true", help="every run in mixed precision (bfloat16 on CPU: faster where the CPU has bfloat16 instructions)")
    lab.add_argument("--variants", metavar="A,B", help=f"train only these ({','.join(VARIANTS)}), in lab order; the report covers every lab run in --out")
    lab.add_argument("--out", default="runs/lab", metavar="DIR", help="folder of the run folders and the report (default: runs/lab)")
    add_verbose_flag(lab, progress=True)
    lab.add_argument("--inspect", action="store_true", help="run `inspect` on every finished run in --out before the report, which links its pictures")
    add_tensorboard_flags(lab)
    add_platform_flags(lab.add_argument_group(PLATFORM))
    lab.set_defaults(command=run_lab)

    study = commands.add_parser(
        "study",
        help="answer one of the lab's questions by experiment: a grid of runs, then a report with its finding",
        description="Run a study: a small grid of ordinary runs into --out/<study>/<run>/ (every run logs epoch 0, the "
        "untrained network), then --out/<study>/report.md with its table, charts and a finding stated with the numbers "
        "the runs measured. `study --list` says which question each answers and how long it takes; `study all` runs "
        "every study and writes --out/index.md. After an interruption, rerun the same command: finished runs are "
        "skipped, the unfinished one resumes.",
    )
    study.add_argument("names", nargs="*", metavar="NAME", help="studies to run, or all (see --list)")
    study.add_argument("--list", action="store_true", help="list the studies, the questions they answer and their time")
    study.add_argument("--data-dir", metavar="DIR", help="CIFAR-10 image folder (default: tensorflow-datasets)")
    study.add_argument("--mnist-dir", metavar="DIR", help="MNIST image folder, for the studies that train lenet5 (flip)")
    study.add_argument("--epochs", type=int, metavar="N", help="epochs of every run (default: the study's, see --list)")
    study.add_argument("--limit", type=_limit, metavar="N|all", help="images of each split per run (default: the study's "
                       "10000; all: every image)")
    study.add_argument("--seed", type=int, metavar="N", help="seed of every run (default: 0; initial-error varies it)")
    study.add_argument("--grid", action="append", default=[], metavar="AXIS=V1,V2",
                       help="replace the values of one of the study's axes, e.g. --grid lr=0.01,0.1 or "
                       "--grid augment=none,crop28+flip (repeatable)")
    study.add_argument("--out", default="studies", metavar="DIR", help="folder of the studies (default: studies)")
    add_verbose_flag(study, progress=True)
    add_tensorboard_flags(study)
    add_platform_flags(study.add_argument_group(PLATFORM))
    study.set_defaults(command=run_study)

    compare = commands.add_parser(
        "compare",
        help="compare finished runs: report.md and charts",
        description="Write report.md (one row per run), test_accuracy.png, train_vs_test.png and, when a learning rate "
        "changes, learning_rate.png, all from the runs' own history.csv, metrics.json and config.json. A folder of runs "
        "(like lab's --out) stands for the runs in it; a folder that is not a finished run is named and skipped.",
    )
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders, or folders of them")
    compare.add_argument("--out", metavar="DIR", help="folder for the report and charts (default: the folder that holds the runs)")
    compare.set_defaults(command=run_compare)

    describe = commands.add_parser(
        "describe",
        help="the network layer by layer: shapes, weights, receptive fields, multiply-accumulates",
        description="Print, for every layer of a variant's network, its output shape, its weights and their formula, "
        "the receptive field of one unit on the input image (size and jump), and its multiply-accumulates per image; "
        "then the totals and, for each convolution, the weights a fully-connected layer with the same input and output "
        "would need. With an --input-size other than the data set's, the dense layers do not fit, so the "
        "fully-convolutional equivalent (the one `heatmap` uses) is described.",
    )
    describe.add_argument("--variant", choices=list(VARIANTS), default="bn", help="lab variant (default: bn)")
    describe.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="input image size (default: the data set's)")
    describe.add_argument("--fully-conv", action="store_true", help="describe the fully-convolutional equivalent even on the data set's size")
    describe.add_argument("--markdown", action="store_true", help="print Markdown tables")
    describe.add_argument("--show-augmentation", nargs="?", const="", metavar="VARIANT",
                          help="instead of the tables, write a PNG of a few training images as the training step of "
                          "VARIANT (default: --variant) sees them, after normalization, crop, flip and any other "
                          "augmentation, beside the test step's view; needs data: --data-dir, or tensorflow-datasets")
    describe.add_argument("--data-dir", metavar="DIR", help="--show-augmentation: image folder to take the images from")
    describe.add_argument("--test-fraction", type=float, default=0.0, metavar="X",
                          help="--show-augmentation: for a folder of class folders without train/ and test/ (e.g. MNIST)")
    describe.add_argument("--out", metavar="PNG", help="--show-augmentation: output file (default: runs/augmentation-VARIANT.png)")
    add_verbose_flag(describe)
    describe.set_defaults(command=run_describe)

    heatmap = commands.add_parser(
        "heatmap",
        help="map of class scores over an image of any size, from a trained run",
        description="Make the run's model fully convolutional (fc4 a 4x4 convolution, fc5 a 1x1 one, same weights), "
        "apply it to IMAGE (PNG/JPEG of any size from 28x28 for the crop variants, 32x32 for the others) and write a "
        "PNG with the image beside the class-probability maps of the top classes.",
    )
    heatmap.add_argument("image", metavar="IMAGE", help="PNG or JPEG file")
    add_run_flags(heatmap)
    heatmap.add_argument("--top", type=int, default=4, metavar="K", help="classes to show, highest probability anywhere first (default: 4)")
    heatmap.add_argument("--out", metavar="PNG", help="output file (default: RUN_DIR/heatmap-<image name>.png)")
    heatmap.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_verbose_flag(heatmap)
    heatmap.set_defaults(command=run_heatmap)

    inspect = commands.add_parser(
        "inspect",
        help="see inside a trained run: confusion matrix, mistakes, filters, feature maps, what augmentation does",
        description="Predict the run's test split with its last.keras (or best.keras) and write, into RUN_DIR/inspect "
        "(or --out): the confusion matrix (counts and row shares), report.md with per-class accuracy, precision and "
        "the most confused pairs, galleries of the highest-loss test images and of the most confident correct ones, "
        "conv1's filters, the feature maps of each convolution for one test image, and training images as the "
        "training step sees them beside the test step's view.",
    )
    add_run_flags(inspect)
    inspect.add_argument("--out", metavar="DIR", help="output folder (default: RUN_DIR/inspect)")
    inspect.add_argument("--class", dest="class_name", metavar="NAME", help="galleries of this class's test images only")
    inspect.add_argument("--image", metavar="INDEX|FILE", help="feature maps of this test image (index) or image file (default: test image 0)")
    inspect.add_argument("--count", type=int, default=16, metavar="N", help="images per gallery (default: 16)")
    inspect.add_argument("--data-dir", metavar="DIR", help="read the data from DIR instead of the run's data source")
    add_verbose_flag(inspect)
    inspect.set_defaults(command=run_inspect)

    lr_find = commands.add_parser(
        "lr-find",
        help="learning-rate range test: loss against an exponentially growing learning rate, and a suggested rate",
        description="Train a throwaway model of the variant (its optimizer, momentum, batch size and data) for --steps "
        "steps while the learning rate grows exponentially from --start-lr to --end-lr (Smith 2017); stop when the "
        "smoothed loss exceeds 4x its minimum or is NaN. Writes lr_find.png, lr_find.csv and lr_find.json into --out "
        "and suggests two rates: where the smoothed loss falls fastest, and the rate of its minimum / 10. No run "
        "folder is read or written.",
    )
    lr_find.add_argument("--variant", choices=list(VARIANTS), help="lab variant (default: bn, or the --config file's)")
    lr_find.add_argument("--config", metavar="FILE", help="JSON settings to start from: a run's config.json or tune's best.json (only read)")
    lr_find.add_argument("--start-lr", type=float, default=1e-5, metavar="X", help="learning rate of the first step (default: 1e-5)")
    lr_find.add_argument("--end-lr", type=float, default=10.0, metavar="X", help="learning rate of the last step (default: 10)")
    lr_find.add_argument("--steps", type=int, default=300, metavar="N", help="steps from --start-lr to --end-lr (default: 300)")
    lr_find.add_argument("--out", metavar="DIR", help="output folder (default: runs/lr-find/<variant>)")
    add_verbose_flag(lr_find, progress=True)
    groups = add_setting_flags(lr_find, skip=LR_FIND_UNUSED)
    add_platform_flags(groups[PLATFORM])
    lr_find.set_defaults(command=run_lr_find)

    tune = commands.add_parser(
        "tune",
        help="search learning rate, momentum, decay, dropout and batch size with keras-tuner",
        usage="%(prog)s [--variant NAME] [--tuner NAME] [--max-trials N] [--epochs N] [--out DIR] [flags...]",
        description=textwrap.fill("Search hyperparameters of a variant with keras-tuner. Each trial trains the variant (settings "
        "below, as for train) with the trial's values for --epochs epochs (hyperband: at most) and scores its best "
        "accuracy on the --val-split validation images or, without them, on the test split. A searchable setting "
        "given as a flag (e.g. --lr 0.01), or a range with equal ends, is fixed. --out receives trials.csv, "
        "summary.md, best.json (for train --config), objective.png and keras-tuner's state: rerun the same command "
        "to resume an interrupted search, with a larger --max-trials to extend a finished one.", 100),
        epilog="distributed search (keras-tuner's chief/worker mode; all share --out and the command):\n"
        "  KERASTUNER_TUNER_ID=chief KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 python train_keras.py tune ...\n"
        "  KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 python train_keras.py tune ...\n"
        "  (one more worker per KERASTUNER_TUNER_ID tuner1, tuner2, ...). The chief hands out trials and writes the\n"
        "  reports; the workers train.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tune.add_argument("--variant", choices=list(VARIANTS), default="bn", help="lab variant to start from (default: bn)")
    tune.add_argument("--tuner", default="random", metavar="{" + ",".join(search_space.TUNERS) + "}", help="search algorithm (default: random)")
    tune.add_argument("--max-trials", type=int, default=20, metavar="N", help="trials to run (default: 20)")
    tune.add_argument("--out", metavar="DIR", help="output folder (default: tuning/<variant>-<tuner>)")
    tune.add_argument("--overwrite", action="store_true", help="start the search in --out over instead of resuming it")
    add_verbose_flag(tune, progress=True)
    add_tensorboard_flags(tune)
    groups = add_setting_flags(tune)
    ranges = tune.add_argument_group("search ranges (a setting given as a flag above is fixed instead)")
    for name, (flag, _, _) in search_space.RANGES.items():
        ranges.add_argument(flag, nargs=2, type=float, metavar=("LOW", "HIGH"), help=f"range of {name} (default: {search_space.default_text(name)})")
    ranges.add_argument(search_space.BATCH_SIZES_FLAG, metavar="A,B", help=f"batch sizes to choose from (default: {search_space.default_text('batch_size')})")
    add_platform_flags(groups[PLATFORM])
    tune.set_defaults(command=run_tune)
    return parser


def add_verbose_flag(parser: argparse.ArgumentParser, progress: bool = False) -> None:
    """--verbose: TensorFlow's own logs too; with `progress`, --verbose 0|1|2 sets Keras' progress output instead."""
    if not progress:
        parser.add_argument("--verbose", action="store_const", const=SHOW_TF_LOGS, help="also show TensorFlow's own logs")
        return
    parser.add_argument(
        "--verbose", nargs="?", const=SHOW_TF_LOGS, choices=["0", "1", "2", "auto", SHOW_TF_LOGS], default="auto",
        metavar="0|1|2", help="progress: 0 silent, 1 progress bar, 2 one line per epoch (default: a bar on a terminal, "
        "else lines); --verbose alone: the default progress and TensorFlow's own logs",
    )


def add_tensorboard_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                        help="write no TensorBoard logs (default: into <run>/tensorboard/; view with tensorboard --logdir runs)")
    parser.add_argument("--tensorboard-histograms", action="store_true", help="also log the weights' histograms every epoch")


def tensorboard_options(args: argparse.Namespace) -> dict:
    return {"tensorboard": args.tensorboard, "tensorboard_histograms": args.tensorboard_histograms}


def progress(args: argparse.Namespace):
    """Keras' verbose value for --verbose: 0, 1, 2 or "auto"."""
    return int(args.verbose) if args.verbose in ("0", "1", "2") else "auto"


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """--run and --checkpoint: the trained model a command reads."""
    parser.add_argument("--run", required=True, metavar="DIR", help="run folder, e.g. runs/bn")
    parser.add_argument("--checkpoint", choices=["last", "best"], default="last",
                        help="last.keras, the final epoch (default), or best.keras: the epoch a validation split chose "
                        "(runs trained with --val-split)")


# The settings a newcomer reaches for, listed first in --help; the others under headings.
MOST_USED = ("data_dir", "epochs", "batch_size", "lr", "limit", "seed")
PLATFORM = "platform (speed only)"
SETTING_GROUPS = {
    "data": ("dataset", "test_fraction", "val_split", "strict_images"),
    "preprocessing and augmentation": ("normalization", "whitening", "zca_epsilon", "augment", "crop_padding",
                                       "crop_padding_mode", "cutout_size", "mixup_alpha", "cutmix_alpha", "color_jitter",
                                       "tta"),
    "network": ("arch", "init", "dropout", "batch_norm"),
    "optimization": ("optimizer", "momentum", "nesterov", "weight_decay", "label_smoothing", "sam_rho", "schedule",
                     "lr_decay", "lr_step_epochs", "warmup_epochs", "eval_train", "eval_at_start"),
    PLATFORM: ("mixed_precision", "jit_compile", "strategy"),
}
# Settings that lr-find replaces (its rate grows step by step) or that a short run on one device does not use.
LR_FIND_UNUSED = ("lr", "epochs", "schedule", "lr_decay", "lr_step_epochs", "warmup_epochs", "tta", "eval_train",
                  "eval_at_start", "val_split", "strategy")


def add_setting_flags(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> dict[str, argparse._ArgumentGroup]:
    """One flag per TrainConfig field (--batch-size for batch_size) but those in `skip`, absent from the result unless given.

    MOST_USED go with the parser's own options; the others into the SETTING_GROUPS headings (returned).
    """
    hints = typing.get_type_hints(TrainConfig)
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    groups = {title: parser.add_argument_group(title) for title in SETTING_GROUPS}
    placed = [(parser, name) for name in MOST_USED]
    placed += [(groups[title], name) for title, names in SETTING_GROUPS.items() for name in names]
    for where, name in placed:
        if name in skip:
            continue
        flag, kind, help_text = "--" + name.replace("_", "-"), hints[name], fields[name].metadata["help"]
        if kind is bool:
            where.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help_text)
        else:
            where.add_argument(flag, type=_flag_type(kind), default=argparse.SUPPRESS, metavar=_metavar(kind), help=help_text)
    return groups


def run_train(args: argparse.Namespace) -> int:
    apply_platform_flags(args)
    from keras_cnn.training import train_config

    config = config_from_args(args)
    run_dir = args.run_dir
    if run_dir is None and args.config and "search" in read_config_file(args.config):  # a tune's best.json
        run_dir = retrain_run_dir(os.path.dirname(args.config))
    result = train_config(config, run_dir=run_dir, overwrite=args.overwrite, verbose=progress(args),
                          **tensorboard_options(args))
    if args.export:
        from keras_cnn.export import export_run

        export_run(result.run_dir, overwrite=args.overwrite, verbose=args.verbose != "0")
    return 0


def run_tune(args: argparse.Namespace) -> int:
    apply_platform_flags(args)
    from keras_cnn.tuning import tune

    names = {field.name for field in dataclasses.fields(TrainConfig)} - {"variant"}
    settings = {name: value for name, value in vars(args).items() if name in names}
    ranges = {name: getattr(args, flag[2:].replace("-", "_")) for name, flag in search_space.FLAGS.items()}
    try:
        tune(args.variant, tuner=args.tuner, max_trials=args.max_trials, out=args.out, overwrite=args.overwrite,
             verbose=progress(args), **tensorboard_options(args),
             space={name: value for name, value in ranges.items() if value is not None}, **settings)
    except KeyboardInterrupt:
        print("\ninterrupted: rerun the same command to resume the search (finished trials are kept)", file=sys.stderr)
        return 130
    return 0


def run_export(args: argparse.Namespace) -> int:
    console.import_tensorflow_quietly()
    from keras_cnn.export import export_run

    export_run(args.run, to=args.to, checkpoint=args.checkpoint, tflite=args.tflite, overwrite=args.overwrite)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
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


def run_predict(args: argparse.Namespace) -> int:
    console.import_tensorflow_quietly()
    from keras_cnn.predict import predict, print_results

    results = predict(args.model, args.paths, top_k=args.top_k)
    print_results(results, as_json=args.json)
    return 1 if any("error" in result for result in results) else 0


def run_lab(args: argparse.Namespace) -> int:
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


def run_study(args: argparse.Namespace) -> int:
    if args.list or not args.names:
        from keras_cnn.study import describe_studies

        print("studies (name, the lab's questions, what it asks, its default scale and time on 2 CPU cores):")
        print("\n".join(f"  {line}" for line in describe_studies()))
        return 0 if args.list else 2
    apply_platform_flags(args)
    from keras_cnn.study import parse_grid, run_studies

    run_studies(args.names, args.out, data_dir=args.data_dir, mnist_dir=args.mnist_dir, epochs=args.epochs,
                limit=args.limit, seed=args.seed, grid=parse_grid(args.grid), verbose=progress(args),
                **tensorboard_options(args))
    return 0


def _limit(text: str) -> int:
    """--limit N, or all (0: every image)."""
    return 0 if text == "all" else int(text)


def run_compare(args: argparse.Namespace) -> int:
    from keras_cnn.report import compare

    written = compare(args.run_dirs, args.out)
    print("Wrote " + ", ".join(written))
    return 0


def run_describe(args: argparse.Namespace) -> int:
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


def run_heatmap(args: argparse.Namespace) -> int:
    console.import_tensorflow_quietly()
    from keras_cnn.heatmap import heatmap

    path, scores = heatmap(args.run, args.image, out=args.out, checkpoint=args.checkpoint, top=args.top, overwrite=args.overwrite)
    print(f"Wrote {path} ({scores.shape[0]}x{scores.shape[1]} map of {scores.shape[2]} class scores)")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    console.import_tensorflow_quietly()
    from keras_cnn.inspection import inspect_run

    summary = inspect_run(args.run, checkpoint=args.checkpoint, out=args.out, class_name=args.class_name,
                          image=args.image, count=args.count, data_dir=args.data_dir)
    print(
        f"Wrote {', '.join(summary['files'])} to {summary['out']}: test accuracy {summary['test_accuracy']:.2%} on "
        f"{summary['test_images']:,} test images, {summary['seconds']} s"
    )
    return 0


def run_lr_find(args: argparse.Namespace) -> int:
    apply_platform_flags(args)
    from keras_cnn.lr_finder import lr_find

    config = config_from_args(args)
    result = lr_find(config, args.start_lr, args.end_lr, args.steps, out=args.out, verbose=progress(args))
    suggested = ", ".join(f"{rate:.2g} ({name})" for name, rate in result.suggestions.items() if rate is not None)
    print(
        f"Wrote lr_find.png, lr_find.csv, lr_find.json to {result.out}: {len(result.rates)} steps from {result.rates[0]:.2g} to "
        f"{result.rates[-1]:.2g} (stopped: {result.stopped}) in {result.seconds} s; suggested lr {suggested or 'none'}; "
        f"the variant's lr {config.lr:g}"
    )
    return 0


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The variant's settings, then the --config file's, then the flags given."""
    settings = load_settings_file(args.config) if args.config else {}
    variant = args.variant or settings.pop("variant", "bn")
    settings.pop("variant", None)
    names = {field.name for field in dataclasses.fields(TrainConfig)}
    flags = {name: value for name, value in vars(args).items() if name in names - {"variant"}}
    return resolve_config(variant, **(settings | flags))


def read_config_file(path: str):
    """The JSON value of a --config file, or a one-line ConfigError."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as error:
        raise ConfigError(f"cannot read --config {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"--config {path} is not valid JSON (line {error.lineno}): fix or regenerate it") from None


def load_settings_file(path: str) -> dict:
    """Settings from a JSON file: a flat {setting: value}, a run's config.json or a tune's best.json ({"config": {...}})."""
    data = read_config_file(path)
    settings = data.get("config", data) if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        raise ConfigError(f"--config {path} must hold a JSON object of settings")
    # A run's config.json reproduces that run, also one recorded before a setting existed.
    return recorded_settings(settings) if "config" in data else dict(settings)


def add_platform_flags(group: argparse._ArgumentGroup) -> None:
    """Speed-only options of the process; the defaults are what measured fastest here (BENCHMARKS.md)."""
    group.add_argument("--onednn", choices=["on", "off"], help="TensorFlow's oneDNN CPU kernels (default: on)")
    group.add_argument("--intra-op-threads", type=_count, default=0, metavar="N",
                       help="threads of one op (default 0: TensorFlow's choice, one per core)")
    group.add_argument("--inter-op-threads", type=_count, default=0, metavar="N",
                       help="ops run at once (default 0: TensorFlow's choice)")


def apply_platform_flags(args: argparse.Namespace) -> None:
    """Apply --onednn (before TensorFlow is imported) and the thread pools (before its first op)."""
    if args.onednn:
        wanted = "1" if args.onednn == "on" else "0"
        # TensorFlow reads the variable once, at import: changing it later would only change the record.
        if "tensorflow" in sys.modules and os.environ.get("TF_ENABLE_ONEDNN_OPTS") != wanted:
            raise ConfigError("--onednn must be chosen before TensorFlow is imported: start a new Python process")
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = wanted
    console.import_tensorflow_quietly()
    import tensorflow as tf

    # 0 means "leave TensorFlow's choice": setting it anyway fails once TensorFlow has run an op
    # (e.g. when main() is called twice in one Python process, as in notebooks and tests).
    try:
        if args.intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
        if args.inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    except RuntimeError:
        raise ConfigError(
            "--intra-op-threads/--inter-op-threads must be set before TensorFlow runs its first op: "
            "start a new Python process (or call tf.config.threading first)"
        ) from None


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (automatic) or more, got {value}")
    return value


def variants_table() -> str:
    lines = ["variants (each CIFAR-10 variant adds to the one before):"]
    for name, changes in variant_changes().items():
        lines.append(f"  {name:<9} " + ", ".join(f"{key}={_show(value)}" for key, value in changes.items()))
    return "\n".join(lines)


def _show(value) -> str:
    return (",".join(value) or "none") if isinstance(value, list) else str(value)


def _flag_type(kind):
    optional = type(None) in typing.get_args(kind)
    base = next((arg for arg in typing.get_args(kind) if arg is not type(None)), kind) if optional else kind
    convert = str if base == tuple[str, ...] else base

    def parse(text: str):
        return None if optional and text.lower() == "none" else convert(text)

    parse.__name__ = base.__name__ if hasattr(base, "__name__") else "value"
    return parse


def _metavar(kind) -> str:
    if kind == tuple[str, ...]:
        return "A,B"
    if type(None) in typing.get_args(kind):
        return "N|none" if int in typing.get_args(kind) else "PATH"
    return {int: "N", float: "X", str: "NAME"}[kind]


if __name__ == "__main__":
    sys.exit(main())
