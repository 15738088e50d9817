"""Keras' BatchNormalization against the fused kernel (keras_cnn.layers.FusedBatchNormalization) in the bn model.

    python benchmarks/batchnorm.py

The two models differ only in their BN layers; their training steps are timed in alternation
(round 1: A, B; round 2: A, B; ...) so that a slow spell of the machine hits both. Synthetic
uint8 batches in memory; prints per-round step times and the medians.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_cnn  # noqa: E402,F401  (sets TensorFlow's environment first)
from keras_cnn import resolve_config  # noqa: E402
from keras_cnn.layers import FusedBatchNormalization  # noqa: E402
from keras_cnn.training import compiled_model  # noqa: E402


def with_keras_batchnorm(model: keras.Model) -> keras.Model:
    """The same model with keras.layers.BatchNormalization in place of the fused layers."""

    def clone(layer):
        if isinstance(layer, FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


class StepTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()

    config = resolve_config("bn")
    fused = compiled_model(config, None, num_classes=10, train_size=50_000)
    plain = with_keras_batchnorm(fused)
    plain.compile(optimizer=keras.optimizers.SGD(config.lr, momentum=config.momentum),
                  loss=fused.loss, metrics=["accuracy"])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (128 * args.steps, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 128 * args.steps).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(128)
    models = {"keras BatchNormalization": plain, "fused kernel": fused}
    medians = {name: [] for name in models}
    for model in models.values():
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)  # tracing
    for round_number in range(1, args.rounds + 1):
        for name, model in models.items():
            timer = StepTimer()
            model.fit(dataset, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
            medians[name].append(1000 * statistics.median(timer.seconds))
        print(f"round {round_number}: " + ", ".join(f"{name} {values[-1]:.1f} ms" for name, values in medians.items()))
    for name, values in medians.items():
        step = statistics.median(values)
        print(f"{name:<25} median step {step:6.1f} ms = {128 / step * 1000:6.0f} images/s")


if __name__ == "__main__":
    main()
