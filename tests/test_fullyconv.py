"""Fully-connected layers as convolutions: same predictions on the training size, score maps on larger images."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

import train_keras
from keras_cnn import train
from keras_cnn.fullyconv import ImageSizeError, fully_convolutional
from keras_cnn.heatmap import heatmap
from keras_cnn.models import build_model
from pipelines.preprocessing import ChannelStats

STATS = ChannelStats((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))


def randomized(variant: str) -> keras.Sequential:
    """A model whose every weight is random, batch-norm statistics included, so that no layer is the identity."""
    model = build_model(variant, STATS)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        values = layer.get_weights()
        if isinstance(layer, keras.layers.BatchNormalization):  # gamma, beta, moving mean, moving variance (> 0)
            values = [rng.uniform(0.5, 1.5, v.shape).astype("float32") for v in values]
        elif values:  # scaled so that activations stay of order 1
            values = [
                rng.normal(0, 1 / np.sqrt(np.prod(v.shape[:-1]) if v.ndim > 1 else 1), v.shape).astype("float32")
                for v in values
            ]
        layer.set_weights(values)
    return model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)


def test_conversion_reshapes_fc4_and_fc5_into_convolutions():
    model = randomized("baseline")
    converted = fully_convolutional(model)
    names = [layer.name for layer in converted.layers]
    assert "flatten" not in names and names[-3:] == ["fc4", "fc5", "softmax"]
    fc4, fc5 = converted.get_layer("fc4"), converted.get_layer("fc5")
    assert (
        isinstance(fc4, keras.layers.Conv2D)
        and fc4.kernel.shape == (4, 4, 64, 1000)
        and fc4.activation.__name__ == "relu"
    )
    assert isinstance(fc5, keras.layers.Conv2D) and fc5.kernel.shape == (1, 1, 1000, 10)
    # Keras flattens (H, W, C) row-major: dense row (h*4 + w)*64 + c is kernel[h, w, c].
    dense = model.get_layer("fc4").get_weights()[0]
    assert np.array_equal(np.asarray(fc4.kernel)[2, 3, 5], dense[(2 * 4 + 3) * 64 + 5])
    assert sum(w.numpy().size for w in converted.trainable_weights) == 1_191_170


def test_same_predictions_on_the_training_size(images):
    model = randomized("baseline")
    expected = np.asarray(model(images, training=False))
    scores = np.asarray(fully_convolutional(model)(images, training=False))
    assert scores.shape == (8, 1, 1, 10)
    np.testing.assert_allclose(scores[:, 0, 0], expected, atol=1e-5)
    assert expected.std() > 0.01  # random weights give predictions that differ between images


def test_same_predictions_on_the_centered_crop_for_crop_variants(images):
    model = randomized("bn")  # crop, flip, batch norm, dropout, pool3 in ceil mode
    expected = np.asarray(model(images, training=False))
    converted = fully_convolutional(model)
    assert "crop" not in [layer.name for layer in converted.layers]
    scores = np.asarray(converted(images[:, 2:30, 2:30], training=False))  # the test-time crop, centered
    assert scores.shape == (8, 1, 1, 10)
    np.testing.assert_allclose(scores[:, 0, 0], expected, atol=1e-5)


def test_larger_image_gives_a_map_of_class_probabilities():
    model = randomized("baseline")
    big = np.random.default_rng(2).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    scores = np.asarray(fully_convolutional(model, (64, 96))(big))
    # pool3 gives 8x12, a valid 4x4 convolution 5x9 positions; a softmax over the classes at each.
    assert scores.shape == (2, 5, 9, 10)
    np.testing.assert_allclose(scores.sum(axis=-1), 1.0, atol=1e-5)
    with pytest.raises(ImageSizeError, match="at least 32x32"):
        fully_convolutional(model, (31, 64))


# ---- heatmap, on a model trained for one epoch ----


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from conftest import write_image_folder

    root = tmp_path_factory.mktemp("heatmap")
    data = write_image_folder(root / "data", classes=[f"class{i}" for i in range(10)], train=8, test=4)
    _, run_dir = train("bn", data_dir=str(data), epochs=1, batch_size=16, run_dir=str(root / "run"), verbose=0)
    return Path(run_dir)


def write_png(path: Path, shape) -> Path:
    pixels = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_trained_model_from_disk_keeps_its_predictions(trained_run, images):
    model = keras.saving.load_model(trained_run / "last.keras")
    scores = np.asarray(fully_convolutional(model)(images[:, 2:30, 2:30]))
    np.testing.assert_allclose(scores[:, 0, 0], np.asarray(model(images, training=False)), atol=1e-5)


def test_heatmap_command_writes_the_png_with_class_names(trained_run, tmp_path, capsys):
    image = write_png(tmp_path / "street.png", (64, 64, 3))
    assert train_keras.main(["heatmap", "--run", str(trained_run), str(image)]) == 0
    out = trained_run / "heatmap-street.png"
    assert out.stat().st_size > 10_000 and Image.open(out).format == "PNG"
    assert "5x5 map of 10 class scores" in capsys.readouterr().out
    # Never overwritten silently.
    assert train_keras.main(["heatmap", "--run", str(trained_run), str(image)]) == 1
    assert "exists: pass --overwrite" in capsys.readouterr().err


def test_heatmap_maps_and_image_conversions(trained_run, tmp_path):
    # A grayscale image of another shape goes to the RGB model; the map follows its size.
    gray = write_png(tmp_path / "gray.png", (40, 72))
    out = tmp_path / "new folder" / "map.png"
    path, scores = heatmap(str(trained_run), str(gray), out=str(out), checkpoint="last", top=2)
    assert path == str(out) and out.is_file() and scores.shape == (2, 6, 10)  # pool3 5x9 (ceil mode), 4x4 conv: 2x6
    names = json.loads((trained_run / "config.json").read_text())["data"]["class_names"]
    assert names[0] == "class0" and len(names) == scores.shape[-1]


def test_heatmap_errors_are_one_line(trained_run, tmp_path, capsys):
    small = write_png(tmp_path / "small.png", (20, 20, 3))
    (tmp_path / "notes.png").write_text("not an image")
    for argv, message in (
        ([str(small)], "an image of 20x20 is too small for this network: it needs at least 28x28"),
        ([str(tmp_path / "notes.png")], "is not a readable PNG/JPEG image"),
        ([str(tmp_path / "absent.png")], "does not exist"),
        ([str(small), "--top", "11"], "--top must be between 1 and 10"),
    ):
        assert train_keras.main(["heatmap", "--run", str(trained_run), *argv]) == 1
        assert message in capsys.readouterr().err
    assert train_keras.main(["heatmap", "--run", str(tmp_path), str(small)]) == 1
    assert f"{tmp_path}: not a run folder (no config.json): pass --run" in capsys.readouterr().err


@pytest.mark.parametrize("settings, what", [(dict(whitening="zca"), "ZCA whitening"),
                                            (dict(normalization="pixel"), "per-pixel normalization")])
def test_a_network_fixed_to_its_training_size_has_no_fully_convolutional_form(settings, what):
    from keras_cnn import resolve_config
    from keras_cnn.errors import ConfigError

    with pytest.raises(ConfigError, match=f"{what}.*only takes images of its training size"):
        fully_convolutional(build_model(resolve_config("norm", **settings)))
