"""Compare finished runs: report.md (one row per run) and charts, all read from the runs' own files.

Every number comes from a run directory's history.csv, metrics.json and config.json; nothing is
typed in by hand. A folder that is not a finished run of the current format is reported in one
line and left out. Charts are matplotlib PNGs (Agg backend: no display needed), and a variant
keeps its colour in every chart.
"""

import math
import os
from collections import Counter

from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from keras_cnn.config import VARIANTS
from keras_cnn.files import TMP_PREFIX, write_text
from keras_cnn.formatting import decimal, markdown_table, percent, points, setting, split_name
from keras_cnn.locks import folder_lock
from keras_cnn.plots import plt, save_figure
from keras_cnn.rundir import CONFIG_FILE, HISTORY_FILE, INSPECT_FOLDER
from keras_cnn.runfolder import NotARun, Run, read_run

REPORT_FILE = "report.md"
TEST_ACCURACY_CHART = "test_accuracy.png"
TRAIN_VS_TEST_CHART = "train_vs_test.png"
LEARNING_RATE_CHART = "learning_rate.png"

# One colour per lab variant, in lab order, so a variant looks the same in every chart and every
# report; runs of other names (or a second run of a variant) take the colours after these.
LAB_COLORS = dict(zip(VARIANTS, plt.get_cmap("tab10").colors))
EXTRA_COLORS = plt.get_cmap("tab10").colors[len(VARIANTS) :] + plt.get_cmap("Dark2").colors


def load_run(path: str) -> Run:
    """A finished run of the current format; NotARun says in one line why `path` cannot be compared."""
    run = read_run(path, finished=True)
    if not run.rows:
        raise NotARun(f"{HISTORY_FILE} is missing or empty")
    required = ("epoch", "loss", "accuracy", f"{run.split}_loss", f"{run.split}_accuracy")
    missing = [name for name in required if name not in run.rows[0]]
    if missing:
        columns = f"column{'s' if len(missing) > 1 else ''}"
        raise NotARun(f"older format ({HISTORY_FILE} has no {', '.join(missing)} {columns}): retrain it to compare it")
    return run


def find_run_dirs(paths: list[str]) -> list[str]:
    """`paths` with each folder of runs (like the lab's --out) replaced by its run directories, lab variants first."""
    lab_order = {name: index for index, name in enumerate(VARIANTS)}
    found = []
    for path in paths:
        children = sorted(os.listdir(path)) if os.path.isdir(path) and not _holds_run(path) else []
        runs = [os.path.join(path, name) for name in children if _holds_run(os.path.join(path, name))]
        found += sorted(runs, key=lambda run: lab_order.get(os.path.basename(run), len(lab_order))) or [path]
    return found


def compare(run_dirs: list[str], out: str | None = None, say=print) -> list[str]:
    """Write report.md and the charts for the finished runs among `run_dirs` into `out`; return the files written.

    `out` defaults to the folder that holds the run directories. A folder of runs stands for
    the runs in it. Folders that are not finished runs are reported with `say` and left out.
    """
    runs = []
    skipped = []
    for path in find_run_dirs(run_dirs):
        try:
            runs.append(load_run(path))
        except NotARun as error:
            say(f"skipped {path}: {error}")
            skipped.append((path, str(error)))
    if not runs:
        raise NotARun(f"nothing to compare: no finished run among {' '.join(run_dirs)}")
    out = out or os.path.commonpath([os.path.dirname(os.path.abspath(run.path)) for run in runs])
    with folder_lock(out, "--out"):
        os.makedirs(out, exist_ok=True)

        labels = run_labels(runs)
        colors = run_colors([run.variant for run in runs])
        written = [
            plot_test_accuracy(runs, labels, colors, os.path.join(out, TEST_ACCURACY_CHART)),
            plot_train_vs_test(runs, labels, colors, os.path.join(out, TRAIN_VS_TEST_CHART)),
        ]
        learning_rate_path = os.path.join(out, LEARNING_RATE_CHART)
        if any(len({lr for lr in run.column("learning_rate") if math.isfinite(lr)}) > 1 for run in runs):
            written.append(plot_learning_rate(runs, labels, colors, learning_rate_path))
        elif os.path.exists(learning_rate_path):
            os.remove(learning_rate_path)  # from an earlier comparison; the report no longer refers to it
        charts = [os.path.basename(path) for path in written]
        report_path = os.path.join(out, REPORT_FILE)
        write_text(report_path, report_markdown(runs, labels, charts, skipped, run_dirs, out))
        return [report_path, *written]


def run_labels(runs: list[Run]) -> list[str]:
    """The variant name of each run; where runs share a variant, their folder name (or path) and the variant."""
    counts = Counter(run.variant for run in runs)
    folders = [os.path.basename(os.path.normpath(run.path)) for run in runs]
    if len(set(folders)) < len(folders):
        folders = [run.path for run in runs]
    return [
        run.variant if counts[run.variant] == 1 or folder == run.variant else f"{folder} ({run.variant})"
        for run, folder in zip(runs, folders)
    ]


def run_colors(names: list[str]) -> list[tuple]:
    """A colour per run: a lab variant's own colour for its first run, then unused colours in turn."""
    extra = iter(EXTRA_COLORS * (1 + len(names) // len(EXTRA_COLORS)))
    seen = set()
    colors = []
    for name in names:
        colors.append(LAB_COLORS[name] if name in LAB_COLORS and name not in seen else next(extra))
        seen.add(name)
    return colors


# --- report.md ---


def report_markdown(
    runs: list[Run], labels: list[str], charts: list[str], skipped: list, run_dirs: list[str], out: str
) -> str:
    """The comparison as Markdown: settings shared by all runs, one table row per run, charts, notes."""
    word = _split_word(runs)
    chosen = _any_validation(runs)
    headers = [
        "run",
        "settings (changes from the row above)",
        "epochs",
        f"final {word} acc",
        *(["best validation acc (epoch)"] if chosen else []),
        "final train acc",
        f"train − {word} gap",
        f"min {word} loss (epoch)",
        f"final {word} loss",
        "s/epoch",
        "train images/s",
    ]
    rows = [[label, settings, *_result_cells(run, chosen)]
            for label, run, settings in zip(labels, runs, _settings_cells(runs))]
    notes = [(label, note) for label, run in zip(labels, runs) if (note := _note(run))]

    # A column with one value for every run is stated once, above the table (settings: in the shared list).
    same = [index for index in range(2, len(headers)) if len(runs) > 1 and len({row[index] for row in rows}) == 1]
    same += [] if _differing_settings(runs) else [1]
    shared_settings = _shared_settings(runs)
    lines = [f"# Comparison of {len(runs)} run{'s' if len(runs) != 1 else ''}", ""]
    lines.append(
        "Generated from each run's `history.csv`, `metrics.json` and `config.json` by "
        f"`python train_keras.py compare {' '.join(run_dirs)} --out {out}`."
    )
    lines.append("")
    if shared_settings:
        lines.append("**Settings of every run:** " + ", ".join(f"`{item}`" for item in shared_settings) + ".")
        lines.append("")
    for index in same:
        if index != 1:
            lines.append(f"**{headers[index]}, every run:** {rows[0][index]}")
            lines.append("")
    keep = [index for index in range(len(headers)) if index not in same]
    figures = [column for column, index in enumerate(keep) if index >= 2]  # label and settings are text
    lines.append(markdown_table([headers[index] for index in keep], [[row[index] for index in keep] for row in rows],
                                right=figures))
    lines.append("")
    lines.append(_column_notes(word))
    if notes:
        lines += ["", "**Notes:**", *[f"- {label}: {note}" for label, note in notes]]
    titles = {
        TEST_ACCURACY_CHART: f"{word.capitalize()} accuracy per epoch",
        TRAIN_VS_TEST_CHART: f"Train vs {word} per run",
        LEARNING_RATE_CHART: "Learning rate per epoch",
    }
    for chart in charts:
        lines += ["", f"![{titles[chart]}]({chart})"]
    inside = [(label, links) for label, run in zip(labels, runs) if (links := _inspect_links(run, out))]
    if inside:
        lines += ["", "**Inside the runs** (`train_keras.py inspect`):",
                  *[f"- {label}: {links}" for label, links in inside]]
    lines += ["", "**Run directories:**", *[f"- {label}: `{run.path}`" for label, run in zip(labels, runs)]]
    if skipped:
        lines += ["", "**Not compared:**", *[f"- `{path}`: {reason}" for path, reason in skipped]]
    return "\n".join(lines) + "\n"


def _inspect_links(run: Run, out: str) -> str:
    """Links, relative to `out`, to the run's inspect/report.md and pictures; "" if `inspect` has not run."""
    folder = os.path.join(run.path, INSPECT_FOLDER)
    if not os.path.isfile(os.path.join(folder, REPORT_FILE)):
        return ""
    pictures = sorted(name for name in os.listdir(folder) if name.endswith(".png") and not name.startswith(TMP_PREFIX))
    relative = os.path.relpath(folder, os.path.abspath(out))
    links = [("report", REPORT_FILE)] + [(name[: -len(".png")].replace("_", " "), name) for name in pictures]
    return " · ".join(f"[{text}]({relative}/{name})" for text, name in links)


def _any_validation(runs: list[Run]) -> bool:
    """Whether a run has a validation split, whose best epoch the table then shows (the test split chooses none)."""
    return any(run.split == "val" for run in runs)


def _result_cells(run: Run, chosen: bool) -> list[str]:
    summary = run.summary
    split = run.split
    planned = run.settings.get("epochs")
    epochs = str(summary["epochs"]) if planned in (None, summary["epochs"]) else f"{summary['epochs']} of {planned}"
    best = f"{percent(summary.get('best_val_accuracy'))} ({summary.get('best_epoch') or '–'})"
    return [
        epochs,
        percent(summary[f"final_{split}_accuracy"]),
        *([best] if chosen else []),
        percent(summary["final_train_accuracy"]),
        points(summary[f"train_{split}_gap"]),
        f"{decimal(summary[f'min_{split}_loss'], 3)} ({summary[f'min_{split}_loss_epoch'] or '–'})",
        decimal(summary[f"final_{split}_loss"], 3),
        decimal(summary["seconds_per_epoch"], 1),
        decimal(summary["train_images_per_second"], 0),
    ]


def _settings_cells(runs: list[Run]) -> list[str]:
    """Per run, the settings that differ between runs: all in the first row, then the changes from the row above."""
    names = _differing_settings(runs)
    cells, previous = [], None
    for run in runs:
        changed = [
            name for name in names if previous is None or setting(run.settings.get(name)) != setting(previous.get(name))
        ]
        cells.append(", ".join(f"{name}={setting(run.settings.get(name))}" for name in changed) or "same as above")
        previous = run.settings
    return cells


def _differing_settings(runs: list[Run]) -> list[str]:
    names = dict.fromkeys(name for run in runs for name in run.settings if name != "variant")
    return [name for name in names if len({setting(run.settings.get(name)) for run in runs}) > 1]


def _shared_settings(runs: list[Run]) -> list[str]:
    differing = set(_differing_settings(runs)) | {"variant"}
    return [f"{name}={setting(value)}" for name, value in runs[0].settings.items() if name not in differing]


def _note(run: Run) -> str:
    notes = []
    if run.diverged_epoch is not None:
        notes.append(f"diverged: the training loss became NaN or infinite in epoch {run.diverged_epoch}")
    if run.split == "val":
        notes.append(
            "a validation split (--val-split) chose best.keras; the test split, evaluated once at the end: final model "
            f"{percent(run.metrics.get('final_test_accuracy'))}, "
            f"best.keras {percent(run.metrics.get('best_test_accuracy'))}"
        )
    return "; ".join(notes)


def _column_notes(word: str) -> str:
    return (
        f"Accuracies are top-1. *train acc* is Keras' running average over the epoch, in training mode (augmentation "
        f"and dropout on); the {word} columns are the end-of-epoch model in inference mode. *gap* is in percentage "
        f"points at the last epoch. A {word} loss that rises from its minimum while the train accuracy still climbs "
        "is the lab's overfitting signal. *s/epoch*: median epoch time, evaluation included; *train images/s*: the "
        "training steps of the last epoch. Nothing is chosen on the test split: the *final* column is the result."
    )


def _split_word(runs: list[Run]) -> str:
    splits = {run.split for run in runs}
    return split_name(splits.pop()) if len(splits) == 1 else "held-out"


def _holds_run(path: str) -> bool:
    return os.path.isfile(os.path.join(path, CONFIG_FILE))


# --- charts ---


def plot_test_accuracy(runs: list[Run], labels: list[str], colors: list, path: str) -> str:
    """Every run's held-out accuracy per epoch on one chart; the legend gives each run's final value."""
    word = _split_word(runs)
    figure, axes = plt.subplots(figsize=(8, 5))
    for run, label, color in zip(runs, labels, colors):
        accuracy = [100 * value for value in run.column(f"{run.split}_accuracy")]
        if word == "held-out" and run.split == "val":
            label += " (validation)"
        final = percent(run.summary[f"final_{run.split}_accuracy"])
        label = f"{label}: {final} at the end"
        axes.plot(run.column("epoch"), accuracy, color=color, marker="o", markersize=3, label=label)
    axes.set_title(f"{word.capitalize()} accuracy per epoch (top-1, end-of-epoch model)")
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"{word} accuracy (%)")
    _epoch_axis(axes, *_epoch_range(runs))
    axes.grid(alpha=0.3)
    axes.legend(title="run", loc="best", fontsize="small")
    return save_figure(figure, path)


def plot_train_vs_test(runs: list[Run], labels: list[str], colors: list, path: str) -> str:
    """Small multiples: per run, accuracy (top) and loss (bottom) per epoch, train solid and held-out dashed.

    All accuracy panels share one y scale and all loss panels another, so the panels compare.
    """
    word = _split_word(runs)
    # One y range for every accuracy panel and one for every loss panel, from all runs.
    accuracy_limits = _limits([100 * v for r in runs for c in _metric_columns(r, "accuracy") for v in r.column(c)])
    loss_limits = _limits([v for run in runs for c in _metric_columns(run, "loss") for v in run.column(c)])
    columns = min(len(runs), 4)
    grid_rows = math.ceil(len(runs) / columns)
    figure = plt.figure(figsize=(3.4 * columns + 0.4, 4.6 * grid_rows + 0.8), layout="constrained")
    cells = figure.subfigures(grid_rows, columns, squeeze=False)
    for index, (run, label, color) in enumerate(zip(runs, labels, colors)):
        cell = cells[index // columns, index % columns]
        accuracy_axes, loss_axes = cell.subplots(2, 1, sharex=True)
        epochs = run.column("epoch")
        for accuracy, loss in zip(_metric_columns(run, "accuracy"), _metric_columns(run, "loss")):
            style = _line_style(accuracy, color)
            accuracy_axes.plot(epochs, [100 * v for v in run.column(accuracy)], **style)
            loss_axes.plot(epochs, run.column(loss), **style)
        cell.suptitle(label, color=color, fontweight="bold")
        accuracy_axes.set_ylim(accuracy_limits)
        loss_axes.set_ylim(loss_limits)
        accuracy_axes.set_ylabel("accuracy (%)")
        loss_axes.set_ylabel("loss (cross-entropy)")
        loss_axes.set_xlabel("epoch")
        for panel in (accuracy_axes, loss_axes):
            _epoch_axis(panel, *_epoch_range([run]))
            panel.grid(alpha=0.3)
    styles = [("accuracy", "train (running average over the epoch, training mode)")]
    if any("train_eval_accuracy" in run.rows[0] for run in runs):
        styles.append(("train_eval_accuracy", "train (end of epoch, inference mode)"))
    styles.append(("test_accuracy", f"{word} (end of epoch, inference mode)"))
    figure.legend(
        [Line2D([], [], **_line_style(column, "0.3")) for column, _ in styles],
        [name for _, name in styles],
        loc="outside lower center",
        ncol=len(styles),
        frameon=False,
    )
    figure.suptitle(f"Train vs {word}, per run: accuracy (top) and loss (bottom) per epoch", fontsize="x-large")
    return save_figure(figure, path)


def plot_learning_rate(runs: list[Run], labels: list[str], colors: list, path: str) -> str:
    """The learning rate of every epoch (set at the epoch's start), on a log scale.

    Runs often share a schedule: their lines then alternate dashes of each run's colour, so
    every run stays visible.
    """
    figure, axes = plt.subplots(figsize=(8, 4.5))
    schedules = [run.column("learning_rate") for run in runs]
    for run, schedule, color in zip(runs, schedules, colors):
        sharing = [other for other in schedules if _same_start(schedule, other)]
        position = next(index for index, other in enumerate(sharing) if other is schedule)
        dash = 4.0
        style = (position * dash, (dash, dash * (len(sharing) - 1))) if len(sharing) > 1 else "-"
        axes.plot(run.column("epoch"), schedule, color=color, linewidth=2.5, linestyle=style)
    axes.legend([Line2D([], [], color=color, linewidth=2) for color in colors], labels, title="run", fontsize="small")
    axes.set_yscale("log")
    axes.set_title("Learning rate per epoch (set at the start of each epoch)")
    axes.set_xlabel("epoch")
    axes.set_ylabel("learning rate (log scale)")
    _epoch_axis(axes, *_epoch_range(runs))
    axes.grid(alpha=0.3, which="both")
    return save_figure(figure, path)


def _same_start(a: list[float], b: list[float]) -> bool:
    """Whether two per-epoch series agree on the epochs both have."""
    return all(math.isclose(x, y) for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y))


def _metric_columns(run: Run, metric: str) -> list[str]:
    """The history.csv columns of `metric`: training (running average), --eval-train's if present, held-out."""
    return [name for name in (metric, f"train_eval_{metric}", f"{run.split}_{metric}") if name in run.rows[0]]


def _line_style(column: str, color) -> dict:
    """Training: solid line, dots; training split in inference mode: dotted, crosses; held-out: dashed, open circles.

    The markers tell the curves apart where a run has a single epoch (no line to see).
    """
    if column.startswith("train_eval_"):
        return dict(color=color, linestyle=":", marker="x", markersize=5)
    if column in ("accuracy", "loss"):
        return dict(color=color, linestyle="-", marker="o", markersize=3)
    return dict(color=color, linestyle="--", marker="o", markersize=5, markerfacecolor="white")


def _limits(values: list[float]) -> tuple[float, float]:
    """A y range from 0 (or just below the data) to just above the finite values."""
    shown = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
    low, high = min(shown), max(shown)
    pad = 0.05 * (high - low or 1)
    return max(0.0, low - pad), high + pad


def _epoch_range(runs: list[Run]) -> tuple[int, int]:
    """The last epoch of the longest run, and the first epoch any run logged (0 with --eval-at-start)."""
    return max(run.rows[-1]["epoch"] for run in runs), min(run.rows[0]["epoch"] for run in runs)


def _epoch_axis(axes, epochs: int, first: int = 1) -> None:
    """Whole epochs from `first` (1, or 0 for a run evaluated before its first step), with room around the ends."""
    axes.set_xlim(first - 0.5, epochs + 0.5)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))

