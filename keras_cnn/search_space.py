"""The search space of `tune`: which settings are searched, over which ranges, checked before anything runs.

Every searched hyperparameter is a TrainConfig setting of the same name, so a trial is the
variant's config with the trial's values put in. No TensorFlow here: the command line checks a
space (and prints its defaults in --help) without importing it.
"""

import dataclasses
import math
from dataclasses import dataclass

from keras_cnn.config import PER_EPOCH_SCHEDULES, TrainConfig
from keras_cnn.errors import ConfigError

TUNERS = ("hyperband", "random", "bayesian")

# Searchable settings: flag, default range (None: searched only when the flag is given), log scale.
RANGES = {
    "lr": ("--lr-range", (1e-3, 1e-1), True),
    "momentum": ("--momentum-range", (0.8, 0.95), False),
    "lr_decay": ("--decay-range", (0.9, 1.0), False),
    "dropout": ("--dropout-range", (0.0, 0.6), False),
    "weight_decay": ("--weight-decay-range", None, True),
    "label_smoothing": ("--label-smoothing-range", None, False),
    "sam_rho": ("--sam-rho-range", None, False),
}
BATCH_SIZES_FLAG = "--batch-sizes"
DEFAULT_BATCH_SIZES = (64, 128, 256)
SEARCHABLE = (*RANGES, "batch_size")
# Settings a trial does not use, with the value it runs with: tune refuses others, and its --help hides their flags.
TRIAL_UNUSED = {"strategy": "default", "eval_train": False, "eval_at_start": False}
FLAGS = {name: flag for name, (flag, _, _) in RANGES.items()} | {"batch_size": BATCH_SIZES_FLAG}


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def to_dict(self) -> dict:
        return {"low": self.low, "high": self.high, "sampling": "log" if self.log else "linear"}


# A search space: setting name -> FloatRange, or a tuple of batch sizes to choose from.
Space = dict[str, FloatRange | tuple[int, ...]]


def search_space(overrides: dict, base: TrainConfig, fixed: set[str] = frozenset()) -> tuple[Space, dict]:
    """The checked search space, and the settings pinned by a range with equal ends or a single batch size.

    `overrides` maps settings to (low, high) or, for batch_size, sizes ("64,128" or a sequence);
    the others keep their default range. `fixed` names searchable settings the user gave as
    settings (e.g. --lr 0.01): those are not searched. A bad range raises ConfigError naming its flag.
    """
    unknown = sorted(set(overrides) - set(SEARCHABLE))
    if unknown:
        raise ConfigError(f"cannot search {', '.join(unknown)}: searchable settings are {', '.join(SEARCHABLE)}")
    space, pinned = {}, {}
    for name in SEARCHABLE:
        flag, given = FLAGS[name], overrides.get(name)
        if name in fixed:
            if given is not None:
                raise ConfigError(f"--{name.replace('_', '-')} fixes {name} and {flag} searches it: give one of them")
            continue
        ignored = ignored_by(name, base)
        if ignored and given is not None:
            raise ConfigError(f"{flag}: {ignored}, so searching {name} would change nothing")
        if ignored or (given is None and name in RANGES and RANGES[name][1] is None):
            continue
        spec = batch_sizes(given) if name == "batch_size" else float_range(name, given)
        ends = (spec.low, spec.high) if isinstance(spec, FloatRange) else spec
        for value in ends:  # each end must be a valid setting, e.g. momentum < 1
            try:
                dataclasses.replace(base, **{name: value})
            except ConfigError as error:
                raise ConfigError(f"{flag}: {error}") from None
        if len(set(ends)) == 1:
            pinned[name] = ends[0]
        else:
            space[name] = spec
    return space, pinned


def ignored_by(name: str, config: TrainConfig) -> str | None:
    """Why the configured network, optimizer or schedule ignores a searchable setting (None if it uses it)."""
    if name == "momentum" and config.optimizer not in ("sgd", "rmsprop"):
        return f"the {config.optimizer} optimizer has no momentum setting"
    if name == "lr_decay" and config.schedule not in PER_EPOCH_SCHEDULES:
        return f"the {config.schedule} schedule does not use the decay factor"
    if name == "dropout" and config.arch != "cifar_cnn":
        return f"the {config.arch} network has no dropout layer"
    return None


def float_range(name: str, given) -> FloatRange:
    """The range of `name`: `given` (low, high) or its default, checked."""
    flag, default, log = RANGES[name]
    low, high = default if given is None else given
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{flag} {low:g} {high:g}: both ends must be finite numbers")
    if low > high:
        raise ConfigError(f"{flag} {low:g} {high:g}: the minimum is above the maximum (give LOW HIGH)")
    if log and low <= 0:
        raise ConfigError(f"{flag} {low:g} {high:g}: {name} is searched on a log scale, so both ends must be > 0")
    return FloatRange(float(low), float(high), log)


def batch_sizes(given) -> tuple[int, ...]:
    """Batch sizes from "64,128,256" or a sequence of ints; the default when `given` is None."""
    if given is None:
        return DEFAULT_BATCH_SIZES
    parts = [part.strip() for part in given.split(",")] if isinstance(given, str) else list(given)
    try:
        sizes = tuple(int(part) for part in parts if part != "")
    except ValueError:
        raise ConfigError(
            f"{BATCH_SIZES_FLAG} {given}: give whole numbers separated by commas, e.g. 64,128,256"
        ) from None
    if not sizes or len(set(sizes)) != len(sizes):
        raise ConfigError(f"{BATCH_SIZES_FLAG} {given}: give one or more different batch sizes, e.g. 64,128,256")
    return sizes


def default_text(name: str) -> str:
    """The default of a searchable setting, for --help."""
    if name == "batch_size":
        return ",".join(map(str, DEFAULT_BATCH_SIZES))
    _, default, log = RANGES[name]
    return "not searched" if default is None else f"{default[0]:g} {default[1]:g}" + (", log scale" if log else "")
