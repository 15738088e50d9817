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
TARGET = 0.82  # the lab's `bn` after 30 epochs: the accuracy `fast` must reach in 4
SEEDS = (0, 1, 2)
ABLATION_BASE = "--variant best --epochs 4 --val-split 0.1 --mixed-precision"
# Each technique alone on the base (best cut to 4 epochs), then stacked in this order: name -> flags added.
ALONE = {
    "base": "",
}
STACK = {
    "base": "",
}


def record(name: str, seed: int) -> str:
    return f"ablation-{name}-seed{seed}"


def flags_of(name: str, stacked: bool) -> str:
    """The train flags of an ablation row: the base's, then its own (stacked: those of every row up to it)."""
    if not stacked:
        return f"{ABLATION_BASE} {ALONE[name]}".strip()
    names = list(STACK)
    return " ".join([ABLATION_BASE, *(STACK[n] for n in names[: names.index(name) + 1] if STACK[n])])


def runs() -> dict[str, str]:
    """Every ablation run: record name -> its train flags (a row alone and stacked with the same flags is one run)."""
    found = {}
    for stacked, rows in ((False, ALONE), (True, STACK)):
        for name in rows:
            for seed in SEEDS:
                found.setdefault(record(name if not stacked else f"stack-{name}", seed),
                                 f"{flags_of(name, stacked)} --seed {seed}")
    return found


def load_run(name: str) -> dict | None:
    folder = os.path.join(REPO, RUNS, name)
    if not os.path.isfile(os.path.join(folder, "metrics.json")):
        return None
    return {"metrics": read_json(os.path.join(folder, "metrics.json")),
            "history": read_history(os.path.join(folder, "history.csv")), "path": f"{RUNS}/{name}"}


def first_epoch_at(history: list[dict], target: float = TARGET) -> int | None:
    return next((int(row["epoch"]) for row in history if row.get("val_accuracy", 0) >= target), None)
