"""The lab's progression in one call: LeNet5 on MNIST, then the CIFAR-10 variants in order, then the report.

Each variant trains into <out>/<variant> with the same shared settings. Rerunning the same call
skips the finished runs and resumes the unfinished one (`train_config` resumes a run directory
whose settings match), so an interruption costs at most the epoch in progress.
"""

import os

import keras

from keras_cnn.config import VARIANTS, TrainConfig, resolve_config
from keras_cnn.errors import ConfigError, DataError
from keras_cnn.inspection import inspect_run
from keras_cnn.locks import folder_locks
from keras_cnn.report import REPORT_FILE, compare
from keras_cnn.rundir import CONFIG_FILE, METRICS_FILE
from keras_cnn.sequence import check_existing_runs, train_runs

# The lab's own sequence; variants beyond it (e.g. "best") run with --variants.
LAB = ("lenet5", "baseline", "norm", "augment", "momentum", "dropout", "bn")
MNIST_TEST_FRACTION = 0.2  # for an MNIST folder of class folders without train/ and test/


def train_lab(
    out: str = "runs/lab",
    variants: list[str] | None = None,
    *,
    data_dir: str | None = None,
    mnist_dir: str | None = None,
    epochs: int | None = None,
    lenet5_epochs: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    init: str | None = None,
    mixed_precision: bool = False,
    inspect: bool = False,
    verbose="auto",
    tensorboard: bool = True,
    tensorboard_histograms: bool = False,
    say=print,
) -> dict[str, str]:
    """Train `variants` (default: the whole lab) in lab order into out/<variant>, then write out/report.md.

    `data_dir` is CIFAR-10's image folder (default: tfds), `mnist_dir` LeNet5's (default: tfds;
    a folder of class folders is split 80/20). `epochs` applies to the CIFAR-10 variants,
    `lenet5_epochs` to LeNet5 (defaults: the variants', 30 and 5); `limit`, `seed`,
    `batch_size`, `init` and `mixed_precision` to every run; each run writes TensorBoard logs into
    out/<variant>/tensorboard/ unless `tensorboard=False`. `inspect`: run `inspect_run` on every
    finished run in `out` before the report, which then links its pictures. Returns each variant's outcome:
    "trained", "resumed", "extended", "finished" (done before: skipped), "diverged" or "skipped"
    (lenet5 without MNIST data).
    """
    shared = dict(limit=limit, seed=seed, mixed_precision=mixed_precision) | _given(batch_size=batch_size, init=init)
    configs, outcomes = lab_configs(variants, data_dir, mnist_dir, epochs, lenet5_epochs, shared, say)
    with folder_locks([out, *(os.path.join(out, name) for name in configs)], "--out"):
        check_existing_runs(out, configs, "lab")
        outcomes |= train_runs(out, configs, verbose=verbose, tensorboard=tensorboard,
                               tensorboard_histograms=tensorboard_histograms, say=say)

        # The report covers every lab run in `out`, also those of earlier calls with other --variants.
        run_dirs = [os.path.join(out, name) for name in VARIANTS
                    if os.path.exists(os.path.join(out, name, CONFIG_FILE))]
        if inspect:
            for run_dir in run_dirs:
                if os.path.exists(os.path.join(run_dir, METRICS_FILE)):
                    keras.backend.clear_session()
                    summary = inspect_run(run_dir)
                    say(f"inspected {run_dir}: {summary['test_accuracy']:.2%}, pictures in {summary['out']}")
        compare(run_dirs, out, say=say)
        counts = ", ".join(f"{list(outcomes.values()).count(o)} {o}" for o in dict.fromkeys(outcomes.values()))
        say(f"Lab done ({counts}); report: {os.path.join(out, REPORT_FILE)}")
        return outcomes


def lab_configs(
    variants, data_dir, mnist_dir, epochs, lenet5_epochs, shared: dict, say
) -> tuple[dict[str, TrainConfig], dict[str, str]]:
    """The TrainConfig of each variant to run, in lab order, and the outcome of those left out.

    `shared`: settings that every run takes.
    """
    for flag, folder in (("--data-dir", data_dir), ("--mnist-dir", mnist_dir)):
        if folder is not None and not os.path.isdir(folder):
            raise DataError(f"{flag} {folder} is not a folder: point it at an image folder")
    unknown = sorted(set(variants or ()) - set(VARIANTS))
    if unknown:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown)} in --variants: choose from {','.join(VARIANTS)}")
    chosen = [name for name in VARIANTS if name in (LAB if variants is None else variants)]

    configs, outcomes = {}, {}
    for name in chosen:
        if name != "lenet5":
            configs[name] = resolve_config(name, data_dir=data_dir, **shared, **_given(epochs=epochs))
        elif mnist_dir is not None:
            configs[name] = resolve_config(name, **mnist_source(mnist_dir), **shared, **_given(epochs=lenet5_epochs))
        elif data_dir is None:
            configs[name] = resolve_config(name, **shared, **_given(epochs=lenet5_epochs))  # tfds mnist
        elif variants is not None:
            raise ConfigError(
                "lenet5 trains on MNIST, and --data-dir is CIFAR-10's: add --mnist-dir DIR "
                "(e.g. ../shared/data/mnist-sample), or leave lenet5 out of --variants"
            )
        else:
            say("lenet5: skipped, it trains on MNIST and --data-dir is CIFAR-10's; add --mnist-dir DIR "
                "(e.g. ../shared/data/mnist-sample) to include it")
            outcomes[name] = "skipped"
    if not configs:
        raise ConfigError("nothing to train: choose --variants among " + ",".join(VARIANTS))
    return configs, outcomes


def mnist_source(mnist_dir: str) -> dict:
    """An MNIST folder with train/ and test/ is used as is; a folder of class folders is split 80/20."""
    has_splits = all(os.path.isdir(os.path.join(mnist_dir, split)) for split in ("train", "test"))
    return dict(data_dir=mnist_dir, test_fraction=0.0 if has_splits else MNIST_TEST_FRACTION)


def _given(**settings) -> dict:
    return {name: value for name, value in settings.items() if value is not None}
