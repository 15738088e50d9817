"""compare: report.md and charts from run directories that the tests write by hand (no training)."""

import json
import math
from pathlib import Path

import pytest
from matplotlib.image import imread

import train_keras
from keras_cnn.config import resolve_config
from keras_cnn.history import summarize, write_history
from keras_cnn.report import LAB_COLORS, compare, load_run, run_colors, run_labels


def write_run(folder: Path, variant: str, test_accuracy: list[float], split: str = "test", finished: bool = True,
              train_loss: list[float] | None = None, seconds: float = 10.0, **settings) -> list[dict]:
    """A run directory in the current format: config.json, history.csv, metrics.json (from the rows)."""
    config = resolve_config(variant, epochs=len(test_accuracy), **settings)
    rows = []
    for epoch, accuracy in enumerate(test_accuracy, 1):
        rows.append({
            "epoch": epoch,
            "learning_rate": config.lr * config.lr_decay ** (epoch - 1),
            "loss": train_loss[epoch - 1] if train_loss else 2.0 / epoch,
            "accuracy": min(0.99, accuracy * (1 + 0.1 * epoch)),
            f"{split}_loss": 1.5 - accuracy + 0.1 * (epoch - 2) ** 2,  # lowest at epoch 2 here: the overfitting signal
            f"{split}_accuracy": accuracy,
            "epoch_seconds": seconds + epoch,
            "train_seconds": seconds - 2,
            "train_images_per_second": 10_000 / seconds + epoch,
        })
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": config.to_dict(), "data": {"source": "test"}}))
    write_history(str(folder / "history.csv"), rows)
    if finished:
        metrics = summarize(rows, split)
        if split == "val":
            metrics |= {"final_test_accuracy": 0.5, "best_test_accuracy": 0.55}
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return rows


def table(report: str) -> dict[str, dict[str, str]]:
    """The report's table as {run label: {column header: cell}}."""
    lines = [line for line in report.splitlines() if line.startswith("| ")]
    headers = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(headers, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[1:]]
    return {row["run"]: row for row in rows}


def test_report_rows_are_the_runs_own_numbers(tmp_path):
    baseline = write_run(tmp_path / "runs" / "baseline", "baseline", [0.31, 0.452, 0.447], seconds=9.5)
    norm = write_run(tmp_path / "runs" / "norm", "norm", [0.35, 0.48, 0.5125], seconds=4.25)
    written = compare([str(tmp_path / "runs" / "baseline"), str(tmp_path / "runs" / "norm")], out=str(tmp_path / "out"))
    assert {Path(path).name for path in written} == {"report.md", "test_accuracy.png", "train_vs_test.png"}

    report = (tmp_path / "out" / "report.md").read_text()
    rows = table(report)
    assert list(rows) == ["baseline", "norm"]
    for name, history in (("baseline", baseline), ("norm", norm)):
        row, last = rows[name], history[-1]
        assert row["final test acc"] == f"{100 * last['test_accuracy']:.1f}%"
        assert not any(header.startswith("best") for header in row)  # the test split chooses no epoch
        assert row["final train acc"] == f"{100 * last['accuracy']:.1f}%"
        assert row["train − test gap"] == f"{100 * (last['accuracy'] - last['test_accuracy']):+.1f} pp"
        assert row["min test loss (epoch)"] == f"{history[1]['test_loss']:.3f} (2)"
        assert row["final test loss"] == f"{last['test_loss']:.3f}"
        assert row["s/epoch"] == f"{history[1]['epoch_seconds']:.1f}"  # the median epoch
        assert row["train images/s"] == f"{last['train_images_per_second']:,.0f}"
    # Only the setting that differs is in the rows; the rest, and the epoch count, are stated once.
    assert rows["baseline"]["settings (changes from the row above)"] == "normalization=none"
    assert rows["norm"]["settings (changes from the row above)"] == "normalization=train"
    assert "epochs" not in rows["norm"]
    assert "**epochs, every run:** 3" in report
    shared = next(line for line in report.splitlines() if line.startswith("**Settings of every run:**"))
    assert "`lr=0.1`" in shared and "`seed=0`" in shared and "normalization" not in shared


def test_charts_are_png_images_and_learning_rate_only_when_it_changes(tmp_path):
    write_run(tmp_path / "baseline", "baseline", [0.3, 0.4])
    write_run(tmp_path / "momentum", "momentum", [0.3, 0.45])
    written = compare([str(tmp_path / "baseline"), str(tmp_path / "momentum")], out=str(tmp_path / "out"))
    assert (tmp_path / "out" / "learning_rate.png") in {Path(path) for path in written}
    for name in ("test_accuracy.png", "train_vs_test.png", "learning_rate.png"):
        image = imread(tmp_path / "out" / name)
        assert image.shape[0] > 300 and image.shape[1] > 600
        assert f"]({name})" in (tmp_path / "out" / "report.md").read_text()
    assert not any(path.name.startswith(".tmp-") for path in (tmp_path / "out").iterdir())

    # A comparison in which no learning rate changes has no such chart, and drops the earlier one.
    compare([str(tmp_path / "baseline")], out=str(tmp_path / "out"))
    assert not (tmp_path / "out" / "learning_rate.png").exists()
    assert "learning_rate.png" not in (tmp_path / "out" / "report.md").read_text()


def test_incomplete_and_older_runs_are_skipped_with_one_line_each(tmp_path, capsys):
    runs = tmp_path / "runs"
    write_run(runs / "bn", "bn", [0.5, 0.6])
    write_run(runs / "augment", "augment", [0.4], finished=False)
    write_run(runs / "dropout", "dropout", [0.4])
    (runs / "dropout" / "config.json").write_text(json.dumps({"variant": "dropout", "lr": 0.01}))  # flat, older format
    write_run(runs / "norm", "norm", [0.4])
    (runs / "norm" / "history.csv").write_text("epoch,loss,acc\n1,2.0,0.3\n")  # older column names
    (runs / "notes").mkdir()
    (runs / "notes" / "todo.txt").write_text("not a run")

    given = [str(runs / name) for name in ("bn", "augment", "dropout", "norm", "notes", "missing")]
    compare(given, out=str(tmp_path / "out"))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(line.startswith("skipped ") for line in lines)
    reasons = dict(line.split(": ", 1) for line in lines)
    assert reasons[f"skipped {runs / 'augment'}"].startswith("unfinished (no metrics.json)")
    assert reasons[f"skipped {runs / 'dropout'}"].startswith("older format (config.json")
    assert reasons[f"skipped {runs / 'norm'}"].startswith(
        "older format (history.csv has no accuracy, test_loss, test_accuracy columns)")
    assert reasons[f"skipped {runs / 'notes'}"].startswith("not a run folder (no config.json)")
    assert reasons[f"skipped {runs / 'missing'}"] == "does not exist"
    report = (tmp_path / "out" / "report.md").read_text()
    assert list(table(report)) == ["bn"] and "**Not compared:**" in report and f"`{runs / 'augment'}`" in report


def test_nothing_to_compare_is_a_one_line_error(tmp_path, capsys):
    write_run(tmp_path / "bn", "bn", [0.4], finished=False)
    assert train_keras.main(["compare", str(tmp_path / "bn")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: nothing to compare: no finished run among") and len(err.splitlines()) == 1


def test_cli_compares_a_folder_of_runs_in_lab_order_into_that_folder(tmp_path, capsys):
    for name, variant in (("bn", "bn"), ("my-run", "bn"), ("baseline", "baseline")):
        write_run(tmp_path / "lab" / name, variant, [0.4, 0.5], lr=0.02 if name == "my-run" else 0.1)
    assert train_keras.main(["compare", str(tmp_path / "lab")]) == 0
    assert "Wrote " in capsys.readouterr().out
    rows = table((tmp_path / "lab" / "report.md").read_text())
    # Lab variants first, in lab order; two runs of one variant are told apart by their folder.
    assert list(rows) == ["baseline", "bn", "my-run (bn)"]
    assert rows["my-run (bn)"]["settings (changes from the row above)"] == "lr=0.02"


def test_validation_runs_are_labelled_validation_with_their_final_test_result(tmp_path):
    write_run(tmp_path / "a", "norm", [0.3, 0.42], split="val", val_split=0.1)
    write_run(tmp_path / "b", "bn", [0.35, 0.47], split="val", val_split=0.1)
    compare([str(tmp_path / "a"), str(tmp_path / "b")], out=str(tmp_path / "out"))
    report = (tmp_path / "out" / "report.md").read_text()
    row = table(report)["bn"]
    assert row["final validation acc"] == "47.0%" and row["best validation acc (epoch)"] == "47.0% (2)"
    assert "test split, evaluated once at the end: final model 50.0%, best.keras 55.0%" in report
    assert "`val_split=0.1`" in report


def test_a_diverged_run_is_reported_not_crashed_on(tmp_path):
    write_run(tmp_path / "baseline", "baseline", [0.3, 0.1, 0.1], train_loss=[2.0, 1e30, math.nan], lr=5.0)
    write_run(tmp_path / "norm", "norm", [0.3, 0.4, 0.5])
    compare([str(tmp_path / "baseline"), str(tmp_path / "norm")], out=str(tmp_path / "out"))
    report = (tmp_path / "out" / "report.md").read_text()
    assert "- baseline: diverged: the training loss became NaN or infinite in epoch 3" in report
    assert imread(tmp_path / "out" / "train_vs_test.png").shape[0] > 300


def test_a_variant_has_one_colour_whatever_it_is_compared_with():
    assert run_colors(["bn", "baseline"])[0] == run_colors(["lenet5", "norm", "bn"])[2] == LAB_COLORS["bn"]
    others = run_colors(["my-run", "bn", "bn", "other"])
    assert others[1] == LAB_COLORS["bn"]
    assert len(set(others)) == 4 and not {others[0], others[2], others[3]} & set(LAB_COLORS.values())


def test_runs_sharing_a_variant_get_their_folder_in_the_label(tmp_path):
    write_run(tmp_path / "x" / "bn", "bn", [0.4])
    write_run(tmp_path / "y" / "bn", "bn", [0.4])
    write_run(tmp_path / "norm", "norm", [0.4])
    runs = [load_run(str(tmp_path / path)) for path in ("x/bn", "y/bn", "norm")]
    labels = run_labels(runs)
    assert labels == [f"{tmp_path / 'x' / 'bn'} (bn)", f"{tmp_path / 'y' / 'bn'} (bn)", "norm"]


@pytest.mark.parametrize("junk", ["{not json", "[]"])
def test_unreadable_run_files_are_skipped(tmp_path, capsys, junk):
    write_run(tmp_path / "bn", "bn", [0.4])
    write_run(tmp_path / "norm", "norm", [0.4])
    (tmp_path / "norm" / "metrics.json").write_text(junk)
    compare([str(tmp_path / "bn"), str(tmp_path / "norm")], out=str(tmp_path / "out"))
    assert capsys.readouterr().out.startswith(f"skipped {tmp_path / 'norm'}: ")
    assert list(table((tmp_path / "out" / "report.md").read_text())) == ["bn"]


def test_a_run_from_before_a_setting_existed_counts_as_its_default(tmp_path):
    write_run(tmp_path / "old", "bn", [0.5, 0.6])
    write_run(tmp_path / "new", "bn", [0.5, 0.62], weight_decay=5e-3)
    old_config = tmp_path / "old" / "config.json"
    record = json.loads(old_config.read_text())
    for later_setting in ("weight_decay", "label_smoothing", "cutmix_alpha"):  # as written before these existed
        del record["config"][later_setting]
    old_config.write_text(json.dumps(record))

    compare([str(tmp_path / "old"), str(tmp_path / "new")], out=str(tmp_path / "out"))
    rows = table((tmp_path / "out" / "report.md").read_text())
    settings = [row["settings (changes from the row above)"] for row in rows.values()]
    assert settings == ["weight_decay=0", "weight_decay=0.005"]
