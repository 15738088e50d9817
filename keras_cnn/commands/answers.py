"""`answers`: the lab's answer sheet, answers.md and answers.pdf, from your lab runs, your studies and the code."""

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Declare `answers`."""
    parser = commands.add_parser(
        "answers",
        help="the lab's answer sheet (answers.md and answers.pdf) from your runs and studies",
        description="Write --out/answers.md and --out/answers.pdf: the lab's 34 questions, each answered in words, "
        "with the numbers measured by your lab runs (every seed of each variant: mean, range, each seed), the findings "
        "and charts of your studies, the network's shapes and weights (describe) and each variant's Keras code. "
        "Nothing is typed by hand: a missing run or study is named with the command that makes it.",
    )
    parser.add_argument("--lab", default="runs/lab", metavar="DIR",
                        help="folder of the lab's runs, one per variant and seed: bn, bn-seed1, ... as `lab` writes "
                        "them, or lab-bn, lab-bn-seed1 (default: runs/lab)")
    parser.add_argument("--studies", default="studies", metavar="DIR",
                        help="folder of the studies, as `study --out` writes it (default: studies)")
    parser.add_argument("--out", default="answers", metavar="DIR", help="folder of the sheet and its charts "
                        "(default: answers)")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    """Write the sheet; print what was written."""
    from keras_cnn import console

    console.import_tensorflow_quietly()
    from keras_cnn.answers import write_answers

    print("Wrote " + ", ".join(write_answers(args.lab, args.studies, args.out)))
    return 0
