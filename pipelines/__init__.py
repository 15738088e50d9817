"""Data for keras-cnn: sources (tfds, image folders), tf.data pipelines and on-device preprocessing layers."""

import keras_cnn  # noqa: F401  (sets TensorFlow's environment before anything here imports it)
