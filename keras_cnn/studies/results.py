"""What a finding reads: each run's records, grouped by grid point over its seeds."""

import os
from dataclasses import dataclass, field

from keras_cnn.studies.noise import Summary, summarize


@dataclass
class Results:
    """The runs of a study in grid order (run folder -> point name, seed, settings, metrics, divergence),
    the grid points (name -> the settings the point changes) and the study's measurements after the runs."""

    runs: dict[str, dict]
    points: dict[str, dict]
    analysis: dict = field(default_factory=dict)
    loaded: list = field(default_factory=list)  # the runs as report.load_run read them, for the charts

    def runs_of(self, point: str) -> list[str]:
        return [name for name, run in self.runs.items() if run["point"] == point]

    def summary(self, point: str | None, key: str) -> Summary:
        """metrics.json's `key` over the point's seeds; a run that diverged has no value."""
        if point is None:
            return summarize([])
        return summarize(self.runs[name]["metrics"].get(key) for name in self.runs_of(point)
                         if self.runs[name]["diverged"] is None)

    def paired(self, point: str, key: str, minus: str) -> Summary:
        """Per seed, `key` minus `minus` of the same run (e.g. train minus test accuracy)."""
        differences = []
        for name in self.runs_of(point):
            run = self.runs[name]
            a, b = run["metrics"].get(key), run["metrics"].get(minus)
            if run["diverged"] is None and a is not None and b is not None:
                differences.append(a - b)
        return summarize(differences)

    def diverged(self, point: str) -> list[int]:
        """The epochs at which the point's seeds diverged (empty: none did)."""
        return [self.runs[name]["diverged"] for name in self.runs_of(point) if self.runs[name]["diverged"] is not None]

    @property
    def chance(self) -> float:
        """The accuracy of a uniform guess among the data set's classes (1/10 on CIFAR-10)."""
        return 1 / max(run["classes"] for run in self.runs.values())

    def named(self, **values) -> str | None:
        """The first grid point with these settings (None: no such point)."""
        return next((name for name, point in self.points.items()
                     if all(point.get(key) == value for key, value in values.items())), None)


def collect(folder: str, runs: dict[str, tuple[str, int]], points: dict[str, dict], analysis=None) -> Results:
    """Read each run folder (name -> its point and seed), then the study's `analysis(runs, folder)`."""
    from keras_cnn.report import load_run  # the finished runs compare reads (matplotlib: imported when used)

    records, loaded = {}, []
    for name, (point, seed) in runs.items():
        run = load_run(os.path.join(folder, name))
        records[name] = {"point": point, "seed": seed, "settings": run.settings, "metrics": run.metrics,
                         "diverged": run.diverged_epoch, "classes": len(run.class_names or ()) or 10}
        loaded.append(run)
    return Results(records, points, analysis(records, folder) if analysis else {}, loaded)
