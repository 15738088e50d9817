"""How numbers read in reports and tables: one home for the formats every report shares."""

import math


def finite(value) -> bool:
    """Whether `value` is a number that is neither NaN nor infinite (None and text are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


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
