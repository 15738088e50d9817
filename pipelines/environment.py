"""TensorFlow's settings for this project, which must be made before TensorFlow is imported.

The lowest layer that imports TensorFlow sets them, so that any first import of this project
(`import keras_cnn` or `import pipelines`) sets them. Keras runs on TensorFlow here; TensorFlow
turns oneDNN on by itself only on CPUs with AVX-512, and it nearly doubles training speed on AVX2
CPUs (see BENCHMARKS.md). An explicit setting in the environment wins.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
