"""Publish run records and the tables made from them, so that no quoted number is typed by hand.

    python docs/results/publish.py add RUN_DIR NAME   # copy a finished run's records to docs/results/runs/NAME/
    python docs/results/publish.py                    # rewrite the README's Results table, docs/lab/report.md
                                                      # and its main figure, the selection of `best` in
                                                      # docs/results.md and the generated parts of docs/lab.md

A record is a run's config.json, history.csv and metrics.json (no checkpoints). The README's
Results table lies between the two RESULTS_* markers and is rewritten whole from the records;
tests/test_docs.py checks that it equals what this script makes of the committed records. So are the
parts of docs/lab.md between `<!-- GENERATED:name ... -->` and `<!-- /GENERATED:name -->`: every
measured number of that page lies in one of them.
"""

import os
import shutil
import sys
from collections.abc import Sequence

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # lab_numbers.py, beside this file

from keras_cnn.answers_records import final_result, read_lab  # noqa: E402
from keras_cnn.files import read_json, write_json, write_text  # noqa: E402
from keras_cnn.formatting import percent, points  # noqa: E402
from keras_cnn.history import diverged_epoch, read_history, summarize  # noqa: E402

RUNS = os.path.join("docs", "results", "runs")  # relative to the repository root, as the docs link them
RECORD_FILES = ("config.json", "history.csv", "metrics.json")
README = "README.md"
RESULTS_START = "<!-- RESULTS_START: made by docs/results/publish.py from docs/results/runs; do not edit -->"
RESULTS_END = "<!-- RESULTS_END -->"
LAB_REPORT = os.path.join("docs", "lab")

RESULTS_PAGE = os.path.join("docs", "results.md")
SELECTION_START = "<!-- SELECTION_START: made by docs/results/publish.py from docs/results/runs; do not edit -->"
SELECTION_END = "<!-- SELECTION_END -->"
# The candidates for `best`, declared before any of them ran (2026-12-04): record name -> the flags they add to
# `train --variant best --data-dir ../shared/data/cifar10-jpeg --epochs 30 --val-split 0.1 --mixed-precision`.
CANDIDATES = {"select-best": "", "select-wd1e-2": "--weight-decay 1e-2"}
BEST_SEEDS = ("best-seed0", "best-seed1", "best-seed2")  # the chosen recipe on all 50,000 images, --seed 0, 1, 2
TORCH_CONTROL = "torch-bn"  # benchmarks/torch_lab_run.py --epochs 30: the bn recipe written in PyTorch

# The lab's progression, in order: record name of each seed's run (seed 0 is the `lab` run).
LAB_VARIANTS = ("baseline", "norm", "augment", "momentum", "dropout", "bn")
SEEDS = (0, 1, 2)


def record_name(variant: str, seed: int = 0) -> str:
    """lab-bn for the lab's own run (seed 0), lab-bn-seed1 for the same command with --seed 1."""
    return f"lab-{variant}" + (f"-seed{seed}" if seed else "")


def add(run_dir: str, name: str) -> str:
    """Copy a finished run's records into docs/results/runs/NAME/ (an existing record of that name is replaced)."""
    if not os.path.isfile(os.path.join(run_dir, "metrics.json")):
        raise SystemExit(f"error: {run_dir} is not a finished run (no metrics.json): let it finish first")
    target = os.path.join(REPO, RUNS, name)
    os.makedirs(target, exist_ok=True)
    for file in RECORD_FILES:
        shutil.copyfile(os.path.join(run_dir, file), os.path.join(target, file))
    metrics = read_json(os.path.join(target, "metrics.json"))
    val_split = read_json(os.path.join(target, "config.json"))["config"]["val_split"]
    if "default_checkpoint" not in metrics and val_split == 0:
        # Written by keras-cnn 0.1, whose summary also named the test split's best epoch: derived again from
        # history.csv as keras-cnn 0.2 does (the same final-epoch figures), keeping the end-of-run evaluations.
        extra = {key: metrics[key] for key in ("final_test_accuracy_single_view",) if key in metrics}
        write_json(os.path.join(target, "metrics.json"),
                   summarize(read_history(os.path.join(target, "history.csv"))) | extra)
    return target


def load(name: str) -> dict | None:
    """A record's metrics.json, config.json and the epoch it diverged in, if any ({"metrics", "config", "diverged",
    "path"}), or None when it is not committed."""
    folder = os.path.join(REPO, RUNS, name)
    if not os.path.isfile(os.path.join(folder, "metrics.json")):
        return None
    return {"metrics": read_json(os.path.join(folder, "metrics.json")),
            "config": read_json(os.path.join(folder, "config.json")),
            "diverged": diverged_epoch(read_history(os.path.join(folder, "history.csv"))), "path": f"{RUNS}/{name}"}


def results_table() -> str:
    """The README's Results table: each lab step's final-epoch test accuracy per seed, from the records."""
    lines = [
        "| run | protocol | test accuracy, final epoch (seed 0 / 1 / 2) | train − test gap (seed 0) | records |",
        "|---|---|---|---|---|",
    ]
    lenet5 = load("lab-lenet5")
    if lenet5:
        data = lenet5["config"]["data"]
        lines.append(
            f"| `lenet5` | MNIST sample, {data['train_images']:,} train / {data['test_images']:,} test, "
            f"{lenet5['metrics']['epochs']} epochs | {percent(lenet5['metrics']['final_test_accuracy'], 2)} | "
            f"{points(lenet5['metrics']['train_test_gap'])} | [lab-lenet5]({lenet5['path']}) |"
        )
    for variant in LAB_VARIANTS:
        records, accuracies, links = _seed_cells([record_name(variant, seed) for seed in SEEDS])
        first = records[0]
        protocol = (f"CIFAR-10 JPEG copy, 50,000 train / 10,000 test, {first['metrics']['epochs']} epochs" if first
                    else "not recorded yet")
        gap = points(first["metrics"]["train_test_gap"]) if first and first["diverged"] is None else "–"
        lines.append(f"| `{variant}` | {protocol} | {accuracies} | {gap} | {links or '–'} |")
    torch = load(TORCH_CONTROL)
    if torch:
        lines.append(
            f"| `bn` in PyTorch (control: `benchmarks/torch_lab_run.py`) | the same data, recipe and "
            f"{torch['metrics']['epochs']} epochs, written in PyTorch | "
            f"{percent(torch['metrics']['final_test_accuracy'], 2)} | "
            f"{points(torch['metrics']['train_test_gap'])} | [{TORCH_CONTROL}]({torch['path']}) |"
        )
    best, accuracies, links = _seed_cells(BEST_SEEDS)
    if best[0]:
        mean = _mean_test_accuracy(best)
        shown = accuracies + (f" (mean {percent(mean, 2)})" if mean is not None else "")
        lines.append(
            f"| `best` (beyond the lab: recipe chosen on a validation split) | the same data, "
            f"{best[0]['metrics']['epochs']} epochs, `--mixed-precision`; each test image averaged over six views "
            f"(`--tta {best[0]['config']['config']['tta']}`) | {shown} | "
            f"{points(best[0]['metrics']['train_test_gap'])} | {links} |"
        )
    lines += fast_row()
    return "\n".join(lines)


def fast_row() -> list[str]:
    """The README's row of `fast`: its five seeds on all training images (docs/results/recipes.py)."""
    import recipes

    records, accuracies, links = _seed_cells(recipes.FAST_SEEDS)
    if not records[0]:
        return []
    mean = _mean_test_accuracy(records)
    shown = accuracies + (f" (mean {percent(mean, 2)})" if mean is not None else "")
    return [f"| `fast` (beyond the lab: `best` in 4 epochs, chosen on a validation split) | the same data, "
            f"{records[0]['metrics']['epochs']} epochs, `--mixed-precision`, six test views; seeds 0 to "
            f"{len(recipes.FAST_SEEDS) - 1} | {shown} | {points(records[0]['metrics']['train_test_gap'])} | {links} |"]


def selection_table() -> str:
    """docs/results.md's selection of `best`: each candidate's final validation accuracy, the chosen one, its seeds."""
    lines = ["| candidate | flags added | validation accuracy, final epoch (5,000 held out) | records |",
             "|---|---|---|---|"]
    records = {name: load(name) for name in CANDIDATES}
    finished = {name: r for name, r in records.items() if r}
    chosen = max(finished, key=lambda name: finished[name]["metrics"]["final_val_accuracy"]) \
        if len(finished) == len(CANDIDATES) else None
    for name, flags in CANDIDATES.items():
        record = records[name]
        accuracy = percent(record["metrics"]["final_val_accuracy"], 2) if record else "not run yet"
        mark = " **(chosen)**" if name == chosen else ""
        added = f"`{flags}`" if flags else "none (`best` as it is)"
        lines.append(f"| {name}{mark} | {added} | {accuracy} | {_link(name, record)} |")
    if chosen is None:
        lines.append("")
        lines.append("Selection pending: not every candidate has finished.")
        return "\n".join(lines)
    seeds = [load(name) for name in BEST_SEEDS]
    lines += ["", f"The chosen recipe (`{CANDIDATES[chosen] or 'best as it is'}`) on all 50,000 training images, "
              "final-epoch test accuracy (read once per seed):", "",
              "| seed | test accuracy, final epoch | records |", "|---|---|---|"]
    for seed, (name, record) in enumerate(zip(BEST_SEEDS, seeds)):
        accuracy = _accuracy(record) if record else "not run yet"
        lines.append(f"| {seed} | {accuracy} | {_link(name, record)} |")
    mean = _mean_test_accuracy(seeds)
    if mean is not None:
        lines.append(f"| mean of {len(_finished(seeds))} | **{percent(mean, 2)}** | |")
    return "\n".join(lines)


def _seed_cells(names: Sequence[str]) -> tuple[list[dict | None], str, str]:
    """The records of one recipe's seeds, their test accuracies ("a / b / –") and the links to those committed."""
    records = [load(name) for name in names]
    accuracies = " / ".join(_accuracy(r) if r else "–" for r in records)
    links = ", ".join(f"[{name}]({r['path']})" for name, r in zip(names, records) if r)
    return records, accuracies, links


def _accuracy(record: dict) -> str:
    """A record's final test accuracy, or the epoch it diverged in."""
    return final_result(record["metrics"], record["diverged"])


def _finished(records: Sequence[dict]) -> list[dict]:
    """The records whose training loss stayed finite: a diverged run's final accuracy is no result."""
    return [record for record in records if record["diverged"] is None]


def _mean_test_accuracy(records: Sequence[dict | None]) -> float | None:
    """The mean final-epoch test accuracy of a recipe's finished seeds, or None until every seed's record is committed
    (or none finished)."""
    if not all(records) or not _finished(records):
        return None
    return sum(r["metrics"]["final_test_accuracy"] for r in _finished(records)) / len(_finished(records))


def _link(name: str, record: dict | None, page_folder: str = "docs") -> str:
    """A Markdown link to a record from a page in `page_folder` (docs/results.md: docs)."""
    return f"[{name}]({os.path.relpath(record['path'], page_folder)})" if record else "–"


def rewrite_between(page: str, start: str, end: str, table: str) -> None:
    """Replace what lies between the `start` and `end` markers of `page` with `table`."""
    path = os.path.join(REPO, page)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    before, rest = text.split(start)
    _, after = rest.split(end)
    write_text(path, f"{before}{start}\n{table}\n{end}{after}")


def rewrite_lab_report() -> None:
    """docs/lab/report.md and its charts: `compare` over the seed-0 CIFAR-10 records that exist; then the lab's main
    figure, test_accuracy.png, replaced by every finished seed of every variant (mean line and min-max band)."""
    from keras_cnn.answers_output import plot_progression
    from keras_cnn.report import compare

    names = [record_name(variant) for variant in LAB_VARIANTS if load(record_name(variant))]
    if not names:
        return
    os.chdir(REPO)  # so the report names the records by their paths in the repository
    compare([os.path.join(RUNS, name) for name in names], out=LAB_REPORT, say=lambda *args: None)
    variants = [variant for name, variant in read_lab(RUNS).items() if name in LAB_VARIANTS and variant.finished]
    plot_progression(variants, os.path.join(LAB_REPORT, "test_accuracy.png"))


LAB_PAGE = os.path.join("docs", "lab.md")

# The README's inspection pictures: `inspect` of the last epoch of this committed run, copied into docs/inspect/NAME/.
INSPECTED = "lab-dropout-seed1"
INSPECT_START = "<!-- INSPECT_START: made by docs/results/publish.py from docs/results/runs; do not edit -->"
INSPECT_END = "<!-- INSPECT_END -->"


def inspect_caption() -> str:
    """The caption of the README's inspection pictures: which run, which checkpoint, its accuracy from metrics.json."""
    record = load(INSPECTED)
    if record is None:
        return f"The pictures come from the committed run {INSPECTED} once its record is in {RUNS}."
    config, metrics = record["config"]["config"], record["metrics"]
    return (f"From the last epoch (`last.keras`) of the committed run [{INSPECTED}]({record['path']}) "
            f"(`{config['variant']}`, `--seed {config['seed']}`, {metrics['epochs']} epochs on all the training "
            "images): "
            f"test accuracy {percent(metrics['final_test_accuracy'], 2)} (its `metrics.json`); per class: "
            f"[report](docs/inspect/{INSPECTED}/report.md).")


def generated_markers(name: str) -> tuple[str, str]:
    """The markers around the generated part `name` of docs/lab.md."""
    return f"<!-- GENERATED:{name}: made by docs/results/publish.py; do not edit -->", f"<!-- /GENERATED:{name} -->"


def lab_parts() -> dict[str, str]:
    """The generated parts of docs/lab.md, by name: every number they show is read from a record or the code."""
    from lab_numbers import describe_table, normalization_table, progression_table

    return {"normalization": normalization_table(RUNS), "describe": describe_table(),
            "progression": progression_table(RUNS)}


def rewrite_recipes_section() -> None:
    """docs/results.md's generated parts on `fast`: the ablation and the seeds (docs/results/recipes.py)."""
    import recipes

    for name, text in recipes.tables().items():
        rewrite_between(RESULTS_PAGE, *generated_markers(name), text)


def rewrite_lab_page() -> None:
    for name, text in lab_parts().items():
        rewrite_between(LAB_PAGE, *generated_markers(name), text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["add"] and len(sys.argv) == 4:
        print(f"Recorded {sys.argv[2]} in {add(sys.argv[2], sys.argv[3])}")
    elif len(sys.argv) == 1:
        rewrite_between(README, RESULTS_START, RESULTS_END, results_table())
        rewrite_between(RESULTS_PAGE, SELECTION_START, SELECTION_END, selection_table())
        rewrite_lab_report()
        rewrite_lab_page()
        rewrite_recipes_section()
        rewrite_between(README, INSPECT_START, INSPECT_END, inspect_caption())
        print(f"Rewrote {README}'s Results table, {LAB_REPORT}/report.md and its figure, the selection and "
              f"the recipes' tables in {RESULTS_PAGE} and the generated parts of {LAB_PAGE}")
    else:
        raise SystemExit(__doc__)
