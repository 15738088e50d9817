"""The findings: each reads the runs' records after they ran and says what they measured, nothing else.

Every comparison goes through the rule of `noise.py`: an effect or an ordering is stated only
where it is measurable, otherwise the sentence says it is not. Values are final-epoch values,
mean over the seeds of a grid point.
"""

import math

from keras_cnn.studies.noise import (
    Summary,
    delta_text,
    difference,
    ordering_text,
    value_text,
    versus_constant,
)
from keras_cnn.studies.results import Results

TEST, TRAIN_RUNNING, TRAIN_INFERENCE = "final_test_accuracy", "final_train_accuracy", "final_train_eval_accuracy"


def grid_value(value) -> str:
    """A grid value as folder names and --grid spell it: 0.1, crop28+flip (augmentations joined by +)."""
    if isinstance(value, tuple | list):
        return "+".join(value) or "none"
    if isinstance(value, str):
        return value.replace(",", "+")
    return f"{value:g}" if isinstance(value, float) else str(value)


def accuracy_text(results: Results, point: str | None) -> str:
    """A point's final test accuracy over its seeds, and how many of them diverged."""
    if point is None:
        return "–"
    diverged = results.diverged(point)
    summary = results.summary(point, TEST)
    if not diverged:
        return value_text(summary)
    seeds = len(results.runs_of(point))
    epochs = ", ".join(str(epoch) for epoch in diverged)
    text = f"diverged in {len(diverged)} of {seeds} seeds (epoch {epochs})"
    return text if not summary.count else f"{text}; the others {value_text(summary)}"


def gap_sentence(results: Results, point: str, label: str) -> str:
    """The train (inference mode) minus test gap of a point, per seed, against zero."""
    gap = versus_constant(results.paired(point, TRAIN_INFERENCE, TEST), 0.0)
    verdict = ("overfits: the gap is measurably above zero" if gap.measurable and gap.delta > 0
               else "does not measurably overfit")
    return (f"{label}: train accuracy in inference mode {value_text(results.summary(point, TRAIN_INFERENCE))}, test "
            f"{value_text(results.summary(point, TEST))}; gap {delta_text(gap)}: the network {verdict}.")


def train_vs_test_finding(results: Results) -> list[str]:
    lines = []
    for point, settings in results.points.items():
        lift = versus_constant(results.paired(point, TRAIN_INFERENCE, TRAIN_RUNNING), 0.0)
        lines.append(
            f"{settings['variant']}, last epoch: the running train accuracy is "
            f"{value_text(results.summary(point, TRAIN_RUNNING))}; the end-of-epoch network on the same training "
            f"images in inference mode {value_text(results.summary(point, TRAIN_INFERENCE))} ({delta_text(lift)} "
            f"against the running figure).")
        lines.append(gap_sentence(results, point, settings["variant"]))
    return lines


def lr_batch_finding(results: Results) -> list[str]:
    labels = {point: f"lr {grid_value(s['lr'])} / batch {s['batch_size']}" for point, s in results.points.items()}
    diverged = [point for point in results.points if results.diverged(point)]
    lines = []
    if diverged:
        lines.append("Diverged (loss not finite): " + "; ".join(
            f"{labels[point]} {accuracy_text(results, point)}" for point in diverged) + ".")
    else:
        lines.append("No run diverged.")
    learners = [point for point in results.points if point not in diverged]
    above = {point: versus_constant(results.summary(point, TEST), results.chance) for point in learners}
    left = [point for point in learners if above[point].measurable and above[point].delta > 0]
    stuck = [point for point in learners if point not in left]
    lines.append(f"Measurably above chance ({100 * results.chance:.0f}%) at the last epoch: "
                 + (", ".join(labels[p] for p in left) or "none")
                 + "; not measurably above it: " + (", ".join(labels[p] for p in stuck) or "none") + ".")
    lines.append(ordering_text({labels[point]: results.summary(point, TEST) for point in learners},
                               "final test accuracy"))
    for point, settings in results.points.items():
        if point.startswith(SCALED):
            base_lr = float(f"{settings['lr'] * 128 / settings['batch_size']:.6g}")
            same = results.named(batch_size=settings["batch_size"], lr=base_lr)
            change = difference(results.summary(point, TEST), results.summary(same, TEST))
            lines.append(
                f"Batch {settings['batch_size']} with lr scaled to {settings['lr']:g} ({base_lr:g} x "
                f"{settings['batch_size']}/128): {accuracy_text(results, point)}, against "
                f"{accuracy_text(results, same)} at lr {base_lr:g} ({delta_text(change)})."
            )
    return lines


SCALED = "scaled-"  # the name of a point whose rate follows its batch size


def initial_error_finding(results: Results) -> list[str]:
    classes = round(1 / results.chance)
    lines = []
    for point, settings in results.points.items():
        def mean(key, scale=1, unit="", digits=3, point=point):
            return value_text(results.summary(point, key), scale, unit, digits)

        lines.append(
            f"init {settings['init']}: before the first step test loss {mean('initial_test_loss')} and train loss "
            f"{mean('initial_train_loss')} (a uniform guess: ln {classes} = {math.log(classes):.3f}), test accuracy "
            f"{mean('initial_test_accuracy', 100, '%', 1)} (chance {100 / classes:.0f}%); after epoch 1, "
            f"{mean(TEST, 100, '%', 1)}.")
    return lines


def normalization_finding(results: Results) -> list[str]:
    labels = {point: " + ".join(filter(None, (s["normalization"], s.get("whitening")))) for point, s in
              results.points.items()}
    lines = [ordering_text({labels[point]: results.summary(point, TEST) for point in results.points},
                           "final test accuracy")]
    if stats := results.analysis.get("split_statistics"):
        lines.append(
            f"Q20: the test split's channel means differ from the training split's by at most "
            f"{stats['max_mean_difference']:.4f} and its standard deviations by at most "
            f"{stats['max_std_difference']:.4f} "
            f"(pixels in [0, 1]): the test split's own means would move its standardized pixels by at most "
            f"{stats['max_shift_in_std']:.3f} standard deviations.")
    return lines


def effect_sentence(results: Results, point: str | None, reference: str | None, label: str) -> str:
    """`label` value, and its difference from the reference point by the rule."""
    change = difference(results.summary(point, TEST), results.summary(reference, TEST))
    return f"{label} {accuracy_text(results, point)} ({delta_text(change)})"


def flip_finding(results: Results) -> list[str]:
    lines = []
    for variant in dict.fromkeys(settings["variant"] for settings in results.points.values()):
        data = "MNIST" if variant == "lenet5" else "CIFAR-10"
        point = {augment: results.named(variant=variant, augment=augment) for augment in ("none", "flip", "vflip")}
        lines.append(f"{data} ({variant}): without flips {accuracy_text(results, point['none'])}; "
                     + effect_sentence(results, point["flip"], point["none"], "horizontal flips") + "; "
                     + effect_sentence(results, point["vflip"], point["none"], "vertical flips") + ".")
    return lines


def augmentations_finding(results: Results) -> list[str]:
    plain = results.named(augment="none")
    others = [point for point in results.points if point != plain]
    changes = {point: difference(results.summary(point, TEST), results.summary(plain, TEST)) for point in others}
    name = {point: grid_value(results.points[point]["augment"]) for point in others}
    groups = {
        "measurably above no augmentation": [p for p in others if changes[p].measurable and changes[p].delta > 0],
        "measurably below it": [p for p in others if changes[p].measurable and changes[p].delta < 0],
        "no measurable difference": [p for p in others if not changes[p].measurable],
    }
    return [
        f"Without augmentation: test {accuracy_text(results, plain)}.",
        "Each alone: " + "; ".join(effect_sentence(results, point, plain, name[point]) for point in others) + ".",
        "; ".join(f"{group.capitalize() if i == 0 else group}: {', '.join(name[p] for p in points) or 'none'}"
                  for i, (group, points) in enumerate(groups.items())) + ".",
    ]


def dropout_rate_finding(results: Results) -> list[str]:
    labels = {point: f"p = {settings['dropout']:g}" for point, settings in results.points.items()}
    lines = [ordering_text({labels[point]: results.summary(point, TEST) for point in results.points},
                           "final test accuracy")]
    lines += [gap_sentence(results, point, labels[point]) for point in results.points]
    return lines


def dropout_modes_finding(results: Results) -> list[str]:
    per_run = results.analysis["modes"]  # run -> {"dropout off": x, "one pass": [..], "mean of N passes": x}

    def value(modes, key):  # "one pass" holds one accuracy per repeat: their mean
        return sum(modes[key]) / len(modes[key]) if isinstance(modes[key], list) else modes[key]

    def over_seeds(key):
        return Summary(tuple(value(modes, key) for modes in per_run.values()))

    def versus_off(key):
        return Summary(tuple(value(modes, key) - modes["dropout off"] for modes in per_run.values()))

    keys = [key for key in next(iter(per_run.values())) if key != "dropout off"]
    off = f"Test accuracy with dropout off (inference mode, Keras' default): {value_text(over_seeds('dropout off'))}."
    return [off] + [f"Dropout left on, {key}: {value_text(over_seeds(key))}; against dropout off "
                    f"{delta_text(versus_constant(versus_off(key), 0.0))}." for key in keys]


def momentum_decay_finding(results: Results) -> list[str]:
    def point(lr, momentum, decay):
        return results.named(lr=lr, momentum=momentum, lr_decay=decay)

    rates = sorted({settings["lr"] for settings in results.points.values()}, reverse=True)
    lines = []
    if len(rates) == 2:
        start, lab = point(rates[0], 0.0, 1.0), point(rates[1], 0.9, 0.95)
        lines.append(f"The lab's step (lr0 {rates[0]:g} with neither, as in augment, to lr0 {rates[1]:g} with momentum "
                     f"0.9 and decay 0.95, as in momentum): "
                     + effect_sentence(results, lab, start, f"{accuracy_text(results, start)} ->") + ".")
    for lr in rates:
        neither = point(lr, 0.0, 1.0)
        lines.append(f"At lr0 {lr:g}: neither {accuracy_text(results, neither)}; "
                     + "; ".join(effect_sentence(results, point(lr, momentum, decay), neither, label) for
                                 label, momentum, decay in (("momentum alone", 0.9, 1.0), ("decay alone", 0.0, 0.95),
                                                            ("both", 0.9, 0.95))) + ".")
    if len(rates) == 2:
        for label, momentum, decay in (("neither", 0.0, 1.0), ("both", 0.9, 0.95)):
            lines.append(f"lr0 alone ({label}): " + effect_sentence(results, point(rates[1], momentum, decay),
                                                                   point(rates[0], momentum, decay),
                                                                   f"lr0 {rates[1]:g}") + f" against lr0 {rates[0]:g}.")
    return lines


def optimizers_finding(results: Results) -> list[str]:
    rates = results.analysis.get("learning_rates", {})
    groups = {"optimizer": [p for p in results.points if results.points[p].get("schedule", "exp") == "exp"
                            and results.points[p].get("lr_decay", 0.95) != 1.0],
              "schedule": [p for p in results.points if results.points[p].get("optimizer") == "sgd"
                           and results.points[p].get("momentum") == 0.9 and not results.points[p].get("nesterov")]}
    lines = ["Learning rates, each chosen before the runs by lr-find on the training split (the minimum of the "
             "smoothed loss / 10): " + ", ".join(f"{point} {rate:.3g}" for point, rate in rates.items()) + "."]
    lines.append("Optimizers (schedule exp, x0.95 per epoch): " + ordering_text(
        {point: results.summary(point, TEST) for point in groups["optimizer"]}, "final test accuracy"))
    lines.append("Schedules (SGD, momentum 0.9): " + ordering_text(
        {point: results.summary(point, TEST) for point in groups["schedule"]}, "final test accuracy"))
    return lines
