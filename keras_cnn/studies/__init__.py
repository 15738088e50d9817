"""Experiments that answer the lab's "what happens when" questions: `train_keras.py study NAME`.

A study is a small grid of points, each trained with several seeds as ordinary runs in
studies/<name>/<point>_seed-<n>/ (the run folders, records and resume of `train`), then
studies/<name>/report.md: how it is measured, a finding computed from the runs' records after
they ran, tables of each point's mean and spread, and charts. The runs go one after another as in
`lab` (keras_cnn/sequence.py), not through keras-tuner's GridSearch: a grid point here is a whole
run whose folder the other commands read (compare, inspect, export), and the findings read
several values of each run (final train and test, epoch 0, the gap), where a tuner trial keeps
one objective in its own format.

The modules, one concern each: `definitions` (what each study is and its default scale), `noise`
(the one rule for a measurable difference), `findings` (the sentences), `analyses` (measurements
before or after the runs), `results` (the runs' records by point), `running` (the grid) and
`report` (report.md, results.json, charts).
"""

from keras_cnn.rundir import RECORD_FILES
from keras_cnn.studies.definitions import SEEDS, STUDIES, Study, describe_studies, grid_points
from keras_cnn.studies.report import INDEX_FILE, REPORT_FILE, RESULTS_FILE, write_index
from keras_cnn.studies.results import Results
from keras_cnn.studies.running import parse_grid, run_studies, study

__all__ = ["INDEX_FILE", "RECORD_FILES", "REPORT_FILE", "RESULTS_FILE", "SEEDS", "STUDIES", "Results", "Study",
           "describe_studies", "grid_points", "parse_grid", "run_studies", "study", "write_index"]
