"""The generated parts of docs/lab.md (publish.py writes them, tests/test_docs.py checks them): every number
is read from the committed run records (every seed of each lab variant) or from the code."""

import os

from keras_cnn.answers_records import DIFFERENCE_RULE, LAST_EPOCHS, Variant, compare, read_lab
from keras_cnn.answers_text import VARIANT_QUESTIONS
from keras_cnn.config import LAB_MEAN, LAB_STD
from keras_cnn.formatting import decimal, percent, points

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CIFAR_STEPS = ("baseline", "norm", "augment", "momentum", "dropout", "bn")
EARLY_EPOCH = 10  # how fast a step learns: its test accuracy after this epoch


def progression_table(runs: str) -> str:
    """Each CIFAR-10 step over all its seeds: final test accuracy, gap, losses, speed, stability, against the steps
    before it (by the difference rule)."""
    variants = read_lab(os.path.join(REPO, runs))
    lines = [
        f"| step | seeds | test accuracy, final epoch, per seed | mean | range | train − test gap (mean) | lowest test "
        f"loss (epoch) → final, per seed | test accuracy after epoch {EARLY_EPOCH} (mean) | range of the last "
        f"{LAST_EPOCHS} epochs (mean) | against the step before |",
        "|---|---:|---|---:|---|---:|---|---:|---:|---|",
    ]
    for name in CIFAR_STEPS:
        variant = variants.get(name)
        if variant is None:
            lines.append(f"| {name} | 0 | not recorded yet | | | | | | | |")
            continue
        lines.append("| " + " | ".join(_cells(variant, variants)) + " |")
    diverged = [f"{name}: {variants[name].divergence_text()}." for name in CIFAR_STEPS
                if name in variants and variants[name].diverged]
    return "\n\n".join(["\n".join(lines), *diverged, DIFFERENCE_RULE])


def _cells(variant: Variant, variants: dict[str, Variant]) -> list[str]:
    """The row of one step: every seed's values (a diverged one as such), then the finished seeds' means."""
    finished = variant.finished
    seeds = len(finished)
    losses = " / ".join(f"{decimal(run.metrics['min_test_loss'], 3)} ({run.metrics['min_test_loss_epoch']}) → "
                        f"{decimal(run.metrics['final_test_loss'], 3)}" for run in variant.runs)
    early = [run.accuracy_at(EARLY_EPOCH) for run in finished]
    spread = [run.last_epochs_range() for run in finished]
    number = next(q for q, (name, _) in VARIANT_QUESTIONS.items() if name == variant.name)
    against = "; ".join(f"vs {other}: {compare(variant, variants[other])}"
                        for other in VARIANT_QUESTIONS[number][1] if other in variants)
    return [
        variant.name, variant.seeds_count(), " / ".join(run.final_result() for run in variant.runs),
        percent(variant.mean(), 2),
        f"{percent(variant.low, 2)} – {percent(variant.high, 2)}" if seeds > 1 else "–",
        points(variant.mean("train_test_gap")), losses,
        percent(sum(early) / seeds, 2) if seeds and None not in early else "–",
        f"{decimal(100 * sum(spread) / seeds, 1)} pp" if seeds else "–", against or "–",
    ]


def normalization_table(runs: str) -> str:
    """The training split's channel statistics (the norm record's config.json) beside the lab's constants."""
    norm = read_lab(os.path.join(REPO, runs)).get("norm")
    if norm is None:
        return "The statistics appear here once the record lab-norm is committed."
    stats = norm.runs[0].record["data"]["normalization_stats"]
    mean, std = stats["mean"], stats["std"]
    shift = max(abs(a - b) for a, b in zip(mean, LAB_MEAN))
    smaller = [1 - lab / real for lab, real in zip(LAB_STD, std)]
    wider = [real / lab for lab, real in zip(LAB_STD, std)]
    rows = [("mean, computed", mean, 4), ("std, computed (over all pixels)", std, 4), ("lab's mean", LAB_MEAN, 3),
            ("lab's std", LAB_STD, 3)]
    return "\n".join([
        "| | R | G | B |", "|---|---|---|---|",
        *(f"| {label} | " + " | ".join(decimal(x, digits) for x in values) + " |" for label, values, digits in rows),
        "",
        f"The means agree: the computed ones differ from the lab's by at most {decimal(shift, 4)}. The lab's standard "
        f"deviations are {percent(min(smaller), 0)} to {percent(max(smaller), 0)} smaller than the pixels' own, so "
        f"standardizing with them gives inputs with a standard deviation of {decimal(min(wider), 2)} to "
        f"{decimal(max(wider), 2)} instead of 1.",
    ])


def describe_table() -> str:
    """`python train_keras.py describe --variant baseline --markdown`: the lab's network on 32x32 images."""
    from keras_cnn.analysis import describe, format_markdown

    return format_markdown(describe("baseline")).rstrip("\n")
