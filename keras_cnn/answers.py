"""`answers`: the lab's answer sheet (answers.md and answers.pdf) from a user's own runs and the code.

Every question of the lab is answered in words (keras_cnn/answers_text.py), every number is read from
the records (the lab's runs, every seed of each variant; the studies' results.json) or from the
network the code builds (`describe`), and a missing record is named with the command that makes it.

    from keras_cnn.answers import write_answers
    write_answers("runs/lab", "studies", "answers")   # -> answers/answers.md, answers.pdf, charts
"""

import math
import os
import re

from keras_cnn.answers_output import plot_curves, plot_progression, write_pdf
from keras_cnn.answers_records import (
    DIFFERENCE_RULE,
    LAB_ORDER,
    LAST_EPOCHS,
    StudyResult,
    Variant,
    compare,
    read_lab,
    read_studies,
)
from keras_cnn.answers_text import (
    BOW_DESCRIPTOR,
    BOW_WORDS,
    METHODS,
    PARTS,
    QUESTIONS,
    VARIANT_QUESTIONS,
    Question,
)
from keras_cnn.config import (
    AUGMENTATIONS,
    LAB_MEAN,
    LAB_STD,
    OPTIMIZERS,
    SCHEDULES,
    VARIANTS,
    resolve_config,
    variant_changes,
)
from keras_cnn.files import write_text
from keras_cnn.formatting import decimal, percent, points, setting

PLACEHOLDER = re.compile(r"\{([\w.-]+)\}")
MARKDOWN_FILE, PDF_FILE, PROGRESSION_CHART = "answers.md", "answers.pdf", "progression.png"
LARGER_INPUT = (64, 64)  # the larger image of Q4 and Q6


def _draw(plot, data, path: str) -> str:
    """Draw `data` into `path` with `plot`; return the path."""
    return plot(data, path)


def _skip(plot, data, path: str) -> str:
    """The chart's path, not drawn (sheet(draw=False): the tests compare the text)."""
    return path


def write_answers(lab: str = "runs/lab", studies: str = "studies", out: str = "answers") -> list[str]:
    """Write out/answers.md, out/answers.pdf and their charts from the runs in `lab` and the studies in `studies`."""
    variants, results = read_lab(lab), read_studies(studies)
    os.makedirs(out, exist_ok=True)
    blocks = sheet(variants, results, lab, studies, out)
    markdown = write_text_file(os.path.join(out, MARKDOWN_FILE), to_markdown(blocks, out))
    return [markdown, write_pdf(blocks, os.path.join(out, PDF_FILE))]


def write_text_file(path: str, text: str) -> str:
    """Write `text` to `path` atomically; return the path."""
    write_text(path, text)
    return path


def sheet(variants: dict[str, Variant], studies: dict[str, StudyResult], lab: str, studies_dir: str,
          out: str, draw: bool = True) -> list[tuple]:
    """The blocks of the whole sheet; its charts are drawn into `out` on the way unless `draw` is False."""
    chart = _draw if draw else _skip
    facts = network_facts() | record_facts(variants)
    blocks = _front(variants, lab, studies_dir, out, chart)
    for part, title in PARTS.items():
        blocks.append(("h2", title))
        if part == 3:
            blocks += [("p", "**The methods, one sentence each** (principle, and why it improves learning):"),
                       ("list", [f"**{name}**: {sentence}" for name, sentence in METHODS])]
        for question in (q for q in QUESTIONS if q.part == part):
            blocks += answer(question, facts, variants, studies, (lab, studies_dir, out), chart)
    return blocks


def _front(variants: dict[str, Variant], lab: str, studies_dir: str, out: str, chart=_draw) -> list[tuple]:
    command = f"python train_keras.py answers --lab {lab} --studies {studies_dir} --out {out}"
    blocks = [
        ("title", "The lab's answer sheet: 34 questions"),
        ("p", f"Made by `{command}` from the run records in `{lab}` (every seed of each variant), the studies in "
              f"`{studies_dir}` and the network the code builds (`describe`): no number is typed by hand. A result is "
              "the **final epoch** of a run; nothing is chosen on the test split. Several seeds of a variant give "
              "their mean, their range (min to max) and each seed's value."),
        ("p", DIFFERENCE_RULE),
    ]
    cifar = _cifar(variants)
    rows = [[f"`{v.name}`", v.seeds_count(), " / ".join(run.final_result() for run in v.runs), percent(v.mean(), 2),
             f"{percent(v.low, 2)} to {percent(v.high, 2)}" if len(v.finished) > 1 else "-",
             points(v.mean("train_test_gap"))]
            for v in variants.values()]
    if rows:
        headers = ["variant", "seeds", "test accuracy per seed", "mean", "range", "train - test gap (mean)"]
        blocks.append(("table", headers, rows))
    blocks += [("p", f"`{v.name}`: {v.divergence_text()}.") for v in variants.values() if v.diverged]
    if cifar:
        path = chart(plot_progression, cifar, os.path.join(out, PROGRESSION_CHART))
        blocks.append(("image", path, "Test accuracy per epoch of every CIFAR-10 variant: the mean of its finished "
                                      "seeds (line) and their range (band); right, the second half of training "
                                      "enlarged."))
    missing = [name for name in LAB_ORDER if name not in variants]
    if missing:
        blocks.append(("p", f"Not measured yet: {', '.join(f'`{m}`' for m in missing)}. " + _lab_command(missing, lab)))
    return blocks


def answer(question: Question, facts: dict, variants: dict[str, Variant], studies: dict[str, StudyResult],
           folders: tuple[str, str, str], chart=_draw) -> list[tuple]:
    """The blocks of one question: its answer in words, its table, its measured numbers, figures and code.

    `folders` are the lab's, the studies' and the sheet's; `chart` draws a chart (or only names it)."""
    lab, studies_dir, out = folders
    blocks: list[tuple] = [("h3", f"Q{question.number}. {question.asks}")]
    sentences = [s for s in (fill(sentence, facts) for sentence in question.answer) if s]
    if question.table:  # the first sentence introduces the table, the others comment on it
        table = layer_table() if question.table == "layers" else gap_table(variants)
        blocks += [("p", sentences[0]), table, ("p", " ".join(sentences[1:]))]
    else:
        blocks.append(("p", " ".join(sentences)))
    # A variant with no run; a fact its runs lack (no seed diverged) only leaves its sentence out.
    absent = sorted({name.split(".")[0] for sentence in question.answer for name in PLACEHOLDER.findall(sentence)
                     if name.split(".")[0] in LAB_ORDER and name.split(".")[0] not in variants})
    if absent:
        blocks.append(("p", f"Not measured yet (no run of {', '.join(f'`{a}`' for a in absent)}): "
                            + _lab_command(absent, lab)))
    for name in question.figures:
        blocks += _figure(name, variants, out, chart)
    if question.number in VARIANT_QUESTIONS:
        blocks += variant_results(question.number, variants, lab, out, chart)
    for name in _studies_of(question, studies):
        blocks += study_blocks(name, studies.get(name), studies_dir, out)
    return [block for block in blocks if block != ("p", "")]


def fill(sentence: str, facts: dict) -> str | None:
    """The sentence with its {placeholders} filled, or None when one of them has no value (a missing record)."""
    names = PLACEHOLDER.findall(sentence)
    if any(name not in facts for name in names):
        return None
    return PLACEHOLDER.sub(lambda match: facts[match[1]], sentence)


def variant_results(number: int, variants: dict[str, Variant], lab: str, out: str, chart=_draw) -> list[tuple]:
    """A "describe your results" question: the variant's numbers per seed, against the step before, its code."""
    name, before = VARIANT_QUESTIONS[number]
    blocks: list[tuple] = []
    variant = variants.get(name)
    if variant is None:
        blocks.append(("p", f"Not measured yet: no run of `{name}` in `{lab}`. " + _lab_command([name], lab)))
    else:
        blocks.append(("p", results_sentence(variant, [variants[b] for b in before if b in variants])))
        if len(variant.runs) < 2:
            blocks.append(("p", f"One seed: its spread is not measured. More seeds: `python train_keras.py train "
                                f"--variant {name} --seed 1 --data-dir DIR --run-dir {lab}/{name}-seed1` "
                                "(and --seed 2)."))
        blocks += _figure(f"curves-{name}", variants, out, chart)
    blocks += [("p", f"The code of `{name}`: its settings, and the layers `build_model` makes of them "
                     "(generated from keras_cnn/config.py and keras_cnn/models.py):"), ("code", variant_code(name))]
    return blocks


def results_sentence(variant: Variant, before: list[Variant]) -> str:
    """What a variant measured, final epoch, over its finished seeds (a diverged one named apart); compared with the
    steps before by DIFFERENCE_RULE."""
    finished, diverged = variant.finished, "".join(f"; {run.divergence_text()}" for run in variant.diverged)
    if not finished:
        return f"**Measured**: no seed finished{diverged}."
    seeds = len(finished)
    runs = ", ".join(f"{run.final_result()} (seed {run.seed})" for run in finished)
    text = f"**Measured** ({variant.seeds_phrase()}: {runs}{diverged}): test accuracy **{percent(variant.mean(), 2)}**"
    text += f" (mean), range {percent(variant.low, 2)} to {percent(variant.high, 2)}" if seeds > 1 else ""
    text += (f"; train accuracy {percent(variant.mean('final_train_accuracy'), 2)}, train - test gap "
             f"{points(variant.mean('train_test_gap'))}; lowest test loss {_min_loss(variant)}, final "
             f"{' / '.join(decimal(x, 3) for x in variant.values('final_test_loss'))}")
    at_ten = [run.accuracy_at(10) for run in finished]
    if all(value is not None for value in at_ten) and finished[0].epochs[-1]["epoch"] > 10:
        text += f"; test accuracy after epoch 10 {percent(sum(at_ten) / len(at_ten), 2)}"
    if len(finished[0].epochs) >= 2 * LAST_EPOCHS:
        spread = [run.last_epochs_range() for run in finished]
        text += (f"; the test accuracy of the last {LAST_EPOCHS} epochs spans "
                 f"{decimal(100 * sum(spread) / len(spread), 1)}")
        text += " points (mean over the seeds)" if seeds > 1 else " points"
    text += "."
    for other in before:
        text += (f" Against `{other.name}` ({percent(other.mean(), 2)}, {other.seeds_phrase()}): "
                 f"{compare(variant, other)}.")
    return text


def _min_loss(variant: Variant) -> str:
    losses = " / ".join(decimal(x, 3) for x in variant.values("min_test_loss"))
    epochs = " / ".join(str(int(e)) for e in variant.values("min_test_loss_epoch"))
    return f"{losses} at epoch{'s' if len(variant.finished) > 1 else ''} {epochs}"


def _figure(name: str, variants: dict[str, Variant], out: str, chart=_draw) -> list[tuple]:
    if name == "progression":
        return [("image", os.path.join(out, PROGRESSION_CHART), "The progression (see the top of the sheet).")] \
            if _cifar(variants) else []
    variant = variants.get(name.removeprefix("curves-"))
    if variant is None or not variant.finished:
        return []
    path = chart(plot_curves, variant, os.path.join(out, f"{name}.png"))
    return [("image", path, f"`{variant.name}`: train (dashed) and test (solid) accuracy and loss per epoch.")]


def _cifar(variants: dict[str, Variant]) -> list[Variant]:
    """The CIFAR-10 variants with a finished seed: those the progression chart draws."""
    return [variant for variant in variants.values() if variant.name != "lenet5" and variant.finished]


def _studies_of(question: Question, studies: dict[str, StudyResult]) -> list[str]:
    """The question's own studies, then any other study whose results.json names the question."""
    others = [name for name, study in studies.items() if question.number in study.questions]
    return list(dict.fromkeys([*question.studies, *others]))


def study_blocks(name: str, study: StudyResult | None, studies_dir: str, out: str) -> list[tuple]:
    """A study's finding, quoted from its results.json, and its charts; or the command that runs it."""
    if study is None:
        return [("p", f"Study `{name}`: not run yet (no {studies_dir}/{name}/results.json): `python train_keras.py "
                      f"study {name} --data-dir DIR --out {studies_dir}`.")]
    report = os.path.join(study.folder, "report.md")
    where = f" ([report]({os.path.relpath(report, out)}))" if os.path.exists(report) else ""
    blocks: list[tuple] = [("p", f"**Study `{name}`**{where}, at its own small scale: " + " ".join(study.finding))]
    blocks += [("image", chart, f"Study `{name}`: {os.path.basename(chart)}.") for chart in study.charts
               if os.path.exists(chart)]
    return blocks


def _lab_command(names: list[str], lab: str) -> str:
    mnist = " --mnist-dir DIR" if "lenet5" in names else ""
    return f"`python train_keras.py lab --variants {','.join(names)} --data-dir DIR{mnist} --out {lab}`."


def network_facts() -> dict[str, str]:
    """The numbers of the answers that come from the code: the network's shapes, weights, fields, the settings."""
    from keras_cnn.analysis import describe

    whole, crop, big = describe("baseline"), describe("augment"), describe("baseline", LARGER_INPUT)
    conv1, conv2, fc4 = whole.row("conv1"), whole.row("conv2"), whole.row("fc4")
    convs = [row for row in whole.rows if row.dense_equivalent is not None]
    momentum, baseline, lenet = resolve_config("momentum"), resolve_config("baseline"), resolve_config("lenet5")
    pool = _layer("baseline", "pool1")
    kernel = _layer("baseline", "conv1").kernel_size[0]
    classes = whole.rows[-1].output_shape[-1]
    facts = {
        "conv1_in": _shape(conv1.input_shape), "conv1_out": _shape(conv1.output_shape),
        "conv1_w": _count(conv1.weights),
        "conv1_dense": _count(conv1.dense_equivalent), "conv1_ratio": _count(conv1.dense_equivalent / conv1.weights),
        "conv2_w": _count(conv2.weights), "conv2_macs": _count(conv2.macs), "kernel": str(kernel),
        "pad": str((kernel - 1) // 2), "stride": str(_layer("baseline", "conv1").strides[0]),
        "pool_size": str(pool.pool_size[0]), "pool_stride": str(pool.strides[0]),
        "pool1_out": _shape(whole.row("pool1").output_shape), "flatten": _count(whole.row("flatten").output_shape[0]),
        "pool3_32": _shape(whole.row("pool3").output_shape), "pool3_64": _shape(big.row("pool3").output_shape),
        "conv3_28": _shape(crop.row("conv3").output_shape[:2]), "pool3_28": _shape(crop.row("pool3").output_shape[:2]),
        "maps_28": ", ".join(str(crop.row(f"conv{i}").output_shape[0]) for i in (1, 2, 3)),
        "fc4_kernel": _shape(whole.row("pool3").output_shape[:2]), "fc4_units": _count(fc4.output_shape[0]),
        "fc4_w": _count(fc4.weights), "fc4_share": percent(fc4.weights / whole.total_weights, 2),
        "conv_share": percent(sum(row.weights for row in convs) / whole.total_weights, 2),
        "conv_macs_share": percent(sum(row.macs for row in convs) / whole.total_macs, 1),
        "macs_32": _count(whole.total_macs), "macs_28": _count(crop.total_macs),
        "total_32": _count(whole.total_weights), "total_28": _count(crop.total_weights),
        "bn_extra": _count(describe("bn").total_weights - describe("dropout").total_weights),
        "fc64_out": _shape(big.rows[-1].output_shape[:2]), "fc64_jump": str(big.row("fc4").fields[0].jump),
        "first_whole": next(row.name for row in whole.rows if row.whole_input),
        "lenet5_total": _count(describe("lenet5").total_weights), "classes": str(classes),
        "lenet5_lr": setting(lenet.lr), "lenet5_epochs": str(lenet.epochs), "lenet5_batch": str(lenet.batch_size),
        "ln_classes": f"{math.log(classes):.3f}", "chance": percent(1 / classes, 0),
        "baseline_lr": setting(baseline.lr), "batch_size": str(baseline.batch_size), "epochs": str(baseline.epochs),
        "momentum": setting(momentum.momentum), "lr0": setting(momentum.lr), "lr_decay": setting(momentum.lr_decay),
        "momentum_factor": setting(1 / (1 - momentum.momentum), digits=3),
        "lr_last": setting(momentum.lr * momentum.lr_decay ** (momentum.epochs - 1), digits=2),
        "dropout_rate": setting(resolve_config("dropout").dropout), "lab_mean": " / ".join(map(str, LAB_MEAN)),
        "lab_std": " / ".join(map(str, LAB_STD)), "augmentations": ", ".join(AUGMENTATIONS),
        "optimizers": ", ".join(OPTIMIZERS), "schedules": ", ".join(SCHEDULES),
    }
    for name in ("conv1", "conv2", "conv3", "pool3", "fc4"):
        facts[f"rf_{name}"] = str(whole.row(name).fields[0].size)
    return facts | bag_of_words(classes, whole.total_weights)


def bag_of_words(classes: int, cnn_weights: int) -> dict[str, str]:
    """Q12: the parameters of a bag-of-words + linear SVM pipeline under the assumptions of answers_text."""
    codebook, svm = BOW_WORDS * BOW_DESCRIPTOR, classes * (BOW_WORDS + 1)
    return {"bow_descriptor": str(BOW_DESCRIPTOR), "bow_words": _count(BOW_WORDS), "bow_codebook": _count(codebook),
            "bow_svm": _count(svm), "bow_total": _count(codebook + svm),
            "bow_ratio": f"{cnn_weights / (codebook + svm):.1f}"}


def record_facts(variants: dict[str, Variant]) -> dict[str, str]:
    """The numbers the answers' sentences quote from the records: `{bn.mean}`, `{norm.stats_mean}`, ..."""
    facts = {}
    for name, variant in variants.items():
        first = variant.runs[0]
        facts |= {
            f"{name}.mean": percent(variant.mean(), 2),
            f"{name}.train": percent(variant.mean("final_train_accuracy"), 2),
            f"{name}.gap": points(variant.mean("train_test_gap")), f"{name}.min_loss": _min_loss(variant),
            f"{name}.final_loss": " / ".join(decimal(x, 3) for x in variant.values("final_test_loss")),
            f"{name}.images": _count(first.record["data"]["train_images"]),
        }
        if variant.diverged:
            facts[f"{name}.diverged_share"] = f"{len(variant.diverged)} of {len(variant.runs)} seeds"
            facts[f"{name}.diverged_train"] = " / ".join(percent((run.before_divergence() or {}).get("accuracy"))
                                                         for run in variant.diverged)
        stats = first.record["data"].get("normalization_stats") or {}
        for key in ("mean", "std"):
            if isinstance(stats.get(key), list) and len(stats[key]) == 3:
                facts[f"{name}.stats_{key}"] = " / ".join(f"{x:.4f}" for x in stats[key])
    if "baseline" in variants:
        weights = network_facts_total()
        images = variants["baseline"].runs[0].record["data"]["train_images"]
        facts["weights_per_image"] = f"{weights / images:.1f}"
    return facts


def network_facts_total() -> int:
    """The trainable weights of the lab's CIFAR-10 network (Q11's numerator)."""
    from keras_cnn.analysis import describe

    return describe("baseline").total_weights


def layer_table() -> tuple:
    """Q10: every layer's output and weights on 32x32 images (norm) and on 28x28 crops (augment on)."""
    from keras_cnn.analysis import describe

    whole, crop = describe("norm"), describe("augment")
    by_name = {row.name: row for row in whole.rows}
    rows = []
    for row in crop.rows:
        same = by_name.get(row.name)
        rows.append([row.name, row.kind, _shape(same.output_shape) if same else "-",
                     _count(same.weights) if same and same.weights else "-", _shape(row.output_shape),
                     _count(row.weights) if row.weights else "-",
                     percent(row.weights / crop.total_weights, 2) if row.weights else "-"])
    rows.append(["total", "", "", _count(whole.total_weights), "", _count(crop.total_weights), ""])
    headers = ["layer", "does", "output, 32x32 input", "weights", "output, 28x28 crop", "weights", "share"]
    return ("table", headers, rows)


def gap_table(variants: dict[str, Variant]) -> tuple:
    """Q30: train accuracy, test accuracy and their gap per variant (means over the seeds)."""
    rows = [[f"`{v.name}`", v.seeds_count(), percent(v.mean("final_train_accuracy"), 2), percent(v.mean(), 2),
             points(v.mean("train_test_gap"))] for v in variants.values() if v.name != "lenet5"]
    return ("table", ["variant", "seeds", "train accuracy", "test accuracy", "train - test gap"], rows)


def variant_code(name: str) -> str:
    """A variant's settings (its overrides of the variant before it) and the Keras layers the code builds of them."""
    from keras_cnn.models import build_model

    order = list(VARIANTS)
    changes = ", ".join(f"{key}={_python(value)}" for key, value in variant_changes()[name].items())
    base = "" if name in ("lenet5", "baseline") else f'VARIANTS["{order[order.index(name) - 1]}"] | '
    model = build_model(resolve_config(name))
    inputs = model.inputs[0]
    lines = [f'VARIANTS["{name}"] = {base}dict({changes})', f'model = build_model("{name}")  # that is:',
             "keras.Sequential([", f"    keras.Input({tuple(inputs.shape[1:])}, dtype=\"{inputs.dtype}\"),"]
    lines += [f"    {code},{comment}" for code, comment in map(layer_code, model.layers)]
    return "\n".join([*lines, "])"])


def _python(value) -> str:
    """A setting as Python source, strings in double quotes."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return f"({', '.join(map(_python, value))}{',' if len(value) == 1 else ''})"
    return repr(value)


def layer_code(layer) -> tuple[str, str]:
    """One layer as the Keras call that makes it (the arguments that matter; the initializers left out), and a
    comment."""
    config, kind = layer.get_config(), type(layer).__name__
    activation = config.get("activation")
    extra = [f'activation="{activation}"'] if activation not in (None, "linear") else []
    arguments = {
        "Conv2D": lambda: [str(config["filters"]), str(config["kernel_size"][0]), f'padding="{config["padding"]}"'],
        "Dense": lambda: [str(config["units"])],
        "MaxPooling2D": lambda: [str(config["pool_size"][0])]
        + ([f'padding="{config["padding"]}"'] if config["padding"] != "valid" else []),
        "Dropout": lambda: [setting(config["rate"])],
        "Rescaling": lambda: [f"1 / {1 / config['scale']:.6g}"],
        "Normalization": lambda: [f"axis={_python(_single(config['axis']))}"],
        "RandomCrop": lambda: [str(config["height"]), str(config["width"])],
        "RandomFlip": lambda: [f'"{config["mode"]}"'],
        "FusedBatchNormalization": lambda: [f"momentum={config['momentum']}", f"epsilon={config['epsilon']}"],
        "Activation": lambda: [f'"{activation}"'],
    }.get(kind, list)()
    if kind == "Activation":
        extra = []
    comment = "  # mean and variance: the training split's" if kind == "Normalization" else ""
    return f"{kind}({', '.join([*arguments, *extra, f'name={_python(layer.name)}'])})", comment


def to_markdown(blocks: list[tuple], out: str) -> str:
    """The blocks as Markdown; pictures linked relative to `out`, where answers.md is written."""
    lines = []
    for block in blocks:
        kind = block[0]
        if kind == "title":
            lines += [f"# {block[1]}", ""]
        elif kind in ("h2", "h3"):
            lines += [f"{'#' * int(kind[1])} {block[1]}", ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "list":
            lines += [*(f"- {item}" for item in block[1]), ""]
        elif kind == "code":
            lines += ["```python", block[1], "```", ""]
        elif kind == "table":
            headers, rows = block[1], block[2]
            lines += [f"| {' | '.join(headers)} |", f"|{'---|' * len(headers)}",
                      *(f"| {' | '.join(cells)} |" for cells in rows), ""]
        elif kind == "image":
            lines += [f"![{block[2]}]({os.path.relpath(block[1], out)})", "", f"*{block[2]}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def _single(value):
    """(-1,) as -1: an axis given as a one-item list."""
    return value[0] if isinstance(value, list | tuple) and len(value) == 1 else value


def _layer(variant: str, name: str):
    from keras_cnn.models import build_model

    return build_model(variant).get_layer(name)


def _shape(shape) -> str:
    return "x".join(str(n) for n in shape)


def _count(value: float) -> str:
    return decimal(value, 0)
