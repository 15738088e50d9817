"""Acceptance: the documented commands run as a user runs them, each in a fresh Python process, chained.

lab (every lab variant) and train (bn, best) -> export (also --tflite, --checkpoint last) -> serve the
exports from a process that imports only TensorFlow, load the checkpoints after `import keras_cnn` ->
predict files and a folder -> evaluate -> heatmap; describe, compare; tune -> train --config best.json;
a messy image folder; interrupted runs (kill -9 between and inside epochs, Ctrl-C, an interrupted lab
and search) that, rerun with the same command, end bit-identical to uninterrupted ones; and the same
chain on the real CIFAR-10 copy when ../shared/data is there.

Each step asserts what a user sees: the exit code, no traceback and no TensorFlow log noise, the
files the command says it wrote, and the numbers agreeing across steps. The runs are module
fixtures that the tests share, and independent commands run two at a time (two cores; a
process's start, TensorFlow's import, uses mostly one).
"""

import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import CIFAR_JPEG, accuracy_applied_directly, needs_cifar_jpeg, tensorboard_scalars, write_image_folder
from PIL import Image

import keras_cnn  # noqa: F401  (registers the custom layers: the comparisons below load checkpoints here too)
from keras_cnn import resolve_config

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, str(REPO / "train_keras.py")]
INTERRUPT = [sys.executable, str(REPO / "tests" / "interrupt.py")]
LAB_VARIANTS = ("lenet5", "baseline", "norm", "augment", "momentum", "dropout", "bn")
TRAINED = ("bn", "best", "fast")  # also trained by `train`, for 3 epochs; the resume tests interrupt bn and best
STEPS_PER_EPOCH = 5  # 80 training images, batch 16
# What TensorFlow prints when its logs reach the console (keras_cnn/console.py keeps them off).
TF_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl", "INFO: Created TensorFlow Lite")


def run(command: list[str], cwd: Path, expect: int = 0) -> subprocess.CompletedProcess:
    """Run `command` as a user would (TensorFlow's log level left to the command line); check what they see.

    `expect`: the exit code (-9: killed by SIGKILL). The console must be free of TensorFlow's logs,
    except for the scripts below that use TensorFlow directly (`python -c`).
    """
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    shown = f"{' '.join(command)}\nexit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == expect, shown
    assert "Traceback" not in result.stderr, shown
    if command[1] != "-c":
        assert not [line for line in result.stderr.splitlines() if line.startswith(TF_NOISE)], shown
    return result


def in_parallel(*calls):
    """Call the zero-argument functions two at a time; their results in order."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [future.result() for future in [pool.submit(call) for call in calls]]


def train_args(variant: str, data: dict, run_dir: Path) -> list[str]:
    return ["train", "--variant", variant, "--data-dir", str(data["cifar"]), "--epochs", "3", "--batch-size", "16",
            "--run-dir", str(run_dir), "--verbose", "2"]


def lab_args(data: dict, out: Path) -> list[str]:
    return ["lab", "--data-dir", str(data["cifar"]), "--mnist-dir", str(data["mnist"]), "--epochs", "1",
            "--lenet5-epochs", "1", "--batch-size", "16", "--out", str(out), "--verbose", "2"]


def tune_args(data: dict, out: Path) -> list[str]:
    return ["tune", "--variant", "baseline", "--tuner", "random", "--max-trials", "2", "--epochs", "1",
            "--val-split", "0.25", "--batch-size", "16", "--data-dir", str(data["cifar"]), "--out", str(out),
            "--verbose", "2"]


def history_without_timings(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        return [{key: value for key, value in row.items() if "second" not in key} for row in csv.DictReader(f)]


def metrics_without_timings(run_dir: Path) -> dict:
    return {key: value for key, value in json.loads((run_dir / "metrics.json").read_text()).items()
            if "second" not in key}


def trials_without_timings(out: Path) -> list[dict]:
    with open(out / "trials.csv", newline="") as f:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(f)]


def max_weight_difference(a: Path, b: Path) -> float:
    pairs = zip(keras.saving.load_model(a).get_weights(), keras.saving.load_model(b).get_weights())
    return max(float(np.max(np.abs(x - y))) for x, y in pairs)


def tensorboard_without_timings(log_dir: Path) -> dict:
    return {split: {tag: values for tag, values in tensorboard_scalars(log_dir / split).items() if "second" not in tag}
            for split in ("train", "validation")}


def assert_same_run(resumed: Path, uninterrupted: Path) -> None:
    """Same history, metrics and TensorBoard scalars (timings aside), bit-identical checkpoints, the last state kept."""
    assert history_without_timings(resumed) == history_without_timings(uninterrupted)
    assert (tensorboard_without_timings(resumed / "tensorboard")
            == tensorboard_without_timings(uninterrupted / "tensorboard"))
    assert metrics_without_timings(resumed) == metrics_without_timings(uninterrupted)
    checkpoints = sorted(path.name for path in uninterrupted.glob("*.keras"))
    assert checkpoints == sorted(path.name for path in resumed.glob("*.keras")) and "last.keras" in checkpoints
    for name in checkpoints:
        assert max_weight_difference(resumed / name, uninterrupted / name) == 0.0, name
    epochs = len(history_without_timings(uninterrupted))
    assert [path.name for path in (resumed / "backup").iterdir()] == [f"epoch-{epochs:04d}"]  # the last state only


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The user's working folder: default outputs like saved_models/ land here, not in the checkout."""
    return tmp_path_factory.mktemp("user")


@pytest.fixture(scope="module")
def data(work) -> dict:
    """A 10-class CIFAR-shaped folder (8 train, 4 test PNGs per class) and an MNIST-shaped one (28x28 grayscale)."""
    return {
        "cifar": write_image_folder(work / "cifar", classes=[f"class{i}" for i in range(10)], train=8, test=4),
        "mnist": write_image_folder(work / "mnist", classes=[str(i) for i in range(10)], train=8, test=4,
                                    shape=(28, 28, 1)),
    }


@pytest.fixture(scope="module")
def runs(work, data) -> dict[str, Path]:
    """Every variant trained: the lab's by `lab` (one epoch each), bn, best and fast by `train` (three epochs)."""
    lab, trained = in_parallel(
        lambda: run(CLI + lab_args(data, work / "lab"), work),
        lambda: [run(CLI + train_args(variant, data, work / "runs" / variant), work) for variant in TRAINED],
    )
    assert "Lab done (7 trained)" in lab.stdout
    for variant, result in zip(TRAINED, trained):
        assert f"Training {variant} on {data['cifar']}" in result.stdout
        assert f"results in {work / 'runs' / variant}" in result.stdout
    return {**{variant: work / "lab" / variant for variant in LAB_VARIANTS}, **{v: work / "runs" / v for v in TRAINED}}


# Exported: a run of each kind of layer (baseline, norm, momentum and dropout use a subset of bn's).
# --checkpoint last: the default.
EXPORTED = {"lenet5": [], "augment": [], "bn": ["--tflite"], "best": ["--checkpoint", "last"], "fast": []}


@pytest.fixture(scope="module")
def exports(work, runs) -> dict[str, Path]:
    export_dirs = {variant: work / "exports" / variant for variant in EXPORTED}
    results = in_parallel(*[
        lambda v=variant: run(CLI + ["export", "--run", str(runs[v]), "--to", str(export_dirs[v]), *EXPORTED[v]], work)
        for variant in EXPORTED
    ])
    for variant, result in zip(EXPORTED, results):
        assert result.stdout.startswith(f"Exported {runs[variant]}/last.keras to {export_dirs[variant]}: ")
    return export_dirs


@pytest.fixture(scope="module")
def split_images(work, data) -> dict[str, Path]:
    """Each data set's test images as one (N, H, W, C) uint8 .npy, read with PIL in test-split order."""
    arrays = {}
    for name in ("cifar", "mnist"):
        pixels = [np.asarray(Image.open(path)) for path in sorted((data[name] / "test").glob("*/*.png"))]
        arrays[name] = work / f"{name}-test.npy"
        np.save(arrays[name], np.stack([image.reshape(*image.shape[:2], -1) for image in pixels]))
    return arrays


SERVE_WITH_TENSORFLOW_ONLY = """
import json, sys
import numpy as np
import tensorflow as tf
exports, images, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
results = {}
for variant, folder in exports.items():
    pixels = np.load(images["mnist" if variant == "lenet5" else "cifar"])
    serve = tf.saved_model.load(folder).signatures["serving_default"]
    results[variant] = serve(pixels=tf.constant(pixels, tf.uint8))["probabilities"].numpy()
runner = tf.lite.Interpreter(model_path=exports["bn"] + "/model.tflite").get_signature_runner("serving_default")
results["bn-tflite"] = runner(pixels=np.load(images["cifar"]))["probabilities"]
np.savez(out, **results)
print(sorted(name for name in sys.modules if name.split(".")[0] in ("keras_cnn", "pipelines", "train_keras")))
"""

LOAD_AFTER_IMPORT_KERAS_CNN = """
import json, sys
import numpy as np
import keras_cnn
import keras
checkpoints, images, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
inputs = {variant: np.load(images["mnist" if variant == "lenet5" else "cifar"]) for variant in checkpoints}
np.savez(out, **{variant: keras.models.load_model(path).predict(inputs[variant], verbose=0)
                 for variant, path in checkpoints.items()})
"""


@pytest.fixture(scope="module")
def predictions(work, runs, exports, split_images) -> tuple[dict, dict]:
    """(served, loaded): each export's probabilities on its test images from a process that imports only
    TensorFlow, and each checkpoint's from a fresh process that imports keras_cnn, then keras.models.load_model."""
    images = json.dumps({name: str(path) for name, path in split_images.items()})
    checkpoints = {v: str(run_dir / "last.keras") for v, run_dir in runs.items()}
    served, _ = in_parallel(
        lambda: run([sys.executable, "-c", SERVE_WITH_TENSORFLOW_ONLY,
                     json.dumps({v: str(p) for v, p in exports.items()}),
                     images, str(work / "served.npz")], work),
        # From the checkout, as a user who has not installed the package runs Python.
        lambda: run([sys.executable, "-c", LOAD_AFTER_IMPORT_KERAS_CNN, json.dumps(checkpoints), images,
                     str(work / "loaded.npz")], REPO),
    )
    assert served.stdout.strip() == "[]"  # none of this project's modules was imported
    return dict(np.load(work / "served.npz")), dict(np.load(work / "loaded.npz"))


def test_every_variant_trains_and_writes_every_run_file(runs):
    for variant, run_dir in runs.items():
        files = {path.name for path in run_dir.iterdir()}
        assert {"config.json", "history.csv", "last.keras", "curves.png", "metrics.json"} <= files, variant
        assert "best.keras" not in files, variant  # no validation split: the test split chooses no epoch
        assert not [name for name in files if name.startswith(".tmp-")]
        epochs = 3 if run_dir.parent.name == "runs" else 1
        assert len(history_without_timings(run_dir)) == epochs
        assert [path.name for path in (run_dir / "backup").iterdir()] == [f"epoch-{epochs:04d}"], variant
        assert json.loads((run_dir / "config.json").read_text())["versions"]["keras_cnn"]
        epochs = list(range(len(history_without_timings(run_dir))))  # TensorBoard's steps: epochs from 0
        logged = tensorboard_without_timings(run_dir / "tensorboard")
        for tag in ("epoch_loss", "epoch_accuracy", "epoch_learning_rate"):
            assert [step for step, _ in logged["train"][tag]] == epochs, (variant, tag)
        # The test split, evaluated every epoch (fast: after the last one only).
        evaluated = epochs if resolve_config(variant).eval_each_epoch else epochs[-1:]
        for tag in ("epoch_loss", "epoch_accuracy"):
            assert [step for step, _ in logged["validation"][tag]] == evaluated, (variant, tag)


def test_every_checkpoint_loads_after_import_keras_cnn_and_every_export_serves_the_same(exports, predictions):
    served, loaded = predictions
    assert set(loaded) == set(LAB_VARIANTS) | set(TRAINED)
    assert all(probabilities.shape == (40, 10) for probabilities in loaded.values())
    for variant, export_dir in exports.items():
        info = json.loads((export_dir / "model_info.json").read_text())
        assert info["signature"] == "serving_default" and (export_dir / "saved_model.pb").exists()
        assert info["source"]["checkpoint"] == "last.keras"
        assert np.allclose(served[variant], loaded[variant], atol=1e-5), variant
    assert np.allclose(served["bn-tflite"], loaded["bn"], atol=1e-4)


def test_predict_files_and_a_folder_with_the_exports(work, data, exports, predictions):
    _, loaded = predictions
    files = sorted((data["cifar"] / "test").glob("*/*.png"))
    text, as_json = in_parallel(
        lambda: run(CLI + ["predict", "--model", str(exports["bn"]), str(files[0]), str(files[5]), "--top-k",
                           "1"], work),
        lambda: run(CLI + ["predict", "--model", str(exports["lenet5"]), str(data["mnist"] / "test"), "--json"], work),
    )
    for line, index in zip(text.stdout.strip().splitlines(), (0, 5), strict=True):
        best = int(np.argmax(loaded["bn"][index]))
        assert line == f"{files[index]}: class{best} {loaded['bn'][index][best]:.1%}"
    results = json.loads(as_json.stdout)["results"]
    assert [result["file"] for result in results] == [str(f) for f in sorted((data["mnist"] / "test").glob("*/*.png"))]
    for result, probabilities in zip(results, loaded["lenet5"]):
        assert result["predictions"][0]["index"] == int(np.argmax(probabilities))
        assert result["predictions"][0]["probability"] == pytest.approx(float(probabilities.max()), abs=1e-5)


def test_evaluate_repeats_each_runs_own_accuracy(work, runs):
    checks = {"lenet5": [], "bn": [], "best": ["--checkpoint", "last"]}  # best: its six test views, as in training
    results = in_parallel(*[
        lambda v=variant: run(CLI + ["evaluate", "--run", str(runs[v]), *checks[v], "--json"], work)
        for variant in checks
    ])
    for variant, result in zip(checks, results):
        evaluated = json.loads(result.stdout)
        metrics = json.loads((runs[variant] / "metrics.json").read_text())
        assert evaluated["checkpoint"] == "last" and evaluated["test_accuracy"] == pytest.approx(
            metrics["final_test_accuracy"], abs=1e-6)
    assert json.loads(results[2].stdout)["tta"] == "flip-translate"
    refused = run(CLI + ["evaluate", "--run", str(runs["bn"]), "--checkpoint", "best"], work, expect=1)
    assert refused.stderr.count("\n") == 1 and "no best.keras: it was trained without --val-split" in refused.stderr


def test_heatmap_describe_inspect_lr_find_and_compare(work, data, runs):
    image, out = work / "big.png", work / "heatmap-best.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(image)
    saved = sorted(path.name for path in runs["bn"].iterdir())
    heatmap, describe, augmentation, inspect, lr_find = in_parallel(
        lambda: run(CLI + ["heatmap", str(image), "--run", str(runs["best"]), "--out", str(out)], work),
        lambda: run(CLI + ["describe", "--variant", "bn"], work),
        lambda: run(CLI + ["describe", "--show-augmentation", "augment", "--data-dir", str(data["cifar"])], work),
        lambda: run(CLI + ["inspect", "--run", str(runs["bn"])], work),
        lambda: run(CLI + ["lr-find", "--variant", "bn", "--data-dir", str(data["cifar"]), "--batch-size", "16",
                           "--steps", "20"], work),
    )
    assert heatmap.stdout.startswith(f"Wrote {out} (") and out.stat().st_size > 0
    assert all(name in describe.stdout
               for name in ("conv1", "bn1", "pool3", "fc4", "fc5")) and "1,191,490" in describe.stdout
    grid = Path("runs") / "augmentation-augment.png"  # the default, under the working folder
    assert augmentation.stdout.startswith(f"Wrote {grid}: ") and (work / grid).stat().st_size > 0

    # inspect writes into the run's inspect/ folder and says what; lr-find writes beside, never into a run.
    files, folder = inspect.stdout.strip().removeprefix("Wrote ").split(": test accuracy")[0].split(" to ")
    assert folder == str(runs["bn"] / "inspect") and all((runs["bn"] / "inspect" / name).is_file()
                                                         for name in files.split(", "))
    summary = json.loads((runs["bn"] / "inspect" / "summary.json").read_text())
    metrics = json.loads((runs["bn"] / "metrics.json").read_text())
    assert summary["test_accuracy"] == pytest.approx(metrics["final_test_accuracy"])
    lr_out = Path("runs") / "lr-find" / "bn"
    assert lr_find.stdout.startswith(f"Wrote lr_find.png, lr_find.csv, lr_find.json to {lr_out}: ")
    assert sorted(os.listdir(work / lr_out)) == ["lr_find.csv", "lr_find.json", "lr_find.png"]
    assert sorted(path.name for path in runs["bn"].iterdir()) == sorted(saved + ["inspect"])

    compare = run(CLI + ["compare", str(work / "lab"), str(work / "runs"), "--out", str(work / "compared")], work)
    report = (work / "compared" / "report.md").read_text()
    assert compare.stdout.startswith("Wrote ") and all(f"| {v} |" in report for v in LAB_VARIANTS + ("best",)
                                                       if v != "bn")
    assert f"| {work / 'lab' / 'bn'} (bn) |" in report and f"| {work / 'runs' / 'bn'} (bn) |" in report  # two bn runs
    assert "../runs/bn/inspect/report.md" in report  # compare links the inspect outputs of the runs that have them
    assert (work / "lab" / "report.md").exists() and (work / "lab" / "test_accuracy.png").exists()


@pytest.fixture(scope="module")
def tuned(work, data) -> Path:
    out = work / "tune"
    result = run(CLI + tune_args(data, out), work)
    assert f"retrain it: python train_keras.py train --config {out / 'best.json'} (into runs/tune)" in result.stdout
    return out


def test_tune_then_train_its_best_config(work, data, tuned):
    assert [trial["status"] for trial in trials_without_timings(tuned)] == ["COMPLETED", "COMPLETED"]
    for trial in ("0", "1"):  # one TensorBoard run per trial, with its values for the HParams tab
        assert [step for step, _ in tensorboard_scalars(tuned / "tensorboard" / trial / "execution0" / "validation")[
            "epoch_accuracy"]] == [0]
    best = json.loads((tuned / "best.json").read_text())["config"]
    # As the README chains them: the retrained run goes to runs/<search folder>, not to the variant's runs/baseline.
    trained = run(CLI + ["train", "--config", str(tuned / "best.json"), "--epochs", "1"], work)
    run_dir = Path("runs") / "tune"
    assert f"results in {run_dir}" in trained.stdout
    trained = json.loads((work / run_dir / "config.json").read_text())["config"]
    assert {key: trained[key] for key in ("lr", "momentum", "lr_decay", "dropout")} == {
        key: best[key] for key in ("lr", "momentum", "lr_decay", "dropout")}


def test_a_messy_image_folder_is_read_as_keras_reads_it(work):
    root = write_image_folder(work / "messy", classes=("a", "b"), train=4, test=2)
    (root / "train" / "a" / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(root / "train" / "b" / "gray.png")
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(root / "test" / "b" / "big.png")
    train = CLI + ["train", "--variant", "baseline", "--data-dir", str(root), "--epochs", "1", "--run-dir"]
    messy, strict = in_parallel(
        lambda: run(train + [str(work / "messy-run")], work),
        lambda: run(train + [str(work / "messy-strict"), "--strict-images"], work, expect=1),
    )
    assert (f"skipped 1 file without an image extension (.bmp/.gif/.jpeg/.jpg/.png), e.g. {root}/train/a/notes.txt"
            in messy.stdout)
    assert "converted 1 image of 14 to RGB" in messy.stdout and "resized 1 image of 14 to 32x32" in messy.stdout
    assert strict.stderr.strip().splitlines() == [
        f"error: {root}/train/a/notes.txt is not an image file (.bmp/.gif/.jpeg/.jpg/.png): remove it, or drop "
        "--strict-images to skip it"]


def test_a_finished_run_trained_on_is_exactly_the_longer_run(work, data, runs):
    """`train --epochs 3` on a finished 2-epoch run goes on from epoch 3 and ends as the 3-epoch run did;
    a schedule that depends on the number of epochs (best's onecycle) refuses in one line."""
    def two_epochs(variant: str, run_dir: Path) -> list[str]:
        args = train_args(variant, data, run_dir)
        args[args.index("--epochs") + 1] = "2"
        return args

    extended = work / "extended"
    in_parallel(lambda: run(CLI + two_epochs("bn", extended / "bn"), work),
                lambda: run(CLI + two_epochs("best", extended / "best"), work))
    result = run(CLI + train_args("bn", data, extended / "bn"), work)
    assert "2 done, going on from epoch 3" in result.stdout
    assert_same_run(extended / "bn", runs["bn"])
    record = json.loads((extended / "bn" / "config.json").read_text())
    assert record["config"]["epochs"] == 3 and [(e["from_epochs"], e["to_epochs"])
                                                for e in record["extended"]] == [(2, 3)]

    refused = run(CLI + train_args("best", data, extended / "best"), work, expect=1)
    assert refused.stderr.strip().splitlines() == [
        f"error: {extended / 'best'} holds a run of 2 epochs whose onecycle schedule depends on the number of epochs: "
        "going on to 3 would not be the run trained 3 epochs from the start; pass --overwrite to train it again, "
        "or --run-dir for a new one"]


def test_interrupted_runs_resume_to_exactly_the_uninterrupted_ones(work, data, runs):
    interrupted = {  # run folder: (where it stops, the variant, the exit code of the stop)
        "bn-between-epochs": (["--kill-after-epoch", "1"], "bn", -9),
        "bn-inside-an-epoch": (["--kill-after-step", str(STEPS_PER_EPOCH + 2)], "bn", -9),
        "best-ctrl-c": (["--interrupt-after-step", str(2 * STEPS_PER_EPOCH + 2)], "best", 130),
    }
    folder = work / "resumed"
    stopped = in_parallel(*[
        lambda name=name, point=point, variant=variant, code=code: run(
            INTERRUPT + point + ["--"] + train_args(variant, data, folder / name), work, expect=code)
        for name, (point, variant, code) in interrupted.items()
    ])
    interrupted_line = "interrupted: rerun the same command to resume from the last finished epoch"
    assert stopped[2].stderr.strip().splitlines()[-1] == interrupted_line
    assert not any((folder / name / "metrics.json").exists() for name in interrupted)
    resumed = in_parallel(*[lambda name=name, variant=variant: run(CLI + train_args(variant, data, folder / name), work)
                            for name, (_, variant, _) in interrupted.items()])
    for result, done in zip(resumed, (1, 1, 2)):
        assert f"{done} done, going on from epoch {done + 1}" in result.stdout
    for name, (_, variant, _) in interrupted.items():
        assert_same_run(folder / name, runs[variant])


def test_an_interrupted_lab_and_search_resume_exactly(work, data, runs, tuned):
    lab, search = work / "lab-resumed", work / "tune-resumed"
    # lenet5 takes steps 1-5, then each CIFAR-10 variant 5: step 13 is inside norm, the third variant.
    # A search's first trial takes steps 1-5: step 7 is inside the second.
    in_parallel(lambda: run(INTERRUPT + ["--kill-after-step", "13", "--"] + lab_args(data, lab), work, expect=-9),
                lambda: run(INTERRUPT + ["--kill-after-step", "7", "--"] + tune_args(data, search), work, expect=-9))
    assert (lab / "baseline" / "metrics.json").exists() and not (lab / "norm" / "metrics.json").exists()
    rerun_lab, _ = in_parallel(lambda: run(CLI + lab_args(data, lab), work),
                               lambda: run(CLI + tune_args(data, search), work))
    assert "Lab done (2 finished, 1 resumed, 4 trained)" in rerun_lab.stdout
    for variant in LAB_VARIANTS:
        assert_same_run(lab / variant, work / "lab" / variant)
    assert trials_without_timings(search) == trials_without_timings(tuned)
    for trial in ("0", "1"):  # the interrupted trial's logs started over with it
        logs = search / "tensorboard" / trial / "execution0"
        uninterrupted = tuned / "tensorboard" / trial / "execution0"
        assert tensorboard_without_timings(logs) == tensorboard_without_timings(uninterrupted)


@needs_cifar_jpeg
def test_the_real_cifar10_copy_trains_exports_predicts_and_evaluates_alike(work):
    run_dir = work / "real" / "bn-real"
    run(CLI + ["train", "--variant", "bn", "--data-dir", str(CIFAR_JPEG), "--limit", "500", "--epochs", "1",
               "--run-dir", str(run_dir), "--export"], work)
    export_dir = work / "saved_models" / "bn-real"  # --export's default folder, under the working folder
    cats = CIFAR_JPEG / "test" / "cat"
    predicted, evaluated = in_parallel(
        lambda: json.loads(run(CLI + ["predict", "--model", str(export_dir), str(cats), "--json"], work).stdout),
        lambda: json.loads(run(CLI + ["evaluate", "--run", str(run_dir), "--json"], work).stdout),
    )
    # evaluate's accuracy is the run's own, and that of last.keras applied here to the run's 500 test images.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test_images"] == 500
    assert evaluated["test_accuracy"] == pytest.approx(metrics["final_test_accuracy"], abs=1e-6)
    assert evaluated["test_accuracy"] == pytest.approx(accuracy_applied_directly(run_dir), abs=1e-6)
    # predict's answer for each of the 1,000 cat pictures (the SavedModel on its decoding) is last.keras's on
    # the pixels Pillow decodes.
    top = {result["file"]: result["predictions"][0] for result in predicted["results"]}
    files = sorted(str(path) for path in cats.iterdir())
    assert sorted(top) == files and len(files) == 1000
    images = np.stack([np.asarray(Image.open(file).convert("RGB")) for file in files])
    expected = keras.saving.load_model(run_dir / "last.keras").predict(images, batch_size=250, verbose=0)
    class_names = json.loads((export_dir / "model_info.json").read_text())["class_names"]
    assert [top[file]["class"] for file in files] == [class_names[index] for index in expected.argmax(axis=1)]
    assert [top[file]["probability"] for file in files] == pytest.approx(expected.max(axis=1).tolist(), abs=1e-4)
