"""The records the answer sheet is made from: every seed of the lab's runs, and the studies' results.json.

A lab folder holds one run folder per variant and seed, named as `lab` writes them (`bn`, and `bn-seed1`
for the same command with --seed 1) or as the committed records are (`lab-bn`, `lab-bn-seed1`). A
study is read only through the keys of its results.json that stay: "study", "questions", "finding",
and "charts" (else every PNG beside it).
"""

import glob
import os
import re
import statistics
from dataclasses import dataclass

from keras_cnn.errors import RunDirError
from keras_cnn.files import read_json
from keras_cnn.formatting import finite, points
from keras_cnn.history import read_history

LAB_ORDER = ("lenet5", "baseline", "norm", "augment", "momentum", "dropout", "bn")
RUN_NAME = re.compile(rf"^(?:lab-)?(?P<variant>{'|'.join(LAB_ORDER)})(?:-seed(?P<seed>\d+))?$")
QUESTION = re.compile(r"Q(\d+)")
LAST_EPOCHS = 5  # the stability of a run's end: the range of its last five epochs' test accuracy

# Written once, applied to every comparison of two variants in the sheet.
DIFFERENCE_RULE = (
    "A difference between two variants counts as a finding only when each has at least two seeds and the ranges "
    "(min to max) of their seeds do not overlap; otherwise it reads \"no difference measurable\"."
)


@dataclass(frozen=True)
class SeedRun:
    """One finished run of a variant: its folder, seed, metrics.json, config.json and history.csv rows."""

    path: str
    seed: int
    metrics: dict
    record: dict
    rows: list[dict]

    @property
    def epochs(self) -> list[dict]:
        """The rows of the trained epochs (epoch 0, the untrained network, left out)."""
        return [row for row in self.rows if row["epoch"] > 0]

    def last_epochs_range(self) -> float:
        """Range of the test accuracy over the last LAST_EPOCHS epochs."""
        values = [row["test_accuracy"] for row in self.epochs[-LAST_EPOCHS:] if finite(row.get("test_accuracy"))]
        return max(values) - min(values) if values else float("nan")

    def accuracy_at(self, epoch: int) -> float | None:
        """Test accuracy after `epoch`, or None when the run is shorter."""
        return next((row["test_accuracy"] for row in self.epochs if row["epoch"] == epoch), None)


@dataclass(frozen=True)
class Variant:
    """Every recorded seed of one lab variant, sorted by seed."""

    name: str
    runs: tuple[SeedRun, ...]

    def values(self, key: str = "final_test_accuracy") -> list[float]:
        """A metrics.json value of every seed."""
        return [run.metrics[key] for run in self.runs]

    def mean(self, key: str = "final_test_accuracy") -> float:
        return statistics.fmean(self.values(key))

    @property
    def low(self) -> float:
        return min(self.values())

    @property
    def high(self) -> float:
        return max(self.values())


def read_lab(folder: str) -> dict[str, Variant]:
    """The finished lab runs in `folder`, per variant in the lab's order (variants with no run are absent)."""
    if not os.path.isdir(folder):
        raise RunDirError(f"{folder} does not exist: train the lab first (python train_keras.py lab --data-dir DIR "
                          f"--out {folder}), or pass --lab with the folder of your lab runs")
    found: dict[str, list[SeedRun]] = {}
    for name in sorted(os.listdir(folder)):
        match, path = RUN_NAME.match(name), os.path.join(folder, name)
        if match and os.path.isfile(os.path.join(path, "metrics.json")):
            record = read_json(os.path.join(path, "config.json"))
            seed = record["config"].get("seed", int(match["seed"] or 0))
            run = SeedRun(path, seed, read_json(os.path.join(path, "metrics.json")), record,
                          read_history(os.path.join(path, "history.csv")))
            found.setdefault(match["variant"], []).append(run)
    return {name: Variant(name, tuple(sorted(found[name], key=lambda run: run.seed))) for name in LAB_ORDER
            if name in found}


def compare(variant: Variant, other: Variant) -> str:
    """The difference of the mean test accuracies of two variants, and whether it is a finding (DIFFERENCE_RULE)."""
    difference = points(variant.mean() - other.mean())
    if min(len(variant.runs), len(other.runs)) < 2:
        return f"{difference} in the means; no difference measurable (one seed gives no spread)"
    if variant.low > other.high or variant.high < other.low:
        return f"{difference} in the means, a finding (their seeds' ranges do not overlap)"
    return f"{difference} in the means; no difference measurable (their seeds' ranges overlap)"


@dataclass(frozen=True)
class StudyResult:
    """A study's results.json, by the keys that stay, and its charts (absolute paths)."""

    name: str
    questions: tuple[int, ...]
    finding: tuple[str, ...]
    charts: tuple[str, ...]
    folder: str


def read_studies(folder: str) -> dict[str, StudyResult]:
    """Every study in `folder` whose results.json exists, by name."""
    if not os.path.isdir(folder):
        raise RunDirError(f"{folder} does not exist: run a study first (python train_keras.py study NAME --data-dir "
                          f"DIR --out {folder}), or pass --studies with the folder of your studies")
    studies = {}
    for path in sorted(glob.glob(os.path.join(folder, "*", "results.json"))):
        results, here = read_json(path), os.path.dirname(path)
        charts = results.get("charts") or sorted(os.path.basename(p) for p in glob.glob(os.path.join(here, "*.png")))
        name = results.get("study", os.path.basename(here))
        studies[name] = StudyResult(name, tuple(int(q) for q in QUESTION.findall(str(results.get("questions", "")))),
                                    tuple(results.get("finding", [])), tuple(os.path.join(here, c) for c in charts),
                                    here)
    return studies
