"""Devices and distribution: the tf.distribute strategy of a run and how settings scale with replicas.

CPU defaults are set in `pipelines/environment.py` before TensorFlow is imported (oneDNN on);
XLA follows Keras' "auto" (on with a GPU, off on CPU, where it measured slower); mixed precision
is chosen per device in `models.compute_dtype`. See BENCHMARKS.md for the measurements.
"""

import dataclasses
import functools
import json
import os

import tensorflow as tf

from keras_cnn.config import TrainConfig


@functools.cache
def mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """One MirroredStrategy per process, shared by every run.

    TensorFlow numbers its collective operations per strategy object, so a second MirroredStrategy
    in the same process reuses the first one's numbers, and a run whose collectives differ in shape
    then fails with "Shape mismatch in the collective instance" (tensorflow/tensorflow#62790): seen
    here with a SAM run after a plain one, as two runs in one notebook would be.
    """
    return tf.distribute.MirroredStrategy()


def make_strategy(config: TrainConfig) -> tf.distribute.Strategy:
    """The configured strategy. Create it before other TensorFlow work (multi-worker requires it)."""
    if config.strategy == "mirrored":
        return mirrored_strategy()
    if config.strategy == "multi-worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        _fix_keras_multi_worker()
        return strategy
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


def cpu_computes_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bfloat16 dot-product instructions (AVX512_BF16 or AMX-BF16).

    On such a CPU oneDNN's bfloat16 kernels made `--mixed-precision` about 1.5x faster than
    float32; on one without, about 2x slower (BENCHMARKS.md). False where the flags are unknown.
    """
    try:
        with open(cpuinfo) as file:
            flags = file.read()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def speed_hint(config: TrainConfig) -> str | None:
    """One line suggesting --mixed-precision to a float32 run on a CPU that computes bfloat16 natively."""
    if config.mixed_precision or tf.config.list_physical_devices("GPU") or not cpu_computes_bfloat16():
        return None
    return ("hint: this CPU computes bfloat16 natively (avx512_bf16/amx_bf16): --mixed-precision trained the lab's "
            "network about 1.5x faster on such a CPU, to the same accuracy (BENCHMARKS.md)")


def jit_setting(config: TrainConfig):
    """Keras' compile(jit_compile=...) value for the setting."""
    return {"auto": "auto", "on": True, "off": False}[config.jit_compile]


def _fix_keras_multi_worker() -> None:
    """Mend Keras 3's `fit` under MultiWorkerMirroredStrategy (keras-team/keras#20585, open for Keras 3.x).

    Two reductions in Keras' TensorFlow trainer fail with several workers: the sample batch that
    builds the optimizer and metrics is averaged across workers (only its shapes matter: this
    worker's own batch does), and scalar logs are averaged with axis=0. Both are replaced here,
    only in processes that ask for the multi-worker strategy.
    """
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_keras_cnn_multi_worker_fix", False):
        return
    reduce_per_replica = tf_trainer.reduce_per_replica

    def reduce_scalar_logs(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    def build_from_local_batch(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(_local_value(self.distribute_strategy), next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_scalar_logs
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = build_from_local_batch
    tf_trainer._keras_cnn_multi_worker_fix = True


def _local_value(strategy):
    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return local
