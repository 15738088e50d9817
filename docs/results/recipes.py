"""The recipes beyond the lab: the ablation behind `fast`, and the seeds of `fast` and `best`, from records.

    python docs/results/recipes.py run --out DIR [--data-dir ../shared/data/cifar10-jpeg]  # train what is missing
    python docs/results/recipes.py commands                                                 # the runs, as commands
    python docs/results/publish.py                                   # rewrites the tables (calls `tables`)

Each ablation run is `train` with ABLATION_BASE and its flags, on 45,000 training images with
5,000 held out (--val-split 0.1), read by its final-epoch validation accuracy; the test split
takes no part. A row is one setting, alone on the base or stacked on the row above, with
SEEDS seeds; a difference counts only by the studies' rule (keras_cnn/studies/noise.py: more
than 2 standard errors). `run` trains the missing runs one after the other (an interrupted one
resumes), `publish.py add` then copies their records to docs/results/runs/.
"""

import argparse
import os
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from keras_cnn.files import read_json  # noqa: E402
from keras_cnn.history import read_history  # noqa: E402
from keras_cnn.studies import noise  # noqa: E402

RUNS = os.path.join("docs", "results", "runs")
TARGET = 0.82  # the lab's `bn` after 30 epochs: what `fast` must reach in 4
SEEDS = (0, 1, 2)
ABLATION_BASE = "--variant best --epochs 4 --val-split 0.1 --mixed-precision"  # `best`, cut to 4 epochs
# Each technique alone on the base: record slug -> flags added. Declared before the seeds ran.
ALONE = {
    "base": "",
    "lr0.2": "--lr 0.2",
    "whiten": "--whiten-conv1",
    "whiten-freeze": "--whiten-conv1 --freeze-conv1",
    "altflip": "--augment pad-crop32,alt-flip",
    "bnm0.6": "--bn-momentum 0.6",
    "ema0.995": "--ema-momentum 0.995",
    "ls0.2": "--label-smoothing 0.2",
    "batch256": "--batch-size 256 --lr 0.1",  # twice the batch, twice the rate
}
# Stacked, each row on the one above: slug -> flags of the whole recipe. The last row is `fast`.
STACK = {"base": "", "lr0.2": "--lr 0.2", "lr0.2-whiten": "--lr 0.2 --whiten-conv1"}
# best's ceiling: one run of 90 epochs; then candidates that might raise it, 30 epochs each (validation split).
CEILING = "ceiling-best-90"  # train --variant best --epochs 90 --val-split 0.1 --mixed-precision
# Flags added to select-best's command, each candidate declared before it ran.
CEILING_CANDIDATES = {"select-best": "", "select-whiten": "--whiten-conv1"}
FAST_SEEDS = tuple(f"fast-seed{seed}" for seed in range(5))  # train --variant fast --seed N, all 50,000 images


def record(slug: str, seed: int) -> str:
    return f"ablation-{slug}-seed{seed}"


def runs() -> dict[str, str]:
    """Every run the tables need: record name -> its train flags."""
    rows = ALONE | STACK
    ablation = {record(slug, seed): f"{ABLATION_BASE} {flags} --seed {seed}".replace("  ", " ")
                for slug, flags in rows.items() for seed in SEEDS}
    return ablation | {name: f"--variant fast --mixed-precision --seed {seed}" for seed, name in enumerate(FAST_SEEDS)}


def load_run(name: str) -> dict | None:
    folder = os.path.join(REPO, RUNS, name)
    if not os.path.isfile(os.path.join(folder, "metrics.json")):
        return None
    return {"metrics": read_json(os.path.join(folder, "metrics.json")),
            "history": read_history(os.path.join(folder, "history.csv")), "path": f"{RUNS}/{name}"}


def first_epoch_at(history: list[dict], target: float = TARGET) -> int | None:
    """The first epoch whose validation accuracy reaches `target`."""
    return next((int(row["epoch"]) for row in history if (row.get("val_accuracy") or 0) >= target), None)


def row_summary(slug: str) -> tuple[noise.Summary, list[dict]]:
    """A row's final validation accuracies over its committed seeds, and those records."""
    records = [r for r in (load_run(record(slug, seed)) for seed in SEEDS) if r]
    return noise.summarize(r["metrics"]["final_val_accuracy"] for r in records), records


def ablation_table(rows: dict[str, str], reference: dict[str, str]) -> str:
    """One line per row: its flags, its seeds' final validation accuracy, the difference from its reference row
    by the studies' rule, and the epoch each seed first reached TARGET."""
    lines = [f"| row | flags added to `{ABLATION_BASE}` | validation accuracy, final epoch | "
             f"difference from {'the row above' if rows is STACK else 'base'} | first epoch at {TARGET:.0%} | "
             "records |", "|---|---|---|---|---|---|"]
    for slug, flags in rows.items():
        summary, records = row_summary(slug)
        other = reference.get(slug)
        change = noise.delta_text(noise.difference(summary, row_summary(other)[0])) if other else "–"
        epochs = [first_epoch_at(r["history"]) for r in records]
        reached = " / ".join(str(e or "–") for e in epochs) if any(epochs) else \
            (f"none of {len(records)} seeds" if records else "–")
        links = ", ".join(f"[{i}]({os.path.relpath(r['path'], 'docs')})" for i, r in enumerate(records))
        lines.append(f"| {slug} | {f'`{flags}`' if flags else 'none'} | {noise.value_text(summary, digits=2)} | "
                     f"{change} | {reached} | {links or 'not run yet'} |")
    return "\n".join(lines)


def kept_sentence() -> str:
    """Which techniques alone measurably raised or lowered the base's final validation accuracy, by the rule."""
    base = row_summary("base")[0]
    verdicts = {"raised": [], "lowered": [], "none": []}
    for slug in list(ALONE)[1:]:
        change = noise.difference(row_summary(slug)[0], base)
        if change.delta is None:
            continue
        verdict = ("raised" if change.delta > 0 else "lowered") if change.measurable else "none"
        verdicts[verdict].append(f"`{ALONE[slug]}`")
    sentences = {"raised": "{} measurably raised the final validation accuracy",
                 "lowered": "{} measurably lowered it", "none": "with {} no difference was measurable"}
    parts = [sentences[verdict].format(", ".join(flags)) for verdict, flags in verdicts.items() if flags]
    return f"Alone on the base, {'; '.join(parts)}." if parts else "No seeds recorded yet."


def fast_table() -> str:
    """`fast` on all 50,000 training images: each seed's final test accuracy (read once), and their mean."""
    lines = ["| seed | test accuracy, final epoch | one view (no test-time views) | records |", "|---|---|---|---|"]
    records = [load_run(name) for name in FAST_SEEDS]
    for seed, (name, r) in enumerate(zip(FAST_SEEDS, records)):
        if r:
            lines.append(f"| {seed} | {r['metrics']['final_test_accuracy']:.2%} | "
                         f"{r['metrics']['final_test_accuracy_single_view']:.2%} | "
                         f"[{name}]({os.path.relpath(r['path'], 'docs')}) |")
    summary = noise.summarize(r["metrics"]["final_test_accuracy"] for r in records if r)
    if summary.count:
        goal = noise.versus_constant(summary, TARGET + 0.002)  # the goal: bn's 30-epoch mean, 82.2%
        lines.append(f"| mean of {summary.count} | **{summary.mean:.2%}** (sd {100 * summary.sd:.2f} pp) | | "
                     f"against the goal of 82.2%: {noise.delta_text(goal)} |" if summary.count > 1 else "")
    return "\n".join(lines)


def ceiling_part() -> str:
    """How far `best` goes with 3x the epochs, and the candidates that might raise that ceiling."""
    ceiling = load_run(CEILING)
    if ceiling is None:
        return f"The ceiling run ({CEILING}) is not recorded yet."
    metrics = ceiling["metrics"]
    verdict = ("under 88.5%, so what limits `best` is what this network generalizes to, not the length of its "
               "schedule" if metrics["final_val_accuracy"] < 0.885 else "above 88.5%: a longer schedule raises `best`")
    lines = [f"`best` trained for {metrics['epochs']} epochs ([{CEILING}]({os.path.relpath(ceiling['path'], 'docs')}))"
             f" ends at {metrics['final_val_accuracy']:.2%} on validation with a running training accuracy of "
             f"{metrics['final_train_accuracy']:.2%}; that is {verdict}.", "",
             "| candidate (30 epochs, one seed) | flags added | validation accuracy, final epoch | "
             "running train accuracy | records |", "|---|---|---|---|---|"]
    for name, flags in CEILING_CANDIDATES.items():
        r = load_run(name)
        cells = (f"{r['metrics']['final_val_accuracy']:.2%} | {r['metrics']['final_train_accuracy']:.2%} | "
                 f"[{name}]({os.path.relpath(r['path'], 'docs')})") if r else "not run yet | | –"
        lines.append(f"| {name} | {f'`{flags}`' if flags else 'none'} | {cells} |")
    return "\n".join(lines)


def tables() -> dict[str, str]:
    """The generated parts of docs/results.md's section on `fast`: name -> Markdown."""
    stacked_reference = dict(zip(list(STACK)[1:], list(STACK)[:-1]))
    return {"ceiling": ceiling_part(),
            "ablation-alone": ablation_table(ALONE, {slug: "base" for slug in list(ALONE)[1:]}) + "\n\n"
            + kept_sentence(),
            "ablation-stacked": ablation_table(STACK, stacked_reference),
            "fast-seeds": fast_table()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train the runs whose records are not committed, one after the other")
    run.add_argument("--out", required=True, help="folder of the run folders (outside the repository)")
    run.add_argument("--data-dir", default="../shared/data/cifar10-jpeg")
    commands.add_parser("commands", help="print the train command of every run")
    args = parser.parse_args()
    data_dir, out = (args.data_dir, args.out) if args.command == "run" else ("../shared/data/cifar10-jpeg", "DIR")
    for name, flags in runs().items():
        command = ["train_keras.py", "train", *shlex.split(flags), "--data-dir", data_dir,
                   "--run-dir", os.path.join(out, name)]
        if args.command == "commands":
            print("python", shlex.join(command))
        elif not load_run(name):  # not committed yet: train it (a finished folder is refused, an unfinished resumes)
            subprocess.run([sys.executable, *command], cwd=REPO, check=False)

if __name__ == "__main__":
    main()
