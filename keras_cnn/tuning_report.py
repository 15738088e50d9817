"""The files of a finished search, from keras-tuner's trials: trials.csv, summary.md, best.json, objective.png.

Every number comes from the trials' metrics as keras-tuner's oracle recorded them. Influence of a
hyperparameter = |Spearman rank correlation| between its values and the objective over the
completed trials: simple, scale-free (lr is log-sampled), and honest about being a correlation
over few trials, not a causal effect.
"""

import csv
import io
import os

import numpy as np
import scipy.stats
from matplotlib.ticker import NullFormatter

from keras_cnn.config import TrainConfig
from keras_cnn.files import write_json, write_text
from keras_cnn.formatting import markdown_table
from keras_cnn.plots import plt, save_figure
from keras_cnn.rundir import retrain_run_dir

TRIALS_FILE = "trials.csv"
SUMMARY_FILE = "summary.md"
BEST_FILE = "best.json"
PLOT_FILE = "objective.png"
TOP_TRIALS = 10
SCORE = "best_val_accuracy"  # trials.csv's column of each trial's objective: its best accuracy on the validation split


def write_reports(
    out: str, trials: list, record: dict, splits, best_trial, best_config: TrainConfig | None
) -> tuple[list[dict], dict | None]:
    """Write the four files (best.json and the plot only when a trial completed); return the rows and best.json."""
    names = list(record["space"])
    rows = trial_rows(trials, names)
    write_csv(os.path.join(out, TRIALS_FILE), rows)
    completed = [row for row in rows if row["status"] == "COMPLETED"]
    influence = rank_influence(completed, names, SCORE)
    best = None
    if best_trial is not None:
        best_row = next(row for row in rows if row["trial"] == best_trial.trial_id)
        best = best_json(best_row, best_config, record)
        write_json(os.path.join(out, BEST_FILE), best)
    plotted = plot_objective(os.path.join(out, PLOT_FILE), completed, influence, record)
    write_text(os.path.join(out, SUMMARY_FILE), summary(out, rows, record, splits, best, influence, plotted))
    return rows, best


def trial_rows(trials: list, names: list[str]) -> list[dict]:
    """One row per trial: id, status, searched values, best objective, its epoch, epochs run, seconds."""
    continued = any("tuner/trial_id" in trial.hyperparameters.values for trial in trials)
    rows = []
    for trial in trials:
        values = trial.hyperparameters.values

        def metric(name, trial=trial):
            return trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None

        row = {"trial": trial.trial_id, "status": trial.status, **{name: values.get(name) for name in names}}
        if continued:  # hyperband: a trial that trains on from another trial's best weights
            row["continued_from"] = values.get("tuner/trial_id", "")
        row[SCORE] = metric("val_accuracy")
        for name in ("best_epoch", "epochs_run"):
            value = metric(name)
            row[name] = int(value) if value is not None else None
        row["seconds"] = metric("seconds")
        rows.append(row)
    return rows


def write_csv(path: str, rows: list[dict]) -> None:
    text = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row)) or ["trial", "status"]
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def best_json(row: dict, config: TrainConfig, record: dict) -> dict:
    """`train --config` reads "config"; "search" says where the settings come from."""
    searched = record["config"]
    return {
        "config": config.to_dict(),
        "search": {
            "trial": row["trial"],
            "tuner": record["tuner"],
            "objective": f"{record['objective']} (Keras' name), measured on the validation split",
            "best_value": float(row[SCORE]),
            "best_epoch": row["best_epoch"],
            "epochs_per_trial": searched["epochs"],
            "limit_during_search": searched["limit"],
            "note": f"epochs is the variant's full {config.epochs} and limit none (all the data); override them with "
            "train's --epochs and --limit. The other settings are the search's, --val-split included",
        },
    }


def rank_influence(rows: list[dict], names: list[str], score: str) -> dict[str, float]:
    """|Spearman rank correlation| of each hyperparameter with the objective, largest first (NaN-free)."""
    if len(rows) < 2:
        return {}
    objective = [row[score] for row in rows]
    influence = {}
    for name in names:
        values = [row[name] for row in rows]
        varies = len(set(values)) > 1 and len(set(objective)) > 1  # else the correlation is undefined (NaN)
        influence[name] = float(abs(scipy.stats.spearmanr(values, objective).statistic)) if varies else 0.0
    return dict(sorted(influence.items(), key=lambda item: -item[1]))  # stable: ties keep the space's order


def plot_objective(path: str, rows: list[dict], influence: dict, record: dict) -> bool:
    """Scatter of the trials over the two most influential hyperparameters, coloured by objective.

    With one varying hyperparameter, objective against it. Returns False (no file) when there is
    nothing to plot: no completed trial, or no hyperparameter that varies.
    """
    varying = [name for name in influence if len({row[name] for row in rows}) > 1]
    if not rows or not varying:
        return False
    shown = varying[:2]
    label = "best validation accuracy"
    accuracy = np.array([row[SCORE] for row in rows])
    best = int(np.argmax(accuracy))
    figure, axes = plt.subplots(figsize=(7, 5.2))
    x = [row[shown[0]] for row in rows]
    if len(shown) == 2:
        y = [row[shown[1]] for row in rows]
        points = axes.scatter(x, y, c=accuracy, cmap="viridis", s=60, edgecolors="black", linewidths=0.5)
        figure.colorbar(points, ax=axes, label=label)
        axes.set_ylabel(_axis_label(shown[1], influence, record))
        _log_axis(axes, "y", shown[1], record)
    else:
        y = list(accuracy)
        axes.scatter(x, y, s=60, color="C0", edgecolors="black", linewidths=0.5)
        axes.set_ylabel(label)
    axes.scatter([x[best]], [y[best]], s=220, facecolors="none", edgecolors="red", linewidths=1.5, label="best trial")
    for row, px, py in zip(rows, x, y):
        axes.annotate(row["trial"], (px, py), textcoords="offset points", xytext=(5, 4), fontsize=7)
    axes.set_xlabel(_axis_label(shown[0], influence, record))
    _log_axis(axes, "x", shown[0], record)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8)
    axes.set_title(
        f"{record['config']['variant']}, {record['tuner']} search: {label} of {len(rows)} completed trials\n"
        f"axes: the hyperparameter{'s' if len(shown) == 2 else ''} with the largest "
        "|Spearman rank correlation| with it",
        fontsize=9,
    )
    figure.tight_layout()
    save_figure(figure, path, dpi=110)
    return True


def _is_log(name: str, record: dict) -> bool:
    spec = record["space"][name]  # a range {"low", "high", "sampling"}, or a list of batch sizes
    return isinstance(spec, dict) and spec["sampling"] == "log"


def _axis_label(name: str, influence: dict, record: dict) -> str:
    return f"{name} (|ρ| = {influence[name]:.2f}{', log scale' if _is_log(name, record) else ''})"


def _log_axis(axes, which: str, name: str, record: dict) -> None:
    if _is_log(name, record):
        getattr(axes, f"set_{which}scale")("log")
        # Over less than a decade matplotlib labels the minor ticks too, and they overlap.
        getattr(axes, f"{which}axis").set_minor_formatter(NullFormatter())


def summary(out: str, rows: list[dict], record: dict, splits, best: dict | None, influence: dict, plotted: bool) -> str:
    """summary.md: the search's settings, the top trials, the best configuration and the influence ranking."""
    config = record["config"]
    names = list(record["space"])
    completed = sorted((row for row in rows if row["status"] == "COMPLETED"), key=lambda row: -row[SCORE])
    failed = [row for row in rows if row["status"] != "COMPLETED"]
    selection = (f"the validation split: {len(splits.val)} images held out of the training split "
                 f"(`--val-split {config['val_split']}`); the test split was not used")
    epochs = f"at most {config['epochs']} (hyperband)" if record["tuner"] == "hyperband" else str(config["epochs"])
    lines = [
        f"# Hyperparameter search: {config['variant']}, {record['tuner']} search",
        "",
        markdown_table(["", ""], [
            ["trials", f"{len(completed)} completed, {len(failed)} failed or unfinished "
                       f"(at most {record['max_trials']})"],
            ["epochs per trial", epochs],
            ["objective", f"best `{record['objective']}` of each trial: accuracy on {selection}"],
            ["data", f"{len(splits.train)} training images from `{splits.source}`"
             + (f" (`--limit {config['limit']}`)" if config["limit"] else "")],
            ["searched", "; ".join(_describe(name, spec) for name, spec in record["space"].items()) or "nothing"],
        ]),
        "",
        "## Top trials",
        "",
    ]
    columns = ["trial", *names, *(["continued_from"] if rows and "continued_from" in rows[0] else []),
               SCORE, "best_epoch", "epochs_run", "seconds"]
    top = [[rank, *(_cell(row.get(column)) for column in columns)]
           for rank, row in enumerate(completed[:TOP_TRIALS], 1)]
    lines.append(markdown_table(["rank", *columns], top))
    if failed:
        listed = ", ".join(f"{row['trial']} ({row['status']})" for row in failed)
        lines += ["", f"Failed or unfinished: {listed}; their errors are in "
                  f"`{os.path.join(out, 'keras_tuner')}/trial_*/trial.json`."]
    if best:
        values = ", ".join(f"{name} = {_cell(best['config'][name])}" for name in names)
        lines += [
            "",
            "## Best configuration",
            "",
            f"Trial {best['search']['trial']}: {values}. `best.json` holds every setting of the search, except that "
            f"it trains for the variant's full {best['config']['epochs']} epochs on all the data (no `--limit`); "
            f"retrain it (into `{retrain_run_dir(out)}`) with",
            "",
            "```bash",
            f"python train_keras.py train --config {os.path.join(out, 'best.json')}",
            "```",
        ]
    if influence:
        lines += [
            "",
            "## Which hyperparameters mattered",
            "",
            f"Absolute Spearman rank correlation with the objective over the {len(completed)} completed trials "
            "(a hint, not a measurement, with few trials): "
            + ", ".join(f"{name} {value:.2f}" for name, value in influence.items()) + ".",
        ]
    if plotted:
        lines += ["", f"![objective versus the most influential hyperparameters]({PLOT_FILE})"]
    return "\n".join(lines) + "\n"


def _describe(name: str, spec) -> str:
    if isinstance(spec, dict):
        return f"{name} {spec['low']:g} to {spec['high']:g}" + (" (log)" if spec["sampling"] == "log" else "")
    return f"{name} {', '.join(str(value) for value in spec)}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
