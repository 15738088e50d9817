"""The README and docs/: every relative link and image resolves, every anchor names a heading, the README is short."""

import json
import math
import re
from pathlib import Path

import pytest
from conftest import check_study_report

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # a "# comment" in a code block is no heading
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+://|mailto:", target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_and_image_resolves(page):
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.relative_to(REPO)}: {target} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{page.relative_to(REPO)}: {target} names no heading of {file.name}"


def test_the_readme_is_a_short_front_door():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) < 220
    first = readme.splitlines()[:6]
    assert any("pip install -r requirements.txt && python train_keras.py train --variant bn" in line for line in first)
    assert any("python -m pytest" in line for line in first)
    assert all(f"docs/{page.name}" in readme for page in (REPO / "docs").glob("*.md"))  # every page is reachable


def publish_module():
    """docs/results/publish.py, which writes the README's Results table from the committed run records."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("publish", REPO / "docs" / "results" / "publish.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_results_table_is_the_one_made_from_the_committed_records():
    publish = publish_module()
    readme = (REPO / "README.md").read_text()
    table = readme.split(publish.RESULTS_START)[1].split(publish.RESULTS_END)[0].strip()
    assert table == publish.results_table(), "run `python docs/results/publish.py` after adding a record"


def test_the_selection_of_best_in_docs_results_is_the_one_made_from_the_committed_records():
    publish = publish_module()
    page = (REPO / "docs" / "results.md").read_text()
    table = page.split(publish.SELECTION_START)[1].split(publish.SELECTION_END)[0].strip()
    assert table == publish.selection_table(), "run `python docs/results/publish.py` after adding a record"


def test_the_ablation_and_fast_tables_in_docs_results_are_the_ones_made_from_the_committed_records():
    publish_module()  # puts docs/results on the path
    import recipes

    found = dict(GENERATED.findall((REPO / "docs" / "results.md").read_text()))
    assert found == recipes.tables(), "run `python docs/results/publish.py` after adding a record"


def test_every_accuracy_in_the_readme_results_table_equals_a_committed_record():
    publish = publish_module()
    readme = (REPO / "README.md").read_text()
    rows = readme.split(publish.RESULTS_START)[1].split(publish.RESULTS_END)[0].strip().splitlines()[2:]
    for row in rows:
        *_, accuracies, _, records = [cell.strip() for cell in row.strip("|").split("|")]
        mean = re.findall(r"\(mean (\d+\.\d\d)%\)", accuracies)
        seeds = [cell.strip() for cell in re.sub(r"\(mean [^)]*\)", "", accuracies).split(" / ") if cell.strip() != "–"]
        folders = re.findall(r"\]\(([^)]+)\)", records)
        assert len(seeds) == len(folders), row  # every seed's cell has its record, every record its cell
        found = []
        for cell, folder in zip(seeds, folders):
            metrics = json.loads((REPO / folder / "metrics.json").read_text())
            history = (REPO / folder / "history.csv").read_text().splitlines()
            assert len(history) == 1 + metrics["epochs"] and (REPO / folder / "config.json").is_file()
            losses = [line.split(",")[history[0].split(",").index("loss")] for line in history[1:]]
            if cell.startswith("diverged"):  # named by the first epoch whose training loss is no finite number
                epoch = next(i for i, loss in enumerate(losses, 1) if not math.isfinite(float(loss)))
                assert cell == f"diverged in epoch {epoch}", (row, folder)
                continue
            assert all(math.isfinite(float(loss)) for loss in losses), (row, folder)
            found.append(metrics["final_test_accuracy"])
            assert f"{100 * metrics['final_test_accuracy']:.2f}%" == cell, (row, folder)
        if mean:  # a mean is the mean of the row's own finished records
            assert f"{100 * sum(found) / len(found):.2f}" == mean[0], row


def test_the_committed_records_are_not_git_ignored():
    """A record the docs quote must reach a clean clone: an ignore rule for run folders must not match it."""
    import subprocess

    records = sorted((REPO / "docs" / "results" / "runs").glob("*/*"))
    if not records or not (REPO / ".git").exists():
        pytest.skip("no records, or not a git checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", *map(str, records)], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    assert not ignored, f"git ignores these records, so a clean clone lacks them: {ignored}"


@pytest.mark.parametrize("folder", sorted(path.parent for path in (REPO / "docs" / "studies").glob("*/results.json")),
                         ids=lambda path: path.name)
def test_every_published_study_quotes_its_committed_run_records(folder):
    check_study_report(folder)


@pytest.mark.parametrize("folder", sorted(path.parent for path in (REPO / "docs" / "studies").glob("*/results.json")),
                         ids=lambda path: path.name)
def test_every_published_finding_is_what_the_rule_says_of_its_committed_records(folder):
    """The finding, recomputed now from the committed run records by the study's finding function (and so by the
    rule of keras_cnn/studies/noise.py), is word for word the published one."""
    from keras_cnn.studies import STUDIES
    from keras_cnn.studies.results import collect

    published = json.loads((folder / "results.json").read_text())
    runs = {run: (values["point"], values["seed"]) for run, values in published["runs"].items()}
    points = {point: summary["settings"] for point, summary in published["points"].items()}
    results = collect(str(folder), runs, points)
    results.analysis = published["analysis"]
    assert STUDIES[folder.name].finding(results) == published["finding"]


LAB_PAGE = REPO / "docs" / "lab.md"
GENERATED = re.compile(r"<!-- GENERATED:([\w-]+):.*?-->\n(.*?)\n<!-- /GENERATED:\1 -->", re.S)
# What a measurement looks like: a percentage, a difference in points, a time, or a value with three or more
# decimals (losses, statistics). Settings (lr 0.01) and the architecture's sizes (5x5, 1,000 units) are definitions
# that tests/test_config.py and tests/test_analysis.py check against the code.
MEASURED = re.compile(r"\d+(\.\d+)?\s?%|\d\.\d{3,}|\d\s?pp\b|\d points|\d+ (s|seconds|minutes|hours)\b")


def test_the_generated_parts_of_docs_lab_are_the_ones_made_from_the_records_and_the_code():
    publish = publish_module()
    found = dict(GENERATED.findall(LAB_PAGE.read_text()))
    assert found == publish.lab_parts(), "run `python docs/results/publish.py` after adding a record"


def test_docs_lab_quotes_no_measured_number_outside_its_generated_parts():
    text = re.sub(r"```.*?```", "", GENERATED.sub("", LAB_PAGE.read_text()), flags=re.S)
    typed = [line for line in text.splitlines() if MEASURED.search(line)]
    assert not typed, f"a measured number typed by hand in docs/lab.md: {typed}"


def test_the_describe_excerpt_in_docs_lab_is_what_describe_prints():
    from keras_cnn.analysis import describe, format_text

    block = re.search(r"```\n\$ python train_keras.py describe --variant bn --input-size 64 64\n(.*?)```",
                      LAB_PAGE.read_text(), re.S)[1]
    printed = format_text(describe("bn", (64, 64))).splitlines()
    for line in filter(None, block.splitlines()):
        assert line == "..." or line in printed, line


def test_the_readme_inspection_caption_is_made_from_its_runs_record():
    publish = publish_module()
    readme = (REPO / "README.md").read_text()
    caption = readme.split(publish.INSPECT_START)[1].split(publish.INSPECT_END)[0].strip()
    assert caption == publish.inspect_caption(), "run `python docs/results/publish.py` after adding a record"
    record = REPO / publish.RUNS / publish.INSPECTED / "metrics.json"
    if record.exists():  # the accuracy quoted is the one of the last epoch, whose checkpoint the pictures show
        import json

        accuracy = json.loads(record.read_text())["final_test_accuracy"]
        assert f"test accuracy {100 * accuracy:.2f}%" in caption
