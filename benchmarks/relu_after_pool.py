"""ReLU before or after each max-pool in the `bn` network: the same function, a different cost.

    python benchmarks/relu_after_pool.py                     # float32
    python benchmarks/relu_after_pool.py --mixed-precision   # mixed bfloat16

max(relu(a), relu(b)) = relu(max(a, b)), so pooling first computes the same network with the ReLU
(and its gradient) on a quarter of the values. Synthetic data; the two orders alternate, each an
untimed warm-up epoch and 3 timed epochs of 60 steps, twice; prints the medians.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402

import keras_cnn  # noqa: E402,F401  (sets TensorFlow's environment first)
from benchmarks.throughput import StepSpans, synthetic_batches  # noqa: E402
from keras_cnn.config import resolve_config  # noqa: E402
from keras_cnn.optimization import loss_and_metrics, make_optimizer  # noqa: E402
from keras_cnn.training import compiled_model  # noqa: E402

STEPS, BATCH = 60, 128


def pool_before_relu(model: keras.Sequential, config) -> keras.Sequential:
    """A fresh, compiled copy of `model` with every (relu, pool) pair swapped."""
    layers = list(model.layers)
    for i in range(len(layers) - 1):
        if layers[i].name.startswith("relu") and layers[i + 1].name.startswith("pool"):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    swapped = keras.Sequential([keras.Input((32, 32, 3), dtype="uint8"),
                                *(type(layer).from_config(layer.get_config()) for layer in layers)])
    loss, metrics = loss_and_metrics(config, 10)
    swapped.compile(optimizer=make_optimizer(config, steps_per_epoch=391), loss=loss, metrics=metrics,
                    jit_compile=False)
    return swapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixed-precision", action="store_true")
    config = resolve_config("bn", mixed_precision=parser.parse_args().mixed_precision)
    data = synthetic_batches(BATCH)

    rates = {"relu, pool (the lab's order)": [], "pool, relu": []}
    for _ in range(2):
        for order in rates:
            model = compiled_model(config, None, 10, train_size=50_000)
            if order == "pool, relu":
                model = pool_before_relu(model, config)
            spans = StepSpans()
            model.fit(data, steps_per_epoch=STEPS, epochs=4, verbose=0, callbacks=[spans])
            rates[order] += [STEPS * BATCH / seconds for seconds in spans.seconds[1:]]
            print(f"  {order:<28} " + "  ".join(f"{rate:7.1f}" for rate in rates[order][-3:]) + " images/s", flush=True)
    for order, values in rates.items():
        print(f"{order:<28} median {statistics.median(values):7.1f} images/s")


if __name__ == "__main__":
    main()
