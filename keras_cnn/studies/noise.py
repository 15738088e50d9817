"""The one rule by which a study calls a difference measurable, and the sentences that apply it.

A grid point runs several seeds; its value is the mean of their final-epoch values (the last
epoch, never a chosen one). Two points differ *measurably* when the difference of their means is
larger than twice its standard error, sqrt(s_a^2/n_a + s_b^2/n_b) with s the seeds' sample
standard deviation. Fewer than two seeds on either side give no spread, so no difference is
measurable; equal means never are. Findings state an ordering or an effect only through this rule,
and otherwise say that no difference is measurable at the study's scale (docs/studies.md).
"""

import math
import statistics
from dataclasses import dataclass

from keras_cnn.formatting import finite

STANDARD_ERRORS = 2  # a difference is measurable beyond this many standard errors


@dataclass(frozen=True)
class Summary:
    """One grid point's value over its seeds: the per-seed values, their mean and sample standard deviation."""

    values: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.values) if self.count >= 2 else None

    @property
    def low(self) -> float | None:
        return min(self.values, default=None)

    @property
    def high(self) -> float | None:
        return max(self.values, default=None)


def summarize(values) -> Summary:
    """The finite values among `values` (a diverged or missing run has none)."""
    return Summary(tuple(float(value) for value in values if finite(value)))


@dataclass(frozen=True)
class Difference:
    """`a` minus `b`: the difference of their means, its standard error and whether it is measurable."""

    delta: float | None
    standard_error: float | None

    @property
    def measurable(self) -> bool:
        return (self.delta is not None and self.standard_error is not None
                and abs(self.delta) > STANDARD_ERRORS * self.standard_error)


def difference(a: Summary, b: Summary) -> Difference:
    """The rule applied to two points' seeds."""
    if not a.count or not b.count:
        return Difference(None, None)
    delta = a.mean - b.mean
    if a.count < 2 or b.count < 2:
        return Difference(delta, None)
    return Difference(delta, math.sqrt(a.sd**2 / a.count + b.sd**2 / b.count))


def versus_constant(a: Summary, constant: float) -> Difference:
    """The rule against a known value (chance, or zero for paired differences): standard error s / sqrt(n)."""
    if not a.count:
        return Difference(None, None)
    return Difference(a.mean - constant, a.sd / math.sqrt(a.count) if a.count >= 2 else None)


# ---- Sentences ----


def value_text(summary: Summary, scale: float = 100, unit: str = "%", digits: int = 1) -> str:
    """"56.8% (sd 0.4; seeds 56.5, 56.8, 57.2)": the mean, its spread and every seed's value."""
    if not summary.count:
        return "–"
    mean = f"{scale * summary.mean:.{digits}f}{unit}"
    if summary.count == 1:
        return f"{mean} (one seed: no spread measured)"
    seeds = ", ".join(f"{scale * value:.{digits}f}" for value in summary.values)
    return f"{mean} (sd {scale * summary.sd:.{digits}f}; seeds {seeds})"


def delta_text(change: Difference, scale: float = 100, unit: str = " pp") -> str:
    """"+3.1 pp, measurable (2 SE 1.2 pp)" or "-0.4 pp, not measurable (2 SE 0.9 pp)"."""
    if change.delta is None:
        return "–"
    shift = f"{scale * change.delta:+.1f}{unit}"
    if change.standard_error is None:
        return f"{shift}, not measurable (one seed: no spread)"
    verdict = "measurable" if change.measurable else "not measurable"
    return f"{shift}, {verdict} (2 SE {scale * STANDARD_ERRORS * change.standard_error:.1f}{unit})"


def top_group(summaries: dict[str, Summary]) -> tuple[list[str], list[str]]:
    """The points not measurably below the highest mean (in the given order), and those measurably below it."""
    scored = {name: summary for name, summary in summaries.items() if summary.count}
    if not scored:
        return [], []
    top = max(scored.values(), key=lambda summary: summary.mean)
    lower = [name for name, summary in scored.items() if difference(top, summary).measurable]
    return [name for name in scored if name not in lower], lower


def ordering_text(summaries: dict[str, Summary], what: str, scale: float = 100, unit: str = "%") -> str:
    """One sentence that orders points only where the rule allows: the top group (unordered), then the lower ones.

    A tie is never ranked: if no point is measurably below the highest mean, it says so.
    """
    top, lower = top_group(summaries)
    if not top:
        return f"No {what} was measured (every run diverged or is missing)."
    spreads = [summary.sd for summary in summaries.values() if summary.sd is not None]
    spread_unit = " pp" if unit == "%" else unit
    spread = (f"the seeds' sd is up to {scale * max(spreads):.1f}{spread_unit}" if spreads
              else "one seed each, so no spread was measured")

    def listed(names):
        return "; ".join(f"{name} {value_text(summaries[name], scale, unit)}" for name in names)

    if not lower:
        return f"No difference in {what} is measurable at this scale among {listed(top)} ({spread})."
    lead = (f"Highest {what}: {listed(top)}" if len(top) == 1 else
            f"Highest {what}, not measurably different from each other: {listed(top)}")
    return f"{lead}. Measurably lower: {listed(lower)}."
