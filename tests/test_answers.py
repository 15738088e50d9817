"""`answers`: the lab's answer sheet, made from a fresh tiny lab and study, and the committed one from the records."""

import csv
import json
import math
import re
import statistics
from pathlib import Path

import pytest
from conftest import STUDY_TINY, write_image_folder
from scipy import stats

import train_keras
from keras_cnn.answers_records import SeedRun, Variant, compare

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "docs" / "answers"
# --lab, --studies and --out of the committed sheet, from the repository root
COMMITTED_ARGS = ("docs/results/runs", "docs/studies", "docs/answers")


def pdf_text(path: Path) -> str:
    """The PDF's text, read back by pypdf, with runs of white space as one space."""
    from pypdf import PdfReader

    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in PdfReader(path).pages))


def section(text: str, number: int) -> str:
    """The text of question `number`, from its heading to the next question's."""
    start = re.search(rf"\bQ{number}\. ", text).start()
    end = re.search(rf"\bQ{number + 1}\. ", text)
    return text[start:end.start() if end else None]


def shown(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """At a tiny scale: lab's baseline and norm (and norm with --seed 1), the dropout-modes study, then `answers`."""
    work = tmp_path_factory.mktemp("answers")
    data = write_image_folder(work / "cifar", classes=[f"class{i}" for i in range(10)], train=4, test=2)
    lab, studies = work / "lab", work / "studies"
    common = ["--data-dir", str(data), "--epochs", "2", "--verbose", "0", "--no-tensorboard"]
    assert train_keras.main(["lab", "--variants", "baseline,norm", "--out", str(lab), *common]) == 0
    assert train_keras.main(["train", "--variant", "norm", "--seed", "1", "--run-dir", str(lab / "norm-seed1"),
                             *common]) == 0
    tiny_study = ["--limit", "20", *STUDY_TINY[2:]]  # conftest's scale, with every one of the ten classes
    assert train_keras.main(["study", "dropout-modes", "--data-dir", str(data), "--out", str(studies),
                             *tiny_study]) == 0
    assert train_keras.main(["answers", "--lab", str(lab), "--studies", str(studies), "--out",
                             str(work / "sheet")]) == 0
    return work


def metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def test_the_tiny_sheet_is_a_pdf_that_names_every_question(tiny):
    text = pdf_text(tiny / "sheet" / "answers.pdf")
    assert all(re.search(rf"\bQ{n}\. ", text) for n in range(1, 35))
    assert "Part 3" in text and "Batch normalization (bn):" in text  # Part 3's one sentence per method


def test_the_tiny_sheet_quotes_every_seed_and_their_mean_from_the_records(tiny):
    text = pdf_text(tiny / "sheet" / "answers.pdf")
    norm = [metrics(tiny / "lab" / name)["final_test_accuracy"] for name in ("norm", "norm-seed1")]
    answer = section(text, 19)
    assert f"{shown(norm[0])} (seed 0), {shown(norm[1])} (seed 1)" in answer
    mean = f"test accuracy {shown(statistics.mean(norm))} (mean), range {shown(min(norm))} to {shown(max(norm))}"
    assert mean in answer
    assert f"test accuracy {shown(metrics(tiny / 'lab' / 'baseline')['final_test_accuracy'])};" in section(text, 15)


def test_the_tiny_sheet_invents_no_number_in_a_variants_results(tiny):
    markdown = (tiny / "sheet" / "answers.md").read_text()
    measured = next(line for line in section(markdown, 19).splitlines() if line.startswith("**Measured**"))
    norm = [metrics(tiny / "lab" / name) for name in ("norm", "norm-seed1")]
    accuracies = [m["final_test_accuracy"] for m in norm]
    allowed = {shown(x) for x in [*accuracies, statistics.mean(accuracies),
                                  statistics.mean(m["final_train_accuracy"] for m in norm),
                                  metrics(tiny / "lab" / "baseline")["final_test_accuracy"]]}
    assert set(re.findall(r"\d+\.\d\d%", measured)) <= allowed


def test_the_tiny_sheet_names_the_command_of_every_missing_run_and_study(tiny):
    markdown = (tiny / "sheet" / "answers.md").read_text()
    lab = tiny / "lab"
    assert f"`python train_keras.py lab --variants augment --data-dir DIR --out {lab}`" in section(markdown, 22)
    study = f"`python train_keras.py study momentum-decay --data-dir DIR --out {tiny / 'studies'}`"
    assert study in section(markdown, 27)
    finding = json.loads((tiny / "studies" / "dropout-modes" / "results.json").read_text())["finding"]
    assert " ".join(finding) in section(markdown, 33)


def test_a_missing_lab_folder_is_one_line_with_the_fix(tmp_path, capsys):
    assert train_keras.main(["answers", "--lab", str(tmp_path / "nowhere"), "--out", str(tmp_path / "sheet")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "train the lab first (python train_keras.py lab" in error


def variant(name: str, *accuracies: float) -> Variant:
    runs = tuple(SeedRun("", seed, {"final_test_accuracy": a}, {}, []) for seed, a in enumerate(accuracies))
    return Variant(name, runs)


@pytest.mark.parametrize("a, b", [
    ((0.80, 0.81, 0.82), (0.765, 0.775, 0.805)),  # the seeds' ranges overlap, the means differ by more than 2 SE
    ((0.80, 0.90), (0.78, 0.79)),  # the ranges are apart, the means differ by less than 2 SE
])
def test_a_lab_comparison_follows_the_studies_rule_where_the_seeds_ranges_say_otherwise(a, b):
    welch = stats.ttest_ind(a, b, equal_var=False).statistic
    ranges_overlap = min(a) <= max(b)
    assert ranges_overlap == (abs(welch) > 2)  # the cases where the two rules disagree
    verdict = "measurable" if abs(welch) > 2 else "not measurable"
    shift = f"{100 * (statistics.mean(a) - statistics.mean(b)):+.1f} pp"
    assert compare(variant("a", *a), variant("b", *b)).startswith(f"{shift}, {verdict} (2 SE ")


def test_one_seed_makes_no_difference_measurable():
    assert compare(variant("a", 0.90), variant("b", 0.80, 0.81)) == "+9.5 pp, not measurable (one seed: no spread)"


def made_up_run(seed: int, accuracy: float, diverged_in: int | None = None, epochs: int = 4) -> SeedRun:
    """A run of `epochs` epochs, train accuracy 0.95 + epoch / 100; from epoch `diverged_in` on its loss is NaN, it
    stops there and its final test accuracy is chance, as a diverged run's records are."""
    last = diverged_in or epochs
    rows = [{"epoch": epoch, "accuracy": 0.95 + epoch / 100, "test_accuracy": accuracy,
             "loss": math.nan if epoch == diverged_in else 0.1} for epoch in range(1, last + 1)]
    final = 0.1 if diverged_in else accuracy
    metrics = {"final_test_accuracy": final, "final_train_accuracy": rows[-1]["accuracy"],
               "train_test_gap": rows[-1]["accuracy"] - final, "min_test_loss": 0.8, "min_test_loss_epoch": 2,
               "final_test_loss": None if diverged_in else 1.0}
    return SeedRun("", seed, metrics, {"config": {"epochs": epochs}}, rows)


def test_a_diverged_seed_is_named_and_left_out_of_the_mean_range_and_comparison():
    from keras_cnn.answers import results_sentence

    norm = Variant("norm", (made_up_run(0, 0.75), made_up_run(1, 0.74, diverged_in=3), made_up_run(2, 0.76)))
    finished = Variant("norm", (made_up_run(0, 0.75), made_up_run(2, 0.76)))
    baseline = variant("baseline", 0.70, 0.71, 0.72)
    assert norm.mean() == pytest.approx(statistics.mean([0.75, 0.76])) and (norm.low, norm.high) == (0.75, 0.76)
    assert norm.mean("train_test_gap") == pytest.approx(statistics.mean([0.99 - 0.75, 0.99 - 0.76]))
    assert compare(norm, baseline) == compare(finished, baseline)
    named = "seed 1 diverged (loss NaN in epoch 3 of 4, after train accuracy 97.0% in epoch 2)"
    assert norm.divergence_text() == f"2 of 3 seeds finished, 75.00% and 76.00%; {named}"
    sentence = results_sentence(norm, [baseline])
    assert sentence.startswith(f"**Measured** (2 of 3 seeds finished: 75.00% (seed 0), 76.00% (seed 2); {named}): "
                               "test accuracy **75.50%** (mean), range 75.00% to 76.00%")
    assert "10.00%" not in sentence  # the diverged run's final accuracy is no result


def diverged_in(folder: Path) -> int | None:
    """The first epoch whose training loss in history.csv is not a finite number."""
    with open(folder / "history.csv", newline="") as f:
        return next((int(row["epoch"]) for row in csv.DictReader(f) if not math.isfinite(float(row["loss"]))), None)


def test_the_committed_sheet_is_the_one_made_from_the_committed_records(monkeypatch):
    from keras_cnn.answers import sheet, to_markdown
    from keras_cnn.answers_records import read_lab, read_studies

    monkeypatch.chdir(REPO)
    lab, studies, out = COMMITTED_ARGS
    made = to_markdown(sheet(read_lab(lab), read_studies(studies), lab, studies, out, draw=False), out)
    assert (COMMITTED / "answers.md").read_text() == made, \
        "run `python train_keras.py answers --lab docs/results/runs --studies docs/studies --out docs/answers`"


def test_every_result_in_the_committed_pdf_equals_its_records():
    text = pdf_text(COMMITTED / "answers.pdf")
    assert all(re.search(rf"\bQ{n}\. ", text) for n in range(1, 35))
    runs = REPO / "docs" / "results" / "runs"
    questions = {"lenet5": 13, "baseline": 15, "norm": 19, "augment": 22, "momentum": 26, "dropout": 29, "bn": 34}
    for name, number in questions.items():
        folders = [folder for folder in sorted(runs.glob(f"lab-{name}-seed*")) + [runs / f"lab-{name}"]
                   if (folder / "metrics.json").exists()]
        accuracies = [metrics(folder)["final_test_accuracy"] for folder in folders if diverged_in(folder) is None]
        answer = section(text, number)
        assert all(shown(accuracy) in answer for accuracy in accuracies), name
        assert f"test accuracy {shown(statistics.mean(accuracies))}" in answer, name
        for folder in (folder for folder in folders if diverged_in(folder) is not None):  # named, not averaged
            seed = json.loads((folder / "config.json").read_text())["config"]["seed"]
            assert f"seed {seed} diverged (loss NaN in epoch {diverged_in(folder)} of" in answer, folder.name
