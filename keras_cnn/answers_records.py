"""The records the answer sheet is made from: every seed of the lab's runs, and the studies' results.json.

A lab folder holds one run folder per variant and seed, named as `lab` writes them (`bn`, and `bn-seed1`
for the same command with --seed 1) or as the committed records are (`lab-bn`, `lab-bn-seed1`). A
study is read only through the keys of its results.json that stay: "study", "questions", "finding",
and "charts" (else every PNG beside it).
"""

import glob
import math
import os
import re
from dataclasses import dataclass

from keras_cnn.errors import RunDirError
from keras_cnn.files import read_json
from keras_cnn.formatting import finite, percent
from keras_cnn.history import diverged_epoch, read_history
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
    f"comparison gives the difference of the means, its verdict and {STANDARD_ERRORS} SE. A seed whose training loss "
    "became NaN or infinite diverged: it is named, and left out of every mean, range and comparison."
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

    @property
    def diverged_epoch(self) -> int | None:
        """The epoch whose training loss became NaN or infinite, as the studies detect it (None: it finished)."""
        return diverged_epoch(self.rows)

    def final_result(self) -> str:
        """The final test accuracy, or where the run diverged: "75.60%", "diverged in epoch 23"."""
        return final_result(self.metrics, self.diverged_epoch)

    def before_divergence(self) -> dict | None:
        """The last epoch's row before the run diverged (None: it diverged in its first epoch, or never)."""
        epoch = self.diverged_epoch
        return next((row for row in reversed(self.epochs) if row["epoch"] < epoch), None) if epoch else None

    def divergence_text(self) -> str:
        """"seed 1 diverged (loss NaN in epoch 23 of 30, after train accuracy 99.8% in epoch 22)"."""
        epoch, planned = self.diverged_epoch, self.record["config"]["epochs"]
        loss = next(row.get("loss") for row in self.epochs if row["epoch"] == epoch)
        text = f"seed {self.seed} diverged (loss {_not_finite(loss)} in epoch {epoch} of {planned}"
        if before := self.before_divergence():
            text += f", after train accuracy {percent(before['accuracy'])} in epoch {before['epoch']}"
        return text + ")"


def final_result(metrics: dict, diverged: int | None) -> str:
    """A run's final test accuracy, or the epoch it diverged in (its final accuracy then is no result)."""
    return percent(metrics["final_test_accuracy"], 2) if diverged is None else f"diverged in epoch {diverged}"


def _not_finite(value) -> str:
    if value is None:
        return "missing"
    return "NaN" if math.isnan(value) else "infinite"


@dataclass(frozen=True)
class Variant:
    """Every recorded seed of one lab variant, sorted by seed; the values, means and ranges are the finished seeds'."""

    name: str
    runs: tuple[SeedRun, ...]

    @property
    def finished(self) -> tuple[SeedRun, ...]:
        return tuple(run for run in self.runs if run.diverged_epoch is None)

    @property
    def diverged(self) -> tuple[SeedRun, ...]:
        return tuple(run for run in self.runs if run.diverged_epoch is not None)

    def values(self, key: str = "final_test_accuracy") -> list[float]:
        """A metrics.json value of every finished seed (a diverged seed's final values are no result)."""
        return [run.metrics[key] for run in self.finished]

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

    def seeds_count(self) -> str:
        """The seeds counted in a table: "3", or "2 of 3" when one diverged."""
        return str(len(self.runs)) if not self.diverged else f"{len(self.finished)} of {len(self.runs)}"

    def seeds_phrase(self) -> str:
        """The seeds counted in a sentence: "1 seed", "3 seeds", "2 of 3 seeds finished"."""
        return f"{self.seeds_count()} seed{'s' if len(self.runs) > 1 else ''}{' finished' if self.diverged else ''}"

    def divergence_text(self) -> str:
        """The finished seeds' accuracies and how the others diverged ("" when none did): "2 of 3 seeds finished,
        75.06% and 75.60%; seed 1 diverged (loss NaN in epoch 23 of 30, after train accuracy 99.8% in epoch 22)"."""
        if not self.diverged:
            return ""
        accuracies = [run.final_result() for run in self.finished]
        finished = self.seeds_phrase() + (f", {_listed(accuracies)}" if accuracies else "")
        return "; ".join([finished, *(run.divergence_text() for run in self.diverged)])


def _listed(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


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
