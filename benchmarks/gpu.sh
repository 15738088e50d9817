#!/usr/bin/env bash
# GPU throughput of the lab's bn network: float32 and mixed precision, with and without XLA.
# Run from the repository root on a machine with an NVIDIA GPU; prints one line per setting.
# Synthetic in-memory batches (no data set needed); about 4-6 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import tensorflow, keras, tensorflow_datasets" 2>/dev/null ||
    python -m pip install --quiet -r requirements.txt
python -c "import tensorflow as tf; assert tf.config.list_physical_devices('GPU')" 2>/dev/null ||
    python -m pip install --quiet "tensorflow[and-cuda]>=2.21,<2.22"  # the CUDA libraries
python -c "import tensorflow as tf; print('GPUs:', tf.config.list_physical_devices('GPU'))"
export TF_CPP_MIN_LOG_LEVEL=3
for precision in "" "--mixed-precision"; do
    for jit in off on; do
        python benchmarks/throughput.py --variant bn --modes synthetic --batch-size 128 --steps "${STEPS:-300}" --warmup "${WARMUP:-50}" \
            --repeats "${REPEATS:-3}" --jit-compile "$jit" $precision 2>&1 | grep "median"
    done
done
