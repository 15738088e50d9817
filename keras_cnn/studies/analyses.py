"""Measurements a study makes besides its runs: before them (a setting chosen for each point) or after them."""

import os

import numpy as np

from keras_cnn.config import TrainConfig
from keras_cnn.files import read_json, write_json
from keras_cnn.runfolder import read_run, read_trained_run

LR_FIND_FILE = "lr-find.json"  # the learning rates chosen before the runs, kept so that a rerun resumes with them
LR_FIND_STEPS = 100


def split_statistics(runs: dict, folder: str) -> dict:
    """Q20: per-channel statistics of the training split (from a run's record) against the test split's."""
    from keras_cnn.training import load_data
    from pipelines.preprocessing import channel_stats

    name = next(name for name, run in runs.items() if run["settings"]["normalization"] == "train")
    run = read_run(os.path.join(folder, name))
    train = run.record["data"]["normalization_stats"]
    config = TrainConfig.from_dict(run.settings)
    test = channel_stats(load_data(config, test_only=True).test.images)
    mean_difference = np.abs(np.array(train["mean"]) - np.array(test.mean))
    std_difference = np.abs(np.array(train["std"]) - np.array(test.std))
    return {"split_statistics": {
        "train": train, "test": test.to_dict(),
        "max_mean_difference": round(float(mean_difference.max()), 6),
        "max_std_difference": round(float(std_difference.max()), 6),
        "max_shift_in_std": round(float((mean_difference / np.array(train["std"])).max()), 6),
    }}


def dropout_modes(runs: dict, folder: str, passes: tuple[int, ...] = (10, 100), repeats: int = 5) -> dict:
    """Q33, for each run (seed): test accuracy with dropout off, on for single passes, and on averaged over passes."""
    return {"modes": {name: _dropout_modes_of(os.path.join(folder, name), passes, repeats, seed)
                      for seed, name in enumerate(runs)}}


def _dropout_modes_of(run_dir: str, passes: tuple[int, ...], repeats: int, seed: int) -> dict:
    """The layers before the dropout layer are deterministic at inference, so their output is computed once;
    each pass then draws a new mask and runs the layers after it (fc5, softmax)."""
    import keras

    from keras_cnn.export import load_checkpoint
    from keras_cnn.training import load_data

    run, checkpoint = read_trained_run(run_dir)
    config = TrainConfig.from_dict(run.settings)
    model = load_checkpoint(checkpoint)
    test = load_data(config, test_only=True).test
    cut = next(index for index, layer in enumerate(model.layers) if isinstance(layer, keras.layers.Dropout))
    features = keras.Sequential([keras.Input(model.input_shape[1:], dtype="uint8"), *model.layers[:cut]])
    head = keras.Sequential([keras.Input(features.output_shape[1:]), *model.layers[cut + 1:]])
    before = features.predict(test.images, batch_size=500, verbose=0)
    generator = keras.random.SeedGenerator(seed)

    def one_pass():
        dropped = keras.random.dropout(before, config.dropout, seed=generator)
        return np.asarray(head.predict(np.asarray(dropped), batch_size=2000, verbose=0))

    def accuracy(probabilities):
        return round(float(np.mean(probabilities.argmax(axis=1) == test.labels)), 6)

    modes = {"dropout off": accuracy(head.predict(before, batch_size=2000, verbose=0)),
             "one pass": [accuracy(one_pass()) for _ in range(repeats)]}
    for count in passes:
        modes[f"mean of {count} passes"] = accuracy(sum(one_pass() for _ in range(count)) / count)
    return modes


def find_learning_rates(configs: dict[str, TrainConfig], folder: str) -> dict[str, dict]:
    """Q28: each point's learning rate from lr-find on its training images (never the test split), kept in
    folder/lr-find.json: points that share an optimizer (schedules aside) share one range test."""
    from keras_cnn.lr_finder import lr_find

    path = os.path.join(folder, LR_FIND_FILE)
    chosen = read_json(path) if os.path.exists(path) else {}
    tests = {}
    for point, config in configs.items():
        if point in chosen:
            continue
        key = (config.optimizer, config.momentum, config.nesterov, config.weight_decay)
        if key not in tests:
            result = lr_find(config, steps=LR_FIND_STEPS, out=os.path.join(folder, "lr-find", point), verbose=0)
            tests[key] = result.suggestions["minimum/10"]
        found = tests[key]
        chosen[point] = {"lr": float(f"{found:.3g}") if found else config.lr, "found_by_lr_find": bool(found)}
        write_json(path, chosen)
    return {point: {"lr": chosen[point]["lr"]} for point in configs}


def learning_rates(runs: dict, folder: str) -> dict:
    """The learning rates find_learning_rates chose, for the report."""
    chosen = read_json(os.path.join(folder, LR_FIND_FILE))
    return {"learning_rates": {point: values["lr"] for point, values in chosen.items()},
            "lr_found_by_lr_find": {point: values["found_by_lr_find"] for point, values in chosen.items()}}
