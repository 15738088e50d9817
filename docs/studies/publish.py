"""Publish finished studies: each report with its charts and its runs' records, so that every quoted number has its run.

    python docs/studies/publish.py studies            # copy every finished study in studies/ to docs/studies/
    python docs/studies/publish.py studies flip       # only these

Per study: report.md, results.json and the PNGs, lr-find.json and each range test's lr_find.json where
the study chose learning rates before its runs (optimizers), and for each run its config.json,
history.csv and metrics.json (no checkpoints, no TensorBoard logs); then docs/studies/index.md for
all published studies. tests/test_docs.py checks that every published results.json equals its runs' records.
"""

import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from keras_cnn.files import read_json  # noqa: E402
from keras_cnn.studies import RECORD_FILES, REPORT_FILE, RESULTS_FILE, STUDIES, write_index  # noqa: E402
from keras_cnn.studies.analyses import LR_FIND_FILE  # noqa: E402

PUBLISHED = os.path.join(REPO, "docs", "studies")


def publish(source: str, name: str) -> str:
    """Copy studies/NAME's report, results, charts and run records to docs/studies/NAME/ (replacing what was there)."""
    folder = os.path.join(source, name)
    if not os.path.isfile(os.path.join(folder, RESULTS_FILE)):
        raise SystemExit(f"error: {folder} holds no finished study (no {RESULTS_FILE}): run `study {name}` first")
    target = os.path.join(PUBLISHED, name)
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target)
    for file in os.listdir(folder):
        if file in (REPORT_FILE, RESULTS_FILE, LR_FIND_FILE) or file.endswith(".png"):
            shutil.copyfile(os.path.join(folder, file), os.path.join(target, file))
    for point in os.listdir(os.path.join(folder, "lr-find")) if os.path.isdir(os.path.join(folder, "lr-find")) else ():
        os.makedirs(os.path.join(target, "lr-find", point))
        shutil.copyfile(os.path.join(folder, "lr-find", point, "lr_find.json"),
                        os.path.join(target, "lr-find", point, "lr_find.json"))
    for run in read_json(os.path.join(folder, RESULTS_FILE))["runs"]:
        os.makedirs(os.path.join(target, run))
        for file in RECORD_FILES:
            shutil.copyfile(os.path.join(folder, run, file), os.path.join(target, run, file))
    return target


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    source = sys.argv[1]
    names = sys.argv[2:] or [name for name in STUDIES if os.path.isdir(os.path.join(source, name))]
    for name in names:
        print(f"published {publish(source, name)}")
    print(f"wrote {write_index(PUBLISHED)}")
