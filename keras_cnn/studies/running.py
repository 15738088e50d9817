"""Running a study: its grid points times its seeds, as ordinary runs in out/<study>/<point>_seed-<n>/."""

import os
import time
import typing

from keras_cnn.config import TrainConfig, resolve_config
from keras_cnn.errors import ConfigError, DataError
from keras_cnn.locks import folder_locks
from keras_cnn.sequence import check_existing_runs, train_runs
from keras_cnn.studies.definitions import SEEDS, STUDIES, Study, grid_points, run_name
from keras_cnn.studies.findings import grid_value
from keras_cnn.studies.report import write_index, write_report
from keras_cnn.studies.results import collect


def study(
    name: str,
    out: str = "studies",
    *,
    data_dir: str | None = None,
    mnist_dir: str | None = None,
    epochs: int | None = None,
    limit: int | None = None,
    seeds: int = SEEDS,
    first_seed: int = 0,
    grid: dict[str, tuple] | None = None,
    mixed_precision: bool = False,
    verbose="auto",
    tensorboard: bool = True,
    tensorboard_histograms: bool = False,
    say=print,
) -> dict:
    """Run study `name` into out/<name>/<point>_seed-<n>/ and write out/<name>/report.md; return its results.

    `data_dir`: CIFAR-10's image folder (default: tensorflow-datasets); `mnist_dir`: MNIST's, for
    the runs of lenet5. `epochs`, `limit` (0: every image) and `grid` (axis -> values) replace the
    study's defaults; every point runs `seeds` seeds from `first_seed`. Every run logs epoch 0
    (--eval-at-start). Rerunning the same call skips the finished runs and resumes the interrupted one.
    """
    if name not in STUDIES:
        raise ConfigError(f"unknown study '{name}': choose one of {', '.join(STUDIES)} (or all)")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    spec = STUDIES[name]
    folder = os.path.join(out, name)
    points = grid_points(spec, grid)
    scale = {"data_dir": data_dir, "mnist_dir": mnist_dir, "epochs": epochs, "limit": limit,
             "mixed_precision": mixed_precision}
    base = {point: point_config(spec, settings, seed=first_seed, **scale) for point, settings in points.items()}
    started = time.monotonic()
    with folder_locks([folder], "--out"):
        chosen = spec.prepare(base, folder) if spec.prepare else {}
        runs, configs = {}, {}
        for point, settings in points.items():
            for seed in range(first_seed, first_seed + seeds):
                runs[run_name(point, seed)] = (point, seed)
                configs[run_name(point, seed)] = point_config(spec, settings | chosen.get(point, {}), seed=seed,
                                                              **scale)
        with folder_locks([os.path.join(folder, run) for run in configs], "--out"):
            check_existing_runs(folder, configs, f"study {name}")
            train_runs(folder, configs, f"{name} ", verbose=verbose, tensorboard=tensorboard,
                       tensorboard_histograms=tensorboard_histograms, say=say)
        results = collect(folder, runs, points, spec.analysis)
        finding = spec.finding(results)
        command = command_line(name, grid, seeds=seeds, seed=first_seed, **scale)
        written = write_report(name, spec, folder, results, finding, configs, command, time.monotonic() - started)
    say(f"Study {name} done: {written}")
    for line in finding:
        say(f"  {line}")
    return {"report": written, "runs": results.runs, "analysis": results.analysis, "finding": finding}


def point_config(spec: Study, settings: dict, *, seed: int, data_dir, mnist_dir, epochs, limit,
                 mixed_precision: bool) -> TrainConfig:
    """The TrainConfig of one run: the study's variant, its fixed settings, the point, the scale and the seed."""
    from keras_cnn.lab import mnist_source

    variant = settings.get("variant", spec.variant)
    settings = {key: value for key, value in settings.items() if key != "variant"}
    scale = {"epochs": epochs or spec.epochs, "limit": (limit if limit is not None else spec.limit) or None,
             "eval_at_start": True, "seed": seed} | ({"mixed_precision": True} if mixed_precision else {})
    if variant == "lenet5":
        if mnist_dir is None and data_dir is not None:
            raise DataError("this study trains lenet5 on MNIST, and --data-dir is CIFAR-10's: add --mnist-dir DIR "
                            "(e.g. ../shared/data/mnist-sample)")
        source = mnist_source(mnist_dir) if mnist_dir else {}
        fixed = {key: value for key, value in spec.fixed.items() if key not in ("lr", "momentum", "lr_decay")}
    else:
        source = {"data_dir": data_dir} if data_dir else {}
        fixed = spec.fixed
    for flag, path in (("--data-dir", data_dir), ("--mnist-dir", mnist_dir)):
        if path is not None and not os.path.isdir(path):
            raise DataError(f"{flag} {path} is not a folder: point it at an image folder")
    return resolve_config(variant, **(fixed | source | scale | settings))


def command_line(name: str, grid: dict | None, **flags) -> str:
    """The `study` command that makes this report, with the flags that differ from the defaults."""
    defaults = {"seeds": SEEDS, "seed": 0, "mixed_precision": False}
    words = [f"python train_keras.py study {name}"]
    for flag, value in flags.items():
        if value is None or defaults.get(flag, None) == value:
            continue
        option = "--" + flag.replace("_", "-")
        words.append(option if value is True else f"{option} {value}")
    words += [f"--grid {axis}={','.join(grid_value(v) for v in values)}" for axis, values in (grid or {}).items()]
    return " ".join(words)


def run_studies(names: list[str], out: str = "studies", **options) -> dict[str, dict]:
    """Each study of `names` in turn ("all": every study), then out/index.md listing every finished study's finding."""
    names = list(STUDIES) if names == ["all"] else names
    for name in names:
        if name not in STUDIES:
            raise ConfigError(f"unknown study '{name}': choose among {', '.join(STUDIES)} (or all)")
    outcomes = {name: study(name, out, **options) for name in names}
    if len(names) > 1:
        write_index(out)
    return outcomes


def parse_grid(texts: list[str]) -> dict[str, tuple]:
    """--grid AXIS=V1,V2 (augment values join their names with +: crop28+flip) as {axis: values of its type}."""
    hints = typing.get_type_hints(TrainConfig)
    grid = {}
    for text in texts:
        axis, _, values = text.partition("=")
        axis = axis.strip().replace("-", "_")
        if axis not in hints or not values:
            raise ConfigError(f"--grid {text}: write AXIS=V1,V2 with AXIS a setting (e.g. --grid lr=0.01,0.1)")
        kind = hints[axis]
        convert = {int: int, float: float, bool: lambda v: v.lower() in ("true", "1", "yes")}.get(kind, str)
        try:
            grid[axis] = tuple(convert(value.strip().replace("+", ",")) for value in values.split(","))
        except ValueError:
            raise ConfigError(f"--grid {text}: the values of {axis} must be {kind.__name__} numbers") from None
    return grid
