"""Training throughput of a variant: the real input pipeline against synthetic in-memory batches.

    python benchmarks/throughput.py --variant bn --data-dir ../shared/data/cifar10-jpeg

Both modes run the same compiled model and training step (on-device augmentation included), an
untimed warm-up epoch of --steps steps, then --repeats timed ones;
the synthetic mode repeats one uint8 batch already in memory, so the gap between the two is the
cost of the input pipeline. Prints one line per repeat, then the medians, and peak memory (RSS).
"""

import argparse
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_cnn  # noqa: E402,F401  (sets TensorFlow's environment first)
from keras_cnn.config import DATASET_SHAPES, resolve_config  # noqa: E402
from keras_cnn.models import compute_dtype  # noqa: E402
from keras_cnn.training import compiled_model  # noqa: E402
from pipelines.datasets import train_dataset  # noqa: E402
from pipelines.preprocessing import channel_stats  # noqa: E402
from pipelines.sources import load_splits  # noqa: E402


class StepSpans(keras.callbacks.Callback):
    """Per epoch, seconds from the start of its first training step to the end of its last one.

    Not the whole epoch: with a repeated dataset, Keras' teardown at the end of `fit` sometimes
    took seconds here, which a real training run (a new iterator per epoch) never pays.
    """

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(self.end - self.start)


def synthetic_batches(batch_size: int, shape: tuple[int, ...] = (32, 32, 3)) -> tf.data.Dataset:
    """One seeded uint8 batch with labels, repeated: the training step alone, without an input pipeline."""
    rng = np.random.default_rng(0)
    batch = (rng.integers(0, 256, (batch_size, *shape), dtype=np.uint8),
             rng.integers(0, 10, batch_size).astype(np.int32))
    return tf.data.Dataset.from_tensors(batch).repeat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="bn")
    parser.add_argument("--data-dir", help="image folder (default: tfds)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100, help="timed training steps per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="synthetic,pipeline", help="comma-separated: synthetic, pipeline")
    parser.add_argument("--mixed-precision", action="store_true")
    parser.add_argument("--jit-compile", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="0: TensorFlow's default")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="0: TensorFlow's default")
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)

    config = resolve_config(args.variant, data_dir=args.data_dir, batch_size=args.batch_size,
                            mixed_precision=args.mixed_precision, jit_compile=args.jit_compile)
    shape = DATASET_SHAPES[config.dataset]
    modes = args.modes.split(",")
    splits = load_splits(config.dataset, shape, data_dir=config.data_dir,
                         seed=config.seed) if "pipeline" in modes else None
    stats = channel_stats(splits.train.images) if splits is not None and config.normalization == "train" else None
    model = compiled_model(config, stats, num_classes=10, train_size=50_000)
    setting = (f"{compute_dtype(config)}, jit_compile={model.jit_compile}, "
               f"threads inter {args.inter_op_threads} intra {args.intra_op_threads}")
    print(f"{args.variant}: batch {args.batch_size}, {args.steps} steps x {args.repeats} repeats, {setting}, "
          f"TF {tf.__version__}, Keras {keras.__version__}, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, "
          f"{os.cpu_count()} CPUs, devices {[d.name for d in tf.config.list_logical_devices()]}")

    results = {}
    for mode in modes:
        if mode == "synthetic":
            dataset = synthetic_batches(args.batch_size, shape)
        else:
            dataset = train_dataset(splits.train, args.batch_size, seed=0).repeat()
        # One fit, one iterator: the warm-up epoch pays for tracing and for filling the shuffle
        # buffer, which a real run pays once per epoch of 390 steps, not once per timed repeat.
        spans = StepSpans()
        model.fit(dataset, steps_per_epoch=args.steps, epochs=1 + args.repeats, shuffle=False, verbose=0,
                  callbacks=[spans])
        rates = [args.steps * args.batch_size / seconds for seconds in spans.seconds[1:]]
        for repeat, rate in enumerate(rates):
            print(f"  {mode:<9} repeat {repeat + 1}: {rate:7.1f} images/s")
        results[mode] = statistics.median(rates)

    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for mode, rate in results.items():
        epoch = 50_000 / rate
        print(f"{mode:<9} median {rate:7.1f} images/s  ({epoch:5.1f} s per 50k-image epoch of training steps)  "
              f"[{setting}]")
    if len(results) == 2:
        print(f"pipeline / synthetic = {results['pipeline'] / results['synthetic']:.3f}")
    print(f"peak RSS {peak_rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
