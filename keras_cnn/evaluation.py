"""`evaluate`: test accuracy of a trained run's checkpoint, with the run's or another test-time augmentation.

Test-time augmentation does not change training, so a finished run can be scored with another one
without retraining (e.g. `--tta flip-translate` on a run trained with `--tta flip`).
"""

import keras
import numpy as np

from keras_cnn.config import DATASET_SHAPES, TrainConfig
from keras_cnn.export import load_checkpoint
from keras_cnn.history import DEFAULT_CHECKPOINT
from keras_cnn.models import LabSequential
from keras_cnn.runfolder import read_trained_run
from keras_cnn.training import load_data


def evaluate_run(run_dir: str, checkpoint: str = DEFAULT_CHECKPOINT, tta: str | None = None,
                 data_dir: str | None = None) -> dict:
    """Accuracy and cross-entropy (without label smoothing) of `run_dir`'s last.keras (or best.keras) on its test split.

    tta: none, flip or flip-translate (default: the run's own); data_dir: read the test split from
    there instead of the run's data source (same layout, same classes).
    """
    run, model_path = read_trained_run(run_dir, checkpoint)
    overrides = {"data_dir": data_dir, "tta": tta}
    config = TrainConfig.from_dict(run.settings | {name: value for name, value in overrides.items() if value})
    trained = load_checkpoint(model_path)
    # A fresh LabSequential over the trained layers: its tta is read when predict() is first traced.
    model = LabSequential([keras.Input(DATASET_SHAPES[config.dataset], dtype="uint8"), *trained.layers], tta=config.tta)
    splits = load_data(config, test_only=True)
    test = splits.test
    probabilities = model.predict(test.images, batch_size=config.batch_size, verbose=0)
    return {
        "run_dir": run_dir,
        "checkpoint": checkpoint,
        "tta": config.tta,
        "test_images": len(test.labels),
        "test_accuracy": float(np.mean(probabilities.argmax(axis=1) == test.labels)),
        "test_cross_entropy": float(np.mean(cross_entropy(test.labels, probabilities))),
        "notes": list(splits.notes),
    }


def cross_entropy(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per image: -log p(true class), without label smoothing (`evaluate` reports its mean, `inspect` its largest)."""
    chosen = probabilities[np.arange(len(labels)), labels].astype(np.float64)
    return -np.log(np.maximum(chosen, 1e-12))
