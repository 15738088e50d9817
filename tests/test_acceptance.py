"""Acceptance: the documented commands run as a user runs them, each in a fresh Python process, chained.

train every variant -> export (also --tflite, --checkpoint last) -> serve each export from a process
that imports only TensorFlow, and load each checkpoint after `import keras_cnn` -> predict files and a
folder -> evaluate -> heatmap; describe, compare, lab, tune -> train --config best.json; messy image
folders; and interrupted runs (kill -9 between and inside epochs, Ctrl-C; lab; tune) that, rerun with
the same command, end bit-identical to uninterrupted ones. The trained runs are module fixtures that
the tests share. Each step asserts what a user sees: the exit code, no traceback and no TensorFlow
log noise, the files the command says it wrote, and the numbers agreeing across steps.
"""

import csv
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import CIFAR_JPEG, needs_cifar_jpeg, write_image_folder

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, str(REPO / "train_keras.py")]
INTERRUPT = [sys.executable, str(REPO / "tests" / "interrupt.py")]
CIFAR_VARIANTS = ("baseline", "norm", "augment", "momentum", "dropout", "bn", "best")
LONGER = {"bn": 3, "best": 3}  # epochs of the runs that the resume tests interrupt; the others train 1
STEPS_PER_EPOCH = 5  # 80 training images, batch 16
# What TensorFlow prints when its logs reach the console (keras_cnn/console.py keeps them off).
TF_NOISE = ("I0000", "W0000", "E0000", "WARNING: All log messages before absl", "INFO: Created TensorFlow Lite")


def run(command: list[str], cwd: Path, expect: int = 0, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `command` as a user would (TensorFlow's log level left to the command line); check what they see."""
    env = {name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout)
    shown = f"{' '.join(command)}\nexit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == expect, shown
    assert "Traceback" not in result.stderr, shown
    assert not [line for line in result.stderr.splitlines() if line.startswith(TF_NOISE)], shown
    return result


def run_all(commands: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess]:
    """Run the commands two at a time (the CI machine has two cores; a process's import is mostly one)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda command: run(command, cwd), commands))


def train_args(variant: str, data: dict, run_dir: Path) -> list[str]:
    source = data["mnist"] if variant == "lenet5" else data["cifar"]
    return ["train", "--variant", variant, "--data-dir", str(source), "--epochs", str(LONGER.get(variant, 1)),
            "--batch-size", "16", "--run-dir", str(run_dir), "--verbose", "2"]


def history_without_timings(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv", newline="") as f:
        return [{key: value for key, value in row.items() if "second" not in key} for row in csv.DictReader(f)]


def metrics_without_timings(run_dir: Path) -> dict:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {key: value for key, value in metrics.items() if "second" not in key}


WEIGHT_DIFFERENCE = """
import json, sys
import numpy as np
import keras_cnn, keras
pairs = json.loads(sys.argv[1])
print(json.dumps([max(float(np.max(np.abs(a - b))) for a, b in zip(keras.saving.load_model(x).get_weights(),
                                                                 keras.saving.load_model(y).get_weights()))
                  for x, y in pairs]))
"""


def max_weight_differences(pairs: list[tuple[Path, Path]], cwd: Path) -> list[float]:
    """Largest absolute difference between the weights of each pair of checkpoints, loaded in a fresh process."""
    result = run([sys.executable, "-c", WEIGHT_DIFFERENCE, json.dumps([[str(a), str(b)] for a, b in pairs])], cwd)
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_same_run(resumed: Path, uninterrupted: Path, cwd: Path) -> None:
    assert history_without_timings(resumed) == history_without_timings(uninterrupted)
    assert metrics_without_timings(resumed) == metrics_without_timings(uninterrupted)
    pairs = [(resumed / name, uninterrupted / name) for name in ("last.keras", "best.keras")]
    assert max_weight_differences(pairs, cwd) == [0.0, 0.0]
    assert not (resumed / "backup").exists()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The user's working folder (default outputs like saved_models/ land here, not in the checkout)."""
    return tmp_path_factory.mktemp("user")


@pytest.fixture(scope="module")
def data(work) -> dict:
    """A 10-class CIFAR-shaped folder (8 train, 4 test PNGs per class) and an MNIST-shaped one (28x28 grayscale)."""
    classes = [f"class{i}" for i in range(10)]
    return {
        "cifar": write_image_folder(work / "cifar", classes=classes, train=8, test=4),
        "mnist": write_image_folder(work / "mnist", classes=[str(i) for i in range(10)], train=8, test=4,
                                    shape=(28, 28, 1)),
    }


@pytest.fixture(scope="module")
def runs(work, data) -> dict[str, Path]:
    """Every variant trained by `train`: lenet5 on the MNIST-shaped folder, the others on the CIFAR-shaped one."""
    run_dirs = {variant: work / "runs" / variant for variant in ("lenet5", *CIFAR_VARIANTS)}
    results = run_all([CLI + train_args(variant, data, run_dir) for variant, run_dir in run_dirs.items()], work)
    for (variant, run_dir), result in zip(run_dirs.items(), results):
        assert f"Training {variant} on {data['mnist' if variant == 'lenet5' else 'cifar']}" in result.stdout
        assert f"results in {run_dir}" in result.stdout
    return run_dirs


@pytest.fixture(scope="module")
def exports(work, runs) -> dict[str, Path]:
    """Every run exported; bn also as TFLite, best from last.keras."""
    export_dirs = {variant: work / "exports" / variant for variant in runs}
    extra = {"bn": ["--tflite"], "best": ["--checkpoint", "last"]}
    commands = [CLI + ["export", "--run", str(runs[v]), "--to", str(export_dirs[v]), *extra.get(v, [])] for v in runs]
    for variant, result in zip(runs, run_all(commands, work)):
        assert result.stdout.startswith(f"Exported {runs[variant]}/{'last' if variant == 'best' else 'best'}.keras to ")
    return export_dirs


@pytest.fixture(scope="module")
def test_images(work, data) -> dict[str, Path]:
    """The test split's images of each data set as one .npy (native size, read with PIL), for every process to use."""
    arrays = {}
    for name in ("cifar", "mnist"):
        pixels = [np.asarray(Image.open(path)) for path in sorted((data[name] / "test").glob("*/*.png"))]
        arrays[name] = work / f"{name}-test.npy"
        np.save(arrays[name], np.stack([image.reshape(*image.shape[:2], -1) for image in pixels]))  # (N, H, W, C)
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
print(sorted(name for name in sys.modules if name.split(".")[0] in ("keras_cnn", "pipelines")))
"""

LOAD_AFTER_IMPORT_KERAS_CNN = """
import json, sys
import numpy as np
import keras_cnn
import keras
checkpoints, images, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
results = {}
for variant, path in checkpoints.items():
    model = keras.models.load_model(path)
    results[variant] = model.predict(np.load(images["mnist" if variant == "lenet5" else "cifar"]), verbose=0)
np.savez(out, **results)
"""


@pytest.fixture(scope="module")
def served(work, exports, test_images) -> dict[str, np.ndarray]:
    """Each export's probabilities on its test images, from a process that imports only TensorFlow."""
    out = work / "served.npz"
    images = json.dumps({name: str(path) for name, path in test_images.items()})
    result = run([sys.executable, "-c", SERVE_WITH_TENSORFLOW_ONLY, json.dumps({v: str(p) for v, p in exports.items()}),
                  images, str(out)], work)
    assert result.stdout.strip() == "[]"  # none of this project's modules was imported
    return dict(np.load(out))


@pytest.fixture(scope="module")
def loaded(work, runs, test_images) -> dict[str, np.ndarray]:
    """Each checkpoint's probabilities on its test images: `import keras_cnn`, then `keras.models.load_model`."""
    out = work / "loaded.npz"
    checkpoints = {variant: str(run_dir / ("last.keras" if variant == "best" else "best.keras")) for variant, run_dir in runs.items()}
    images = json.dumps({name: str(path) for name, path in test_images.items()})
    run([sys.executable, "-c", LOAD_AFTER_IMPORT_KERAS_CNN, json.dumps(checkpoints), images, str(out)], work)
    return dict(np.load(out))


def test_train_writes_every_run_file_for_every_variant(runs):
    for variant, run_dir in runs.items():
        files = {path.name for path in run_dir.iterdir()}
        assert {"config.json", "history.csv", "last.keras", "best.keras", "curves.png", "metrics.json"} <= files, variant
        assert "backup" not in files and not [name for name in files if name.startswith(".tmp-")]
        assert len(history_without_timings(run_dir)) == LONGER.get(variant, 1)
        assert json.loads((run_dir / "config.json").read_text())["versions"]["keras_cnn"]


def test_every_export_serves_what_its_checkpoint_predicts(exports, served, loaded):
    for variant, export_dir in exports.items():
        info = json.loads((export_dir / "model_info.json").read_text())
        assert info["signature"] == "serving_default" and (export_dir / "saved_model.pb").exists()
        assert info["source"]["checkpoint"] == ("last.keras" if variant == "best" else "best.keras")
        assert served[variant].shape == loaded[variant].shape == (40, 10)
        assert np.allclose(served[variant], loaded[variant], atol=1e-5), variant
    assert np.allclose(served["bn-tflite"], loaded["bn"], atol=1e-4)


def test_predict_files_and_a_folder_with_the_exports(work, data, exports, loaded):
    files = sorted((data["cifar"] / "test").glob("*/*.png"))
    result = run(CLI + ["predict", "--model", str(exports["bn"]), str(files[0]), str(files[5]), "--top-k", "1"], work)
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(files[0]), str(files[5])]
    for line, index in zip(lines, (0, 5)):
        best = int(np.argmax(loaded["bn"][index]))
        assert line.split(": ")[1] == f"class{best} {loaded['bn'][index][best]:.1%}"

    result = run(CLI + ["predict", "--model", str(exports["lenet5"]), str(data["mnist"] / "test"), "--json"], work)
    predictions = json.loads(result.stdout)["results"]
    assert [p["file"] for p in predictions] == [str(f) for f in sorted((data["mnist"] / "test").glob("*/*.png"))]
    for prediction, probabilities in zip(predictions, loaded["lenet5"]):
        assert prediction["predictions"][0]["index"] == int(np.argmax(probabilities))
        assert prediction["predictions"][0]["probability"] == pytest.approx(float(probabilities.max()), abs=1e-5)


@pytest.mark.parametrize("variant", ["lenet5", "bn", "best"])
def test_evaluate_repeats_the_runs_own_accuracy(work, runs, variant):
    metrics = json.loads((runs[variant] / "metrics.json").read_text())
    best = json.loads(run(CLI + ["evaluate", "--run", str(runs[variant]), "--json"], work).stdout)
    assert best["test_accuracy"] == pytest.approx(metrics["best_test_accuracy"], abs=1e-6)
    last = run(CLI + ["evaluate", "--run", str(runs[variant]), "--checkpoint", "last"], work).stdout
    assert f"Test accuracy {metrics['final_test_accuracy']:.2%}" in last


@pytest.mark.parametrize("variant", ["bn", "best"])
def test_heatmap_of_a_trained_run(work, data, runs, variant):
    image = work / f"big-{variant}.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(image)
    out = work / f"heatmap-{variant}.png"
    result = run(CLI + ["heatmap", str(image), "--run", str(runs[variant]), "--out", str(out)], work)
    assert result.stdout.startswith(f"Wrote {out} (") and out.stat().st_size > 0


def test_describe_prints_the_network_layer_by_layer(work):
    text = run(CLI + ["describe", "--variant", "bn"], work).stdout
    assert all(name in text for name in ("conv1", "bn1", "pool3", "fc4", "fc5")) and "1,191,490" in text
    assert run(CLI + ["describe", "--variant", "lenet5", "--markdown"], work).stdout.startswith("**lenet5")


def test_compare_reports_every_run(work, runs):
    result = run(CLI + ["compare", str(work / "runs"), "--out", str(work / "compared")], work)
    report = (work / "compared" / "report.md").read_text()
    assert result.stdout.startswith("Wrote ") and all(f"| {variant} |" in report for variant in runs)


LAB = ["lab", "--epochs", "1", "--lenet5-epochs", "1", "--batch-size", "16", "--verbose", "2"]


@pytest.fixture(scope="module")
def lab(work, data) -> Path:
    out = work / "lab"
    result = run(CLI + LAB + ["--data-dir", str(data["cifar"]), "--mnist-dir", str(data["mnist"]), "--out", str(out)], work)
    assert "Lab done (7 trained)" in result.stdout
    return out


def test_lab_trains_the_progression_and_writes_the_report(lab):
    report = (lab / "report.md").read_text()
    assert all(f"| {variant} |" in report for variant in ("lenet5", "baseline", "norm", "augment", "momentum", "dropout", "bn"))
    assert (lab / "test_accuracy.png").exists() and (lab / "train_vs_test.png").exists()


TUNE = ["tune", "--variant", "baseline", "--tuner", "random", "--max-trials", "2", "--epochs", "1", "--batch-size", "16",
        "--verbose", "2"]


@pytest.fixture(scope="module")
def tuned(work, data) -> Path:
    out = work / "tune"
    result = run(CLI + TUNE + ["--data-dir", str(data["cifar"]), "--out", str(out)], work)
    assert f"retrain it: python train_keras.py train --config {out / 'best.json'}" in result.stdout
    return out


def trials(out: Path) -> list[dict]:
    """trials.csv without the trials' timings: id, status, the searched values, the score and its epoch."""
    with open(out / "trials.csv", newline="") as f:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(f)]


def test_tune_then_train_its_best_config(work, data, tuned):
    assert [trial["status"] for trial in trials(tuned)] == ["COMPLETED", "COMPLETED"]
    best = json.loads((tuned / "best.json").read_text())
    run_dir = work / "runs-tuned" / "best-of-tune"
    run(CLI + ["train", "--config", str(tuned / "best.json"), "--epochs", "1", "--data-dir", str(data["cifar"]),
               "--run-dir", str(run_dir)], work)
    trained = json.loads((run_dir / "config.json").read_text())["config"]
    assert (trained["lr"], trained["momentum"], trained["dropout"]) == (best["lr"], best["momentum"], best["dropout"])


def test_messy_image_folder_is_read_as_keras_reads_it(work):
    root = write_image_folder(work / "messy", classes=("a", "b"), train=4, test=2)
    (root / "train" / "a" / "notes.txt").write_text("not an image")
    Image.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(root / "train" / "b" / "gray.png")
    Image.fromarray(np.zeros((40, 40, 3), dtype=np.uint8)).save(root / "test" / "b" / "big.png")
    args = CLI + ["train", "--variant", "baseline", "--data-dir", str(root), "--epochs", "1", "--run-dir"]
    out = run(args + [str(work / "messy-run")], work).stdout
    assert "skipped 1 file without an image extension" in out and f"e.g. {root}/train/a/notes.txt" in out
    assert "converted 1 image of 15 to RGB" in out and "resized 1 image of 15 to 32x32" in out
    strict = run(args + [str(work / "messy-strict"), "--strict-images"], work, expect=1)
    assert strict.stderr.strip().splitlines() == [f"error: {root}/train/a/notes.txt is not an image file "
                                                  "(.bmp/.gif/.jpeg/.jpg/.png): remove it, or drop --strict-images to skip it"]


@pytest.mark.parametrize("point", [["--kill-after-epoch", "1"], ["--kill-after-step", str(STEPS_PER_EPOCH + 2)]],
                         ids=["kill -9 between epochs", "kill -9 inside an epoch"])
def test_a_killed_run_resumes_to_exactly_the_uninterrupted_one(work, data, runs, point):
    run_dir = work / "resumed" / f"bn-{point[0]}"
    killed = subprocess.run(INTERRUPT + point + ["--"] + train_args("bn", data, run_dir), capture_output=True, text=True,
                            cwd=work, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (run_dir / "metrics.json").exists()
    resumed = run(CLI + train_args("bn", data, run_dir), work)
    assert "Resuming bn" in resumed.stdout and "1 done, going on from epoch 2" in resumed.stdout
    assert_same_run(run_dir, runs["bn"], work)


def test_ctrl_c_stops_cleanly_and_the_rerun_ends_as_an_uninterrupted_one(work, data, runs):
    run_dir = work / "resumed" / "best-ctrl-c"
    stopped = run(INTERRUPT + ["--interrupt-after-step", str(2 * STEPS_PER_EPOCH + 2), "--"]
                  + train_args("best", data, run_dir), work, expect=130)
    assert stopped.stderr.strip().splitlines()[-1] == (
        "interrupted: rerun the same command to resume from the last finished epoch")
    assert "2 done, going on from epoch 3" in run(CLI + train_args("best", data, run_dir), work).stdout
    assert_same_run(run_dir, runs["best"], work)


def test_an_interrupted_lab_resumes_each_variant_exactly(work, data, lab):
    out = work / "lab-resumed"
    args = LAB + ["--data-dir", str(data["cifar"]), "--mnist-dir", str(data["mnist"]), "--out", str(out)]
    # lenet5: 5 steps, then 5 per CIFAR-10 variant: step 13 is inside norm, the third variant.
    killed = subprocess.run(INTERRUPT + ["--kill-after-step", "13", "--"] + args, capture_output=True, text=True, cwd=work,
                            timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (out / "baseline" / "metrics.json").exists() and not (out / "norm" / "metrics.json").exists()
    result = run(CLI + args, work)
    assert "baseline: already finished" in result.stdout and "Lab done (2 finished, 1 resumed, 4 trained)" in result.stdout
    variants = ("lenet5", "baseline", "norm", "augment", "momentum", "dropout", "bn")
    for variant in variants:
        assert history_without_timings(out / variant) == history_without_timings(lab / variant), variant
    assert max_weight_differences([(out / v / "last.keras", lab / v / "last.keras") for v in variants], work) == [0.0] * 7


def test_an_interrupted_search_reruns_the_interrupted_trial_from_its_start(work, data, tuned):
    out = work / "tune-resumed"
    args = TUNE + ["--data-dir", str(data["cifar"]), "--out", str(out)]
    killed = subprocess.run(INTERRUPT + ["--kill-after-step", str(STEPS_PER_EPOCH + 2), "--"] + args, capture_output=True,
                            text=True, cwd=work, timeout=600)
    assert killed.returncode == -9, killed.stderr[-2000:]
    run(CLI + args, work)
    assert trials(out) == trials(tuned)


@needs_cifar_jpeg
def test_real_cifar10_chain_train_export_predict_evaluate(work):
    run_dir = work / "real" / "bn-real"
    run(CLI + ["train", "--variant", "bn", "--data-dir", str(CIFAR_JPEG), "--limit", "500", "--epochs", "1",
               "--run-dir", str(run_dir), "--export"], work)
    export_dir = work / "saved_models" / "bn-real"  # --export's default folder, under the working folder
    predictions = json.loads(run(CLI + ["predict", "--model", str(export_dir), str(CIFAR_JPEG / "test" / "cat"), "--json"],
                                 work).stdout)["results"]
    assert len(predictions) == 1000 and all(p["predictions"][0]["class"] in json.loads(
        (export_dir / "model_info.json").read_text())["class_names"] for p in predictions)
    evaluated = json.loads(run(CLI + ["evaluate", "--run", str(run_dir), "--json"], work).stdout)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert evaluated["test_images"] == 500 and evaluated["test_accuracy"] == pytest.approx(metrics["best_test_accuracy"], abs=1e-6)
