"""Where the wall time of a `train` command goes: the training steps, and everything else.

    python benchmarks/overhead.py --run-dir runs/overhead-fast -- --variant fast --data-dir ../shared/data/cifar10-jpeg

Runs `python train_keras.py train ARGS --run-dir DIR --verbose 2` in a new process, stamps each
line it prints with the time, and splits the command's wall time, from its start to its result
line, with the run's history.csv:

- start-up: imports, decoding the images, statistics, building the model (until the first line);
- the training steps (history.csv's train_seconds), less the first epoch's extra time over the
  median of the others (graph tracing), counted apart;
- evaluation after each epoch (epoch_seconds - train_seconds);
- checkpoints and logs after each epoch (the rest of the time between two epoch lines);
- the end: the final evaluations, curves.png and metrics.json (last epoch line to the result line).

Prints a Markdown table. The run folder must not hold a finished run (pass a new --run-dir).
"""

import argparse
import csv
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def stamped_lines(command: list[str]) -> tuple[float, list[tuple[float, str]]]:
    """Run `command`, echoing its output; its start time and each output line with the time it came."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=os.environ | {"PYTHONUNBUFFERED": "1"})
    lines = []
    for line in process.stdout:
        lines.append((time.perf_counter() - start, line.rstrip("\n")))
        print(line, end="", flush=True)
    if process.wait():
        sys.exit(f"error: the train command failed (exit code {process.returncode})")
    return start, lines


def phases(lines: list[tuple[float, str]], history: list[dict]) -> dict[str, float]:
    """Seconds per phase, from the stamped output lines and history.csv's rows."""
    first = next(t for t, line in lines if line.startswith(("Training ", "Resuming ")))
    epoch_lines = [t for t, line in lines if " - epoch_seconds: " in line]
    result = next(t for t, line in lines if line.startswith("Test accuracy "))
    train = [float(row["train_seconds"]) for row in history]
    epoch = [float(row["epoch_seconds"]) for row in history]
    tracing = max(0.0, train[0] - statistics.median(train[1:])) if len(train) > 1 else 0.0
    between = [later - earlier for earlier, later in zip([first] + epoch_lines, epoch_lines)]
    return {
        "start-up (imports, decoding, statistics, model)": first,
        "training steps": sum(train) - tracing,
        "first epoch's tracing": tracing,
        "evaluation after each epoch": sum(epoch) - sum(train),
        "checkpoints and logs after each epoch": sum(between) - sum(epoch),
        "end (final evaluations, curves.png, metrics.json)": result - epoch_lines[-1],
    }


def table(seconds: dict[str, float]) -> str:
    total = sum(seconds.values())
    rows = [f"| {name} | {value:.1f} | {value / total:.1%} |" for name, value in seconds.items()]
    outside = total - seconds["training steps"]
    return "\n".join(["| phase | seconds | share |", "|---|---:|---:|", *rows,
                      f"| **command, start to result line** | **{total:.1f}** | 100% |",
                      f"| outside the training steps | {outside:.1f} | {outside / total:.1%} |"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s --run-dir DIR -- TRAIN_ARGS...")
    parser.add_argument("--run-dir", required=True, help="a new run folder for the timed run")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="arguments of `train_keras.py train`, after --")
    args = parser.parse_args()
    train_args = [arg for arg in args.train_args if arg != "--"]
    command = [sys.executable, "train_keras.py", "train", *train_args, "--run-dir", args.run_dir, "--verbose", "2"]
    _, lines = stamped_lines(command)
    with open(os.path.join(args.run_dir, "history.csv"), newline="") as f:
        history = list(csv.DictReader(f))
    print()
    print(table(phases(lines, history)))


if __name__ == "__main__":
    main()
