"""history.csv (one row per epoch) and the run summary in metrics.json derived from it.

Columns: `epoch` (1-based, as Keras prints "Epoch 1/N"; with --eval-at-start a row 0 before the first
step, both splits in inference mode), `learning_rate`, the training metrics
(`loss`, `accuracy`, `top5_accuracy`: running averages over the epoch, augmentation and dropout
on), the same metrics of the evaluation split prefixed `test_` (the end-of-epoch model in
inference mode), optional `train_eval_*` (the training split in inference mode, `--eval-train`),
and timings (`epoch_seconds`, `train_seconds`, `train_images_per_second`).
"""

import csv
import io
import math
import os
import statistics

from keras_cnn.files import write_text
from keras_cnn.formatting import difference, finite

# The checkpoint that commands read by default, and the run's headline: the last epoch's. best.keras
# exists only when a validation split chose it (callbacks.Checkpoints).
DEFAULT_CHECKPOINT = "last"


def read_history(path: str) -> list[dict]:
    """Rows of a history.csv as dicts of floats (`epoch` as int); [] when the file does not exist."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [{key: int(value) if key == "epoch" else _parse_number(value) for key, value in row.items()} for row in rows]


def write_history(path: str, rows: list[dict]) -> None:
    """Write rows atomically, columns in first-seen order."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def summarize(rows: list[dict], split: str = "test") -> dict:
    """metrics.json: final accuracy and loss of the evaluated `split` ("test" or "val"), the run's default checkpoint,
    timings; with a validation split also its best epoch, whose weights are best.keras.

    Nothing is chosen on the test split: without a validation split there is no best epoch, and the
    default checkpoint is the last epoch's. Accuracies are fractions in [0, 1]; epochs count from 1.
    An epoch-0 row (--eval-at-start) counts as no epoch: it gives the `initial_*` values.
    """
    start = next((row for row in rows if row["epoch"] == 0), None)  # --eval-at-start: the untrained network
    rows = [row for row in rows if row["epoch"] > 0]
    last = rows[-1]
    losses = [row for row in rows if finite(row.get(f"{split}_loss"))]
    lowest_loss = min(losses, key=lambda row: row[f"{split}_loss"]) if losses else None
    metrics = {
        f"final_{split}_accuracy": last.get(f"{split}_accuracy"),
        "final_train_accuracy": last.get("accuracy"),
        f"train_{split}_gap": difference(last.get("accuracy"), last.get(f"{split}_accuracy")),
        f"final_{split}_loss": last.get(f"{split}_loss"),
        # Where the loss turns: the lab's overfitting signal. It describes the curve and chooses nothing.
        f"min_{split}_loss": lowest_loss and lowest_loss[f"{split}_loss"],
        f"min_{split}_loss_epoch": lowest_loss and lowest_loss["epoch"],
        "final_train_loss": last.get("loss"),
        "epochs": len(rows),
        "default_checkpoint": DEFAULT_CHECKPOINT,
        "best_checkpoint_chosen_on": "val" if split == "val" else None,
    }
    if split == "val":
        scored = [row for row in rows if finite(row.get("val_accuracy"))]
        best = max(scored, key=lambda row: row["val_accuracy"]) if scored else None
        metrics |= {"best_val_accuracy": best and best["val_accuracy"], "best_epoch": best and best["epoch"]}
    metrics |= {
        "wall_seconds": round(sum(row.get("epoch_seconds", 0.0) for row in rows), 1),
        "seconds_per_epoch": round(statistics.median(row.get("epoch_seconds", 0.0) for row in rows), 2),
        "train_images_per_second": last.get("train_images_per_second"),
    }
    for key in (f"{split}_top5_accuracy", "train_eval_accuracy", "train_eval_loss"):
        if last.get(key) is not None:
            metrics[f"final_{key}"] = last[key]
    if start is not None:
        for key in (f"{split}_accuracy", f"{split}_loss", "train_eval_accuracy", "train_eval_loss"):
            metrics[f"initial_{key.replace('train_eval', 'train')}"] = start.get(key)
    return {key: (None if isinstance(value, float) and not math.isfinite(value) else value)
            for key, value in metrics.items()}


def diverged_epoch(rows: list[dict]) -> int | None:
    """The first epoch whose training loss is NaN or infinite (the run diverged there), or None."""
    return next((row["epoch"] for row in rows if row["epoch"] > 0 and not finite(row.get("loss"))), None)


def _parse_number(text: str) -> float | None:
    return float(text) if text not in ("", None) else None
