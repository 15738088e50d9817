"""The records the answer sheet is made from: every seed of the lab's runs, and the studies' results.json.

A lab folder holds one run folder per variant and seed, named as `lab` writes them (`bn`, and `bn-seed1`
for the same command with --seed 1) or as the committed records are (`lab-bn`, `lab-bn-seed1`). A
study is read only through the keys of its results.json that stay: "study", "questions", "finding",
and "charts" (else every PNG beside it).
"""

import glob
import os
import re
from dataclasses import dataclass

from keras_cnn.errors import RunDirError
from keras_cnn.files import read_json
from keras_cnn.formatting import finite
from keras_cnn.history import read_history
from keras_cnn.studies.noise import STANDARD_ERRORS, Summary, delta_text, difference, summarize

LAB_ORDER = ("lenet5", "baseline", "norm", "augment", "momentum", "dropout", "bn")
RUN_NAME = re.compile(rf"^(?:lab-)?(?P<variant>{'|'.join(LAB_ORDER)})(?:-seed(?P<seed>\d+))?$")
QUESTION = re.compile(r"Q(\d+)")
LAST_EPOCHS = 5  # the stability of a run's end: the range of its last five epochs' test accuracy

# The studies' rule (keras_cnn/studies/noise.py) in the words of docs/studies.md, shown wherever variants are compared.
DIFFERENCE_RULE = (
    "Two variants differ measurably when the difference of their mean final test accuracies is larger than "
    f"{STANDARD_ERRORS} times its standard error, sqrt(s_a^2/n_a + s_b^2/n_b), with s the sample standard deviation "
    f"of each variant's seeds (Welch's t statistic above {STANDARD_ERRORS}); one seed gives no spread, so nothing is "
    "measurable from it. This is the studies' rule (docs/studies.md, \"When a difference is measurable\"): each "
    f"comparison gives the difference of the means, its verdict and {STANDARD_ERRORS} SE."
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

    def summary(self, key: str = "final_test_accuracy") -> Summary:
        """The seeds' values as the studies summarize a grid point: mean, sample standard deviation, range."""
        return summarize(self.values(key))

    def mean(self, key: str = "final_test_accuracy") -> float | None:
        return self.summary(key).mean

    @property
    def low(self) -> float | None:
        return self.summary().low

    @property
    def high(self) -> float | None:
        return self.summary().high


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
    """`variant` minus `other` in mean final test accuracy, with its verdict by the studies' rule (DIFFERENCE_RULE):
    "+0.7 pp, measurable (2 SE 0.6 pp)"."""
    return delta_text(difference(variant.summary(), other.summary()))


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
