"""How numbers read in reports and tables: one home for the formats every report shares."""

import math
from collections.abc import Collection, Iterable, Sequence

# What reports call each split of a run's data (history.csv's column prefixes: "test_accuracy", "val_loss").
SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}


def finite(value) -> bool:
    """Whether `value` is a number that is neither NaN nor infinite (None and text are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def difference(a, b) -> float | None:
    """`a - b` when both are finite numbers, else None (a missing or diverged value has no difference)."""
    return a - b if finite(a) and finite(b) else None


def percent(value, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage ("82.5%"), or "–" when there is none."""
    return f"{100 * value:.{digits}f}%" if finite(value) else "–"


def points(value) -> str:
    """A difference of two fractions in percentage points ("+3.0 pp"), or "–"."""
    return f"{100 * value:+.1f} pp" if finite(value) else "–"


def decimal(value, digits: int) -> str:
    """A number with `digits` decimals and thousands separators, or "–"."""
    return f"{value:,.{digits}f}" if finite(value) else "–"


def setting(value, exact: bool = False, digits: int = 6) -> str:
    """A setting's value as tables show it: lists joined by commas ("none" when empty), floats with
    `digits` significant digits (`exact`: as Python writes them, 0.0 and 1e-05, as --help lists the variants)."""
    if isinstance(value, list | tuple):
        return ",".join(value) or "none"
    if isinstance(value, float):
        return str(value) if exact else f"{value:.{digits}g}"
    return "none" if value is None else str(value)


def pair(a, b) -> str:
    """Two sizes along rows and columns: "5" when they are equal, else "5x3"."""
    return str(a) if a == b else f"{a}x{b}"


def split_name(split: str) -> str:
    """"val" -> "validation": a split as reports name it."""
    return SPLIT_NAMES[split]


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence], right: Collection[int] = ()) -> str:
    """A Markdown table, one line per row (each cell str()), the columns whose index is in `right` right-aligned."""
    rule = "|" + "|".join("---:" if index in right else "---" for index in range(len(headers))) + "|"
    lines = ["| " + " | ".join(str(cell) for cell in cells) + " |" for cells in [headers, *rows]]
    return "\n".join([lines[0], rule, *lines[1:]])
