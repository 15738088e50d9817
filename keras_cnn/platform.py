"""Devices and distribution: the tf.distribute strategy of a run and how settings scale with replicas.

CPU defaults are set in `keras_cnn/__init__.py` before TensorFlow is imported (oneDNN on);
XLA follows Keras' "auto" (on with a GPU, off on CPU, where it measured slower); mixed precision
is chosen per device in `models.compute_dtype`. See BENCHMARKS.md for the measurements.
"""

import dataclasses
import json
import os

import tensorflow as tf

from keras_cnn.config import TrainConfig


def make_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The configured strategy. Create it before other TensorFlow work (multi-worker requires it)."""
    if config.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.strategy == "multi-worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def scaled_for_replicas(config: TrainConfig, replicas: int) -> TrainConfig:
    """Per-replica batch size kept, so the global batch and (linearly) the learning rate grow with the replicas."""
    if replicas == 1:
        return config
    return dataclasses.replace(config, batch_size=config.batch_size * replicas, lr=config.lr * replicas)


def worker_index() -> int:
    """This process's index among the workers of TF_CONFIG (0, the chief, when there is none)."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    return int(task.get("index", 0)) if task.get("type", "worker") in ("worker", "chief") else -1


def jit_setting(config: TrainConfig):
    """Keras' compile(jit_compile=...) value for the setting."""
    return {"auto": "auto", "on": True, "off": False}[config.jit_compile]
