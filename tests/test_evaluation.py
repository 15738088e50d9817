"""`evaluate`: a finished run's checkpoint scored on its test split, with its own or another test-time augmentation."""

import json
from pathlib import Path

import pytest

import train_keras
from keras_cnn import train
from keras_cnn.evaluation import evaluate_run


@pytest.fixture(scope="module")
def flip_run(tmp_path_factory):
    from conftest import write_image_folder

    root = tmp_path_factory.mktemp("evaluate")
    data = write_image_folder(root / "data", classes=[f"class{i}" for i in range(10)], train=8, test=4)
    _, run_dir = train("bn", data_dir=str(data), epochs=1, batch_size=16, verbose=0, tta="flip",
                       run_dir=str(root / "run"))
    return Path(run_dir), json.loads((Path(run_dir) / "metrics.json").read_text())


def test_evaluate_repeats_the_runs_test_accuracy_with_and_without_its_tta(flip_run):
    run_dir, metrics = flip_run
    own = evaluate_run(str(run_dir), checkpoint="last")
    assert own["tta"] == "flip" and own["test_images"] == 40
    assert own["test_accuracy"] == pytest.approx(metrics["final_test_accuracy"], abs=1e-6)
    single = evaluate_run(str(run_dir), checkpoint="last", tta="none")
    assert single["test_accuracy"] == pytest.approx(metrics["final_test_accuracy_single_view"], abs=1e-6)
    assert own["test_cross_entropy"] != pytest.approx(single["test_cross_entropy"], abs=1e-6)
    translated = evaluate_run(str(run_dir), checkpoint="last", tta="flip-translate")
    assert translated["tta"] == "flip-translate"
    assert translated["test_cross_entropy"] != pytest.approx(own["test_cross_entropy"], abs=1e-6)


def test_evaluate_prints_one_line_or_json(flip_run, capsys):
    run_dir, metrics = flip_run
    assert train_keras.main(["evaluate", "--run", str(run_dir), "--checkpoint", "last"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"Test accuracy {metrics['final_test_accuracy']:.2%}")
    assert "flip" in line and "\n" not in line
    assert train_keras.main(["evaluate", "--run", str(run_dir), "--tta", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"] == "last" and result["tta"] == "none"


@pytest.mark.parametrize("case", ["no run", "unknown tta"])
def test_evaluate_errors_are_one_line(flip_run, tmp_path, capsys, case):
    run_dir, _ = flip_run
    args = {"no run": ["--run", str(tmp_path / "missing")],
            "unknown tta": ["--run", str(run_dir), "--tta", "rotate"]}[case]
    assert train_keras.main(["evaluate", *args]) == 1
    error = capsys.readouterr().err.strip()
    message = {"no run": "does not exist",
               "unknown tta": "tta 'rotate' is unknown: use none, flip, flip-translate"}[case]
    assert error.startswith("error: ") and message in error and "\n" not in error
