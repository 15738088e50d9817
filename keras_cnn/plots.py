"""Figures as PNG, headless: matplotlib's Agg backend is chosen here, once, for every module that draws.

Modules that draw import `plt` and `save_figure` from here (never matplotlib.pyplot directly), so the
backend is set before pyplot is first imported, and every PNG is written atomically.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from keras_cnn.files import atomic_write  # noqa: E402
from keras_cnn.formatting import split_name  # noqa: E402


def plot_curves(rows: list[dict], path: str, title: str) -> None:
    """Two panels like the lab's plot: loss and accuracy per epoch, train vs test (or validation)."""
    epochs = [row["epoch"] for row in rows]
    evaluated = "val" if "val_loss" in rows[0] else "test"
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    for axes, metric, label in ((loss_axes, "loss", "loss (cross-entropy)"),
                                (accuracy_axes, "accuracy", "accuracy (%)")):
        scale = 100 if metric == "accuracy" else 1
        for column, name, style in (
            (metric, "train (running average, training mode)", "C0-"),
            (f"train_eval_{metric}", "train (end of epoch, inference mode)", "C0:"),
            (f"{evaluated}_{metric}", split_name(evaluated), "C1-"),
        ):
            values = [row.get(column) for row in rows]
            if any(value is not None for value in values):
                axes.plot(epochs, [v * scale if v is not None else None for v in values], style, marker=".", label=name)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    loss_axes.set_title("Loss")
    accuracy_axes.set_title("Accuracy")
    figure.suptitle(title)
    figure.tight_layout()
    save_figure(figure, path, dpi=110)


def save_figure(figure, path: str, dpi: int = 100, **options) -> str:
    """Write `figure` to `path` atomically (a temporary file moved into place), close it, return `path`.

    `options` go to `savefig` (e.g. bbox_inches="tight")."""
    atomic_write(path, lambda tmp_path: figure.savefig(tmp_path, dpi=dpi, **options))
    plt.close(figure)
    return path
