"""Data for keras-cnn: sources (tfds, image folders), tf.data pipelines and on-device preprocessing layers."""

from pipelines import environment  # noqa: F401  (TensorFlow's settings, before anything here imports it)
