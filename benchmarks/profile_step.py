"""Where a training step's time goes: TensorFlow's profiler over a few steps, op time summed by op type.

    python benchmarks/profile_step.py                  # bn, float32, 20 profiled steps
    python benchmarks/profile_step.py --mixed-precision

Synthetic data (one uint8 batch, repeated), the same compiled model as `train`, an untimed warm-up
of 30 steps. TensorFlow runs independent ops on 2 inter-op threads at once, so the op times add up
to more than the wall time of a step; the shares say where the work is. The trace is read from the
profiler's raw XSpace file (no TensorBoard plugin needed).
"""

import argparse
import collections
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

import keras_cnn  # noqa: E402,F401  (sets TensorFlow's environment first)
from benchmarks.throughput import synthetic_batches  # noqa: E402
from keras_cnn.config import resolve_config  # noqa: E402
from keras_cnn.training import compiled_model  # noqa: E402
from pipelines.preprocessing import ChannelStats  # noqa: E402


def op_times(logdir: str) -> collections.Counter:
    """Total milliseconds per op name (as "scope/op:OpType") in the profiler's trace."""
    space = xplane_pb2.XSpace()
    with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb") as file:
        space.ParseFromString(file.read())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op_type = name.split(":")[-1].strip()
                # ops ("scope/name:OpType"), not the spans of the executor and the function around them
                if ":" in name and "ExecutorState" not in name and op_type != "Run" and not op_type.startswith("__"):
                    totals[name] += event.duration_ps / 1e9
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="bn")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mixed-precision", action="store_true")
    args = parser.parse_args()

    config = resolve_config(args.variant, mixed_precision=args.mixed_precision)
    stats = ChannelStats(np.full(3, 0.47, np.float32), np.full(3, 0.2, np.float32))
    model = compiled_model(config, stats, num_classes=10, train_size=50_000)
    data = synthetic_batches(config.batch_size)
    model.fit(data, steps_per_epoch=30, epochs=1, verbose=0)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
        tf.profiler.experimental.stop()
        totals = op_times(logdir)

    by_type, by_conv = collections.Counter(), collections.Counter()
    for name, ms in totals.items():
        op_type = name.split(":")[-1]
        by_type[("backward " if "gradient_tape" in name else "") + op_type] += ms
        conv = next((part.rsplit("_", 1)[0] for part in name.split("/") if part.startswith("conv")), None)
        if conv and "Conv2D" in op_type:
            by_conv[f"{conv} {op_type}"] += ms
    total = sum(by_type.values())
    print(f"{args.variant}, {'mixed bfloat16' if args.mixed_precision else 'float32'}: op time "
          f"{total / args.steps:.1f} ms per step, summed over threads")
    print("| op type | ms per step | share |\n|---|---:|---:|")
    for key, ms in by_type.most_common(15):
        print(f"| {key} | {ms / args.steps:.2f} | {ms / total:.1%} |")
    print("\n| convolution | ms per step |\n|---|---:|")
    for key, ms in sorted(by_conv.items()):
        print(f"| {key} | {ms / args.steps:.2f} |")


if __name__ == "__main__":
    main()
