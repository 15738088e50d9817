"""The small shared helpers, each with one home: Markdown tables, split names, differences, Keras' verbosity,
cross-entropy."""

import io

import keras
import numpy as np
import pytest

from keras_cnn.console import keras_verbosity
from keras_cnn.evaluation import cross_entropy
from keras_cnn.formatting import difference, markdown_table, split_name


def test_markdown_table_aligns_the_figure_columns_right():
    table = markdown_table(["class", "images"], [["cat", 3], ["dog", "1,024"]], right=[1])
    assert table == "| class | images |\n|---|---:|\n| cat | 3 |\n| dog | 1,024 |"


def test_split_names_and_differences():
    assert [split_name(split) for split in ("train", "val", "test")] == ["train", "validation", "test"]
    assert difference(0.75, 0.5) == 0.25
    assert difference(0.75, None) is None and difference(float("nan"), 0.5) is None


def test_auto_verbosity_is_a_bar_on_a_terminal_only(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert (keras_verbosity("auto"), keras_verbosity("auto", off_terminal=0), keras_verbosity(1)) == (2, 0, 1)
    monkeypatch.setattr("sys.stdout", Terminal())
    assert (keras_verbosity("auto"), keras_verbosity(0)) == (1, 0)


def test_cross_entropy_is_keras_loss_per_image():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=64).astype("float32")
    labels = rng.integers(0, 10, size=64)
    keras_loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    assert cross_entropy(labels, probabilities) == pytest.approx(np.asarray(keras_loss), rel=1e-5)
