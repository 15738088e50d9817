"""Epochs and seconds until a run first reaches a target validation accuracy, per recipe and seed.

    python benchmarks/time_to_accuracy.py --target 0.82 --out runs/tta --data-dir ../shared/data/cifar10-jpeg \\
        --recipe fast --recipe best --recipe bn --seeds 3

Each recipe (a variant, or a variant with flags in quotes: --recipe "bn --mixed-precision") trains
with `--val-split 0.1` into OUT/<recipe>_seed-<n>, one seed after the other; a finished folder is
read, not trained again, and an unfinished one resumes. Folders of runs made otherwise (with a
validation split) can be added with --run. The seconds are the run's own epoch_seconds summed up
to that epoch (training steps and the evaluation after each epoch; start-up, checkpoints and logs
excluded: benchmarks/overhead.py measures those). Runs are grouped by folder name less its
_seed-<n> (or -seed<n>) suffix, each group with its medians. Prints a Markdown table and the CPU's name and
flags that decide its speed.
"""

import argparse
import csv
import json
import os
import re
import shlex
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def folder_name(recipe: str, seed: int) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", recipe).strip("-") + f"_seed-{seed}"


def train(recipe: str, seed: int, out: str, data_dir: str) -> str:
    run_dir = os.path.join(out, folder_name(recipe, seed))
    if not os.path.exists(os.path.join(run_dir, "metrics.json")):
        variant, *flags = shlex.split(recipe)
        command = [sys.executable, "train_keras.py", "train", "--variant", variant, *flags, "--val-split", "0.1",
                   "--seed", str(seed), "--data-dir", data_dir, "--run-dir", run_dir, "--verbose", "2"]
        print("$", shlex.join(command[1:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
    return run_dir


def reached(run_dir: str, target: float) -> dict:
    """The run's recipe, seed, first epoch at or above `target` on validation and the seconds until then."""
    with open(os.path.join(run_dir, "history.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or "val_accuracy" not in rows[0]:
        sys.exit(f"error: {run_dir} has no validation split (history.csv has no val_accuracy): train it with "
                 "--val-split")
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)["config"]
    seconds, first = 0.0, None
    for row in rows:
        seconds += float(row["epoch_seconds"])
        evaluated = row["val_accuracy"] != ""  # --no-eval-each-epoch: only the last epoch is evaluated
        if first is None and evaluated and float(row["val_accuracy"]) >= target:
            first = (int(row["epoch"]), seconds)
    recipe = re.sub(r"[_-]seed-?\d+$", "", os.path.basename(os.path.normpath(run_dir)))
    return {"run": run_dir, "recipe": recipe, "seed": config["seed"], "epochs": len(rows),
            "final": float(rows[-1]["val_accuracy"]), "epoch": first and first[0], "seconds": first and first[1]}


def cpu() -> str:
    """The CPU's model name and which of the flags that decide training speed it has."""
    with open("/proc/cpuinfo") as f:
        text = f.read()
    name = re.search(r"model name\s*:\s*(.*)", text)
    flags = set(re.search(r"flags\s*:\s*(.*)", text).group(1).split()) if "flags" in text else set()
    have = [flag for flag in SPEED_FLAGS if flag in flags]
    return f"{name.group(1) if name else 'unknown CPU'}, {os.cpu_count()} cores; flags: {', '.join(have) or 'none'}"


def table(results: list[dict], target: float) -> str:
    lines = [f"| run | seed | epochs | first epoch at {target:.0%} (validation) | seconds until then | "
             "final validation accuracy |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        at = (str(r["epoch"]), f"{r['seconds']:.0f}") if r["epoch"] else ("not reached", "–")
        lines.append(f"| {os.path.basename(r['run'])} | {r['seed']} | {r['epochs']} | {at[0]} | {at[1]} | "
                     f"{r['final']:.2%} |")
    for recipe in dict.fromkeys(r["recipe"] for r in results):
        runs = [r for r in results if r["recipe"] == recipe]
        hits = [r for r in runs if r["epoch"]]
        if hits:
            lines.append(f"| **{recipe}, median** | {len(hits)} of {len(runs)} reached | | "
                         f"{statistics.median(r['epoch'] for r in hits):g} | "
                         f"{statistics.median(r['seconds'] for r in hits):.0f} | "
                         f"{statistics.median(r['final'] for r in runs):.2%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=float, default=0.82, help="validation accuracy to reach (default 0.82)")
    parser.add_argument("--recipe", action="append", default=[], help="a variant, optionally with train flags")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per recipe, from 0 (default 3)")
    parser.add_argument("--out", help="folder of the recipes' runs (needed with --recipe)")
    parser.add_argument("--data-dir", default="../shared/data/cifar10-jpeg", help="CIFAR-10 image folder")
    parser.add_argument("--run", action="append", default=[], help="a finished run folder with a validation split")
    args = parser.parse_args()
    if args.recipe and not args.out:
        parser.error("--recipe needs --out, the folder its runs go to")
    if not 0 < args.target < 1:
        parser.error(f"--target is an accuracy between 0 and 1, got {args.target}")
    folders = [train(recipe, seed, args.out, args.data_dir) for recipe in args.recipe for seed in range(args.seeds)]
    results = [reached(folder, args.target) for folder in folders + args.run]
    print(table(results, args.target))
    print(f"\nMachine: {cpu()}")


if __name__ == "__main__":
    main()
