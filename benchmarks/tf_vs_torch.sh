#!/usr/bin/env bash
# Keras (this project) against the PyTorch reference loop, same recipe and data, in alternation:
# round 1: Keras, PyTorch; round 2: Keras, PyTorch; ... so that a slow spell of a shared machine
# hits both. Prints each run's median line. Needs benchmarks/requirements.txt (torch).
# PRECISION=bf16: both in mixed bfloat16 (Keras --mixed-precision, PyTorch bfloat16 autocast).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/cifar10-jpeg}
ROUNDS=${ROUNDS:-3}
KERAS_FLAGS="" TORCH_FORMATS="default,channels_last"
if [ "${PRECISION:-float32}" = bf16 ]; then KERAS_FLAGS="--mixed-precision" TORCH_FORMATS="default_bf16,channels_last_bf16"; fi
export TF_CPP_MIN_LOG_LEVEL=3
for round in $(seq "$ROUNDS"); do
    echo "round $round"
    python benchmarks/throughput.py --variant bn --data-dir "$DATA" --steps 100 --repeats 3 $KERAS_FLAGS 2>&1 | grep "median\|^pipeline / synthetic\|^peak RSS"
    python benchmarks/torch_reference.py --data-dir "$DATA" --steps 100 --repeats 3 --formats "$TORCH_FORMATS" 2>&1 | grep "median"
done
