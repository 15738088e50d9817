"""`lr-find`: the learning-rate range test (Smith 2017), loss against a growing rate, and the rates it suggests."""

import argparse

from keras_cnn.commands.flags import (
    ONE_DEVICE_BATCH,
    PLATFORM,
    add_platform_flags,
    add_setting_flags,
    add_variant_flag,
    add_verbose_flag,
    apply_platform_flags,
    config_from_args,
    progress,
)

# Settings that lr-find replaces (its rate grows step by step) or that a short run on one device does not use.
LR_FIND_UNUSED = ("lr", "epochs", "schedule", "lr_decay", "lr_step_epochs", "warmup_epochs", "tta", "eval_train",
                  "eval_at_start", "val_split", "strategy")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `lr-find`: the range test's flags, then the setting flags it uses."""
    parser = commands.add_parser(
        "lr-find",
        help="learning-rate range test: loss against an exponentially growing learning rate, and a suggested rate",
        description="Train a throwaway model of the variant (its optimizer, momentum, batch size and data) for --steps "
        "steps while the learning rate grows exponentially from --start-lr to --end-lr (Smith 2017); stop when the "
        "smoothed loss exceeds 4x its minimum or is NaN. Writes lr_find.png, lr_find.csv and lr_find.json into --out "
        "and suggests two rates: where the smoothed loss falls fastest, and the rate of its minimum / 10. No run "
        "folder is read or written.",
    )
    add_variant_flag(parser)
    parser.add_argument("--config", metavar="FILE",
                        help="JSON settings to start from: a run's config.json or tune's best.json (only read)")
    parser.add_argument("--start-lr", type=float, default=1e-5, metavar="X",
                        help="learning rate of the first step (default: 1e-5)")
    parser.add_argument("--end-lr", type=float, default=10.0, metavar="X",
                        help="learning rate of the last step (default: 10)")
    parser.add_argument("--steps", type=int, default=300, metavar="N",
                        help="steps from --start-lr to --end-lr (default: 300)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: runs/lr-find/<variant>)")
    add_verbose_flag(parser, progress=True, off_terminal="nothing")
    groups = add_setting_flags(parser, skip=LR_FIND_UNUSED, helps={"batch_size": ONE_DEVICE_BATCH})
    add_platform_flags(groups[PLATFORM])
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Run the range test; print what was written and the suggested rates beside the variant's own."""
    apply_platform_flags(args)
    from keras_cnn.lr_finder import lr_find

    config = config_from_args(args)
    result = lr_find(config, args.start_lr, args.end_lr, args.steps, out=args.out, verbose=progress(args))
    suggested = ", ".join(f"{rate:.2g} ({name})" for name, rate in result.suggestions.items() if rate is not None)
    print(
        f"Wrote lr_find.png, lr_find.csv, lr_find.json to {result.out}: {len(result.rates)} steps from "
        f"{result.rates[0]:.2g} to {result.rates[-1]:.2g} (stopped: {result.stopped}) in {result.seconds} s; "
        f"suggested lr {suggested or 'none'}; "
        f"the variant's lr {config.lr:g}"
    )
    return 0
