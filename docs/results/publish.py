"""Publish run records and the tables made from them, so that no quoted number is typed by hand.

    python docs/results/publish.py add RUN_DIR NAME   # copy a finished run's records to docs/results/runs/NAME/
    python docs/results/publish.py                    # rewrite the README's Results table and docs/lab/report.md

A record is a run's config.json, history.csv and metrics.json (no checkpoints). The README's
Results table lies between the two RESULTS_* markers and is rewritten whole from the records;
tests/test_docs.py checks that it equals what this script makes of the committed records.
"""

import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from keras_cnn.files import read_json, write_json, write_text  # noqa: E402
from keras_cnn.history import read_history, summarize  # noqa: E402

RUNS = os.path.join("docs", "results", "runs")  # relative to the repository root, as the docs link them
RECORD_FILES = ("config.json", "history.csv", "metrics.json")
README = "README.md"
RESULTS_START = "<!-- RESULTS_START: made by docs/results/publish.py from docs/results/runs; do not edit -->"
RESULTS_END = "<!-- RESULTS_END -->"
LAB_REPORT = os.path.join("docs", "lab")

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
    if "default_checkpoint" not in metrics and read_json(os.path.join(target, "config.json"))["config"]["val_split"] == 0:
        # Written by keras-cnn 0.1, whose summary also named the test split's best epoch: derived again from
        # history.csv as keras-cnn 0.2 does (the same final-epoch figures), keeping the end-of-run evaluations.
        extra = {key: metrics[key] for key in ("final_test_accuracy_single_view",) if key in metrics}
        write_json(os.path.join(target, "metrics.json"),
                   summarize(read_history(os.path.join(target, "history.csv"))) | extra)
    return target


def load(name: str) -> dict | None:
    """A record's metrics.json and config.json ({"metrics", "config", "path"}), or None when it is not committed."""
    folder = os.path.join(REPO, RUNS, name)
    if not os.path.isfile(os.path.join(folder, "metrics.json")):
        return None
    return {"metrics": read_json(os.path.join(folder, "metrics.json")),
            "config": read_json(os.path.join(folder, "config.json")), "path": f"{RUNS}/{name}"}


def percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


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
            f"{lenet5['metrics']['epochs']} epochs | {percent(lenet5['metrics']['final_test_accuracy'])} | "
            f"{_points(lenet5['metrics']['train_test_gap'])} | [lab-lenet5]({lenet5['path']}) |"
        )
    for variant in LAB_VARIANTS:
        records = [load(record_name(variant, seed)) for seed in SEEDS]
        first = records[0]
        accuracies = " / ".join(percent(r["metrics"]["final_test_accuracy"]) if r else "–" for r in records)
        links = ", ".join(f"[{record_name(variant, seed)}]({r['path']})" for seed, r in zip(SEEDS, records) if r)
        protocol = f"CIFAR-10 JPEG copy, 50,000 train / 10,000 test, {first['metrics']['epochs']} epochs" if first else "not recorded yet"
        gap = _points(first["metrics"]["train_test_gap"]) if first else "–"
        lines.append(f"| `{variant}` | {protocol} | {accuracies} | {gap} | {links or '–'} |")
    return "\n".join(lines)


def _points(fraction: float | None) -> str:
    return "–" if fraction is None else f"{100 * fraction:+.1f} pp"


def rewrite_readme() -> None:
    path = os.path.join(REPO, README)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    before, rest = text.split(RESULTS_START)
    _, after = rest.split(RESULTS_END)
    write_text(path, f"{before}{RESULTS_START}\n{results_table()}\n{RESULTS_END}{after}")


def rewrite_lab_report() -> None:
    """docs/lab/report.md and its charts (the lab's main figure): `compare` over the seed-0 CIFAR-10 records that exist."""
    from keras_cnn.report import compare

    names = [record_name(variant) for variant in LAB_VARIANTS if load(record_name(variant))]
    if not names:
        return
    os.chdir(REPO)  # so the report names the records by their paths in the repository
    compare([os.path.join(RUNS, name) for name in names], out=LAB_REPORT, say=lambda *args: None)


if __name__ == "__main__":
    if sys.argv[1:2] == ["add"] and len(sys.argv) == 4:
        print(f"Recorded {sys.argv[2]} in {add(sys.argv[2], sys.argv[3])}")
    elif len(sys.argv) == 1:
        rewrite_readme()
        rewrite_lab_report()
        print(f"Rewrote {README}'s Results table and {LAB_REPORT}/report.md")
    else:
        raise SystemExit(__doc__)
