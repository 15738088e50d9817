"""A study's report.md, results.json and charts, written from its runs' records after they ran."""

import json
import math
import os
import warnings

import numpy as np

from keras_cnn.files import read_json, write_json, write_text
from keras_cnn.formatting import decimal, percent, points
from keras_cnn.studies.definitions import STUDIES
from keras_cnn.studies.findings import grid_value
from keras_cnn.studies.noise import Summary

REPORT_FILE, RESULTS_FILE, INDEX_FILE = "report.md", "results.json", "index.md"
CHARTS = ("test_accuracy.png", "train_vs_test.png", "grid.png")

# metrics.json key -> header, format: the columns of the points' table (mean and sd over the seeds)
COLUMNS = {
    "final_test_accuracy": ("test accuracy (final)", percent),
    "final_train_accuracy": ("train accuracy (final, running)", percent),
    "final_train_eval_accuracy": ("train accuracy (final, inference mode)", percent),
    "train_test_gap": ("train (running) - test", points),
    "initial_test_accuracy": ("test accuracy at epoch 0", percent),
    "initial_train_loss": ("train loss at epoch 0", lambda value: decimal(value, 3)),
    "initial_test_loss": ("test loss at epoch 0", lambda value: decimal(value, 3)),
    "seconds_per_epoch": ("seconds per epoch", lambda value: decimal(value, 1)),
}
USUAL = ("final_test_accuracy", "final_train_accuracy", "train_test_gap", "initial_test_accuracy")


def point_summaries(results, point: str) -> dict:
    """results.json's view of a point: its settings, runs, and per metric the seeds' values, mean, sd, min and max."""
    keys = dict.fromkeys(key for name in results.runs_of(point) for key in results.runs[name]["metrics"])
    summaries = {key: results.summary(point, key) for key in keys}
    return {
        "settings": results.points[point],
        "runs": results.runs_of(point),
        "diverged": results.diverged(point),
        "metrics": {key: {"values": list(s.values), "mean": s.mean, "sd": s.sd, "min": s.low, "max": s.high}
                    for key, s in summaries.items() if s.count},
    }


def cell(summary: Summary, form) -> str:
    """A table cell: the mean, and the sd over the seeds in the metric's own unit."""
    if not summary.count:
        return "–"
    if summary.sd is None:
        return form(summary.mean)
    spread = form(summary.sd).lstrip("+")
    return f"{form(summary.mean)} ± {spread.replace(' pp', '')}"


def write_report(name: str, spec, folder: str, results, finding: list[str], configs: dict, command: str,
                 seconds: float) -> str:
    """report.md (finding, tables, charts), results.json (the numbers it quotes) and the charts, into `folder`."""
    charts = [chart for chart in (plot_test_accuracy(results, os.path.join(folder, CHARTS[0])),
                                  plot_train_vs_test(results, os.path.join(folder, CHARTS[1])),
                                  plot_grid(spec, results, os.path.join(folder, CHARTS[2]))) if chart]
    keys = [key for key in (*USUAL, *spec.columns) if key not in spec.columns or key in COLUMNS]
    keys = list(dict.fromkeys(keys))
    axes = list(dict.fromkeys(key for settings in results.points.values() for key in settings))
    config = next(iter(configs.values()))
    seeds = sorted({run["seed"] for run in results.runs.values()})
    precision = "bfloat16 mixed precision (--mixed-precision)" if config.mixed_precision else "float32"
    lines = [
        f"# Study {name}: {spec.question}",
        "",
        f"The lab's {spec.questions}. Command: `{command}`. {len(results.points)} grid points x {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}) = {len(configs)} runs"
        f"{' of the variants and settings below' if 'variant' in spec.grid else f' of `{spec.variant}`'}, "
        f"{_scale_text(config)}, in {precision}; every run is a folder here with its own config.json, history.csv and "
        f"metrics.json. Values are final-epoch values on the test split, mean ± sd over the seeds: a study describes "
        f"what a change does and chooses nothing (no epoch, no setting).",
        "",
        "## How it is measured",
        "",
        spec.method,
        "",
        f"**Scale.** {spec.scale}",
        "",
        "## Finding",
        "",
        "A difference is stated only where it is larger than twice its standard error over the seeds "
        "([the rule](../../studies.md#when-a-difference-is-measurable)); otherwise the finding says it is not "
        "measurable at this scale.",
        "",
        *(f"- {line}" for line in finding),
        "",
        "## Grid points (mean ± sd over the seeds)",
        "",
        "| point | " + " | ".join(axes) + " | " + " | ".join(COLUMNS[key][0] for key in keys) + " |",
        "|---|" + "---|" * len(axes) + "---:|" * len(keys),
    ]
    for point, settings in results.points.items():
        diverged = results.diverged(point)
        note = f" (diverged: {len(diverged)} of {len(results.runs_of(point))} seeds)" if diverged else ""
        lines.append(f"| {point}{note} | " + " | ".join(grid_value(settings.get(axis, "")) for axis in axes) + " | "
                     + " | ".join(cell(results.summary(point, key), COLUMNS[key][1]) for key in keys) + " |")
    lines += ["", *(f"![{os.path.basename(chart)}]({os.path.basename(chart)})" for chart in charts), "",
              "## Every run", "", "| run | seed | test accuracy (final) | train accuracy (final, running) | "
              "lowest test loss (epoch) | diverged at epoch |", "|---|---:|---:|---:|---:|---:|"]
    for run, values in results.runs.items():
        metrics = values["metrics"]
        lines.append(f"| {run} | {values['seed']} | {percent(metrics.get('final_test_accuracy'))} | "
                     f"{percent(metrics.get('final_train_accuracy'))} | {decimal(metrics.get('min_test_loss'), 3)} "
                     f"({metrics.get('min_test_loss_epoch') or '–'}) | {values['diverged'] or '–'} |")
    lines.append("")
    if results.analysis:
        lines += ["## Measured besides the runs", "", "```json", json.dumps(results.analysis, indent=2), "```", ""]
    trained = sum(values["metrics"].get("wall_seconds") or 0 for values in results.runs.values())
    lines.append(f"Training time of the runs: {trained / 60:.1f} min (the sum of their epochs, from their "
                 f"metrics.json); this call took {seconds / 60:.1f} min.")
    write_json(os.path.join(folder, RESULTS_FILE), {
        "study": name, "questions": spec.questions, "finding": finding, "command": command,
        "seeds": seeds, "mixed_precision": config.mixed_precision, "training_seconds": round(trained, 1),
        "charts": [os.path.basename(chart) for chart in charts],
        "points": {point: point_summaries(results, point) for point in results.points},
        "runs": {run: {"point": values["point"], "seed": values["seed"], "metrics": values["metrics"],
                       "diverged": values["diverged"]} for run, values in results.runs.items()},
        "analysis": results.analysis,
    })
    path = os.path.join(folder, REPORT_FILE)
    write_text(path, "\n".join(lines) + "\n")
    return path


def _scale_text(config) -> str:
    images = f"{config.limit:,} images of each split" if config.limit else "all images"
    return f"{config.epochs} epoch{'s' if config.epochs > 1 else ''} each on {images}"


# ---- Charts: each point's mean over its seeds, with the seeds' range as a band ----


def point_colors(count: int) -> list:
    """Colours that stay apart for up to 20 points: tab10, then tab10's light partners."""
    from keras_cnn.plots import plt

    return [plt.get_cmap("tab20").colors[(2 * i) % 20 + (2 * i) // 20] for i in range(count)]


def seed_curves(results, point: str, column: str) -> tuple[list, np.ndarray] | None:
    """The epochs and a (seeds, epochs) array of a history column of the point's runs (NaN where absent)."""
    runs = [run for run, values in zip(results.loaded, results.runs.values()) if values["point"] == point]
    if not runs:
        return None
    epochs = max((run.column("epoch") for run in runs), key=len)
    table = np.full((len(runs), len(epochs)), math.nan)
    for row, run in enumerate(runs):
        values = run.column(column)
        table[row, : len(values)] = values
    return epochs, table


def draw_band(panel, epochs, table, color, label=None, style="-", scale=100.0) -> None:
    """The mean over the seeds as a line, their min-max range as a band."""
    with warnings.catch_warnings():  # an epoch where every seed has NaN (diverged) stays a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, low, high = (scale * np.nanmean(table, 0), scale * np.nanmin(table, 0), scale * np.nanmax(table, 0))
    panel.plot(epochs, mean, style, color=color, label=label, linewidth=1.6)
    if table.shape[0] > 1:
        panel.fill_between(epochs, low, high, color=color, alpha=0.18, linewidth=0)


def plot_test_accuracy(results, path: str) -> str:
    """Every point's test accuracy per epoch: the seeds' mean and range; the legend outside the axes."""
    from keras_cnn.plots import plt, save_figure

    figure, panel = plt.subplots(figsize=(9, 5))
    for point, color in zip(results.points, point_colors(len(results.points))):
        curves = seed_curves(results, point, "test_accuracy")
        if curves:
            final = results.summary(point, "final_test_accuracy")
            label = f"{point}: {percent(final.mean)}" if final.count else f"{point}: diverged"
            draw_band(panel, *curves, color, label)
    panel.set_title("Test accuracy per epoch: mean over the seeds, band from the lowest to the highest seed")
    panel.set_xlabel("epoch")
    panel.set_ylabel("test accuracy (%)")
    panel.grid(alpha=0.3)
    panel.legend(title="point: final mean", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                 frameon=False)
    return save_figure(figure, path, dpi=100, bbox_inches="tight")


def plot_train_vs_test(results, path: str) -> str:
    """Small multiples, one panel per point: train (running and inference mode) and test accuracy per epoch."""
    from matplotlib.lines import Line2D

    from keras_cnn.plots import plt, save_figure

    styles = [("accuracy", "-", "train (running average, training mode)"),
              ("train_eval_accuracy", "-.", "train (end of epoch, inference mode)"),
              ("test_accuracy", "--", "test (end of epoch, inference mode)")]
    present = [style for style in styles if any(style[0] in run.rows[0] for run in results.loaded)]
    count = len(results.points)
    columns = min(count, 4)
    rows = math.ceil(count / columns)
    figure, panels = plt.subplots(rows, columns, figsize=(3.3 * columns + 0.4, 2.8 * rows + 1.0), sharex=True,
                                  sharey=True, squeeze=False, layout="constrained")
    for index, (point, color) in enumerate(zip(results.points, point_colors(count))):
        panel = panels[index // columns, index % columns]
        for column, style, _ in present:
            if curves := seed_curves(results, point, column):
                draw_band(panel, *curves, color, style=style)
        panel.set_title(point, fontsize="small", color=color, fontweight="bold")
        panel.grid(alpha=0.3)
    for index in range(count, rows * columns):
        panels[index // columns, index % columns].set_visible(False)
    for panel in panels[:, 0]:
        panel.set_ylabel("accuracy (%)")
    for panel in panels[-1, :]:
        panel.set_xlabel("epoch")
    figure.legend([Line2D([], [], linestyle=style, color="0.3") for _, style, _ in present],
                  [name for *_, name in present], loc="outside lower center", ncol=len(present), frameon=False)
    figure.suptitle("Train vs test per grid point (mean over the seeds, band: their range)")
    return save_figure(figure, path, dpi=100)


def plot_grid(spec, results, path: str) -> str | None:
    """Final test accuracy against a numeric axis (mean, sd error bars and each seed), or over two axes (a heatmap)."""
    from keras_cnn.plots import plt, save_figure

    grid = {point: settings for point, settings in results.points.items() if set(settings) == set(spec.grid)}
    axes = [axis for axis in spec.grid if len({settings[axis] for settings in grid.values()}) > 1]
    numeric = all(isinstance(settings[axis], int | float) for axis in axes for settings in grid.values())
    if not grid or not numeric or len(axes) not in (1, 2):
        return None
    if len(axes) == 1:
        (axis,) = axes
        figure, panel = plt.subplots(figsize=(6.5, 4))
        for key, label, color in (("final_test_accuracy", "test", "C0"),
                                  ("final_train_eval_accuracy", "train, inference mode", "C1"),
                                  ("final_train_accuracy", "train, running", "C2")):
            summaries = {point: results.summary(point, key) for point in grid}
            if not any(s.count for s in summaries.values()):
                continue
            x = [grid[point][axis] for point in grid]
            panel.errorbar(x, [100 * (s.mean if s.count else math.nan) for s in summaries.values()],
                           yerr=[100 * (s.sd or 0) for s in summaries.values()], marker="o", capsize=3, color=color,
                           label=f"{label} (mean ± sd)")
            for value, s in zip(x, summaries.values()):
                panel.scatter([value] * s.count, [100 * v for v in s.values], s=10, color=color, alpha=0.5)
        panel.set_xlabel(axis)
        panel.set_ylabel("final accuracy (%)")
        panel.grid(alpha=0.3)
        panel.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    else:
        rows, cols = (sorted({settings[axis] for settings in grid.values()}) for axis in axes)
        table = np.full((len(rows), len(cols)), math.nan)
        text = {}
        for point, settings in grid.items():
            summary = results.summary(point, "final_test_accuracy")
            at = rows.index(settings[axes[0]]), cols.index(settings[axes[1]])
            if summary.count:
                table[at] = 100 * summary.mean
            spread = f"\n± {100 * summary.sd:.1f}" if summary.sd is not None else ""
            diverged = len(results.diverged(point))
            text[at] = (f"{100 * summary.mean:.1f}%{spread}" if summary.count else "") + \
                       (f"\n{diverged} diverged" if diverged else "")
        figure, panel = plt.subplots(figsize=(6.5, 4.8))
        image = panel.imshow(table, cmap="viridis", aspect="auto")
        for (i, j), label in text.items():
            # a cell with no mean (every seed diverged) is left blank: dark text on the white background
            dark = math.isnan(table[i, j]) or table[i, j] >= np.nanmean(table)
            panel.text(j, i, label, ha="center", va="center", color="k" if dark else "w", fontsize="small")
        panel.set_xticks(range(len(cols)), [grid_value(c) for c in cols])
        panel.set_yticks(range(len(rows)), [grid_value(r) for r in rows])
        panel.set_xlabel(axes[1])
        panel.set_ylabel(axes[0])
        figure.colorbar(image, label="final test accuracy, mean over the seeds (%)")
    panel.set_title(f"Final test accuracy over the grid ({spec.questions})")
    return save_figure(figure, path, dpi=100, bbox_inches="tight")


def write_index(out: str) -> str:
    """out/index.md: one row per study whose results.json exists: its questions, report and finding."""
    lines = ["# Studies: the lab's questions answered by experiment", "",
             "| study | questions | finding |", "|---|---|---|"]
    for name, spec in STUDIES.items():
        path = os.path.join(out, name, RESULTS_FILE)
        if os.path.exists(path):
            finding = " ".join(read_json(path)["finding"])
            lines.append(f"| [{name}]({name}/{REPORT_FILE}) | {spec.questions} | {finding} |")
    path = os.path.join(out, INDEX_FILE)
    write_text(path, "\n".join(lines) + "\n")
    return path
