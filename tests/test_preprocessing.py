"""On-device preprocessing: crop and flip at train vs test time, normalization statistics."""

import keras
import numpy as np
import pytest

from keras_cnn import resolve_config
from keras_cnn.config import LAB_MEAN, LAB_STD
from keras_cnn.models import build_model
from pipelines.preprocessing import RandomCrop, RandomFlip, channel_stats, pixel_stats


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (256, 32, 32, 3), dtype=np.uint8)


def crop_offsets(images, crops):
    """(top, left) of each crop in its image; fails if a crop is no window of its image."""
    offsets = []
    for image, crop in zip(images, crops):
        found = [(t, left) for t in range(5) for left in range(5)
                 if np.array_equal(image[t : t + 28, left : left + 28], crop)]
        assert len(found) == 1, "a crop must be exactly one 28x28 window of its image"
        offsets.append(found[0])
    return offsets


def test_random_crop_takes_a_uniform_random_28x28_window_per_image_in_training(images):
    crops = np.asarray(RandomCrop(28, 28, seed=1)(images, training=True))
    assert crops.shape == (256, 28, 28, 3) and crops.dtype == np.uint8
    offsets = crop_offsets(images, crops)
    counts = np.zeros((5, 5))
    for top, left in offsets:
        counts[top, left] += 1
    assert (counts > 0).sum() >= 23  # 25 positions, 256 draws: nearly all are hit
    assert counts.max() < 30  # no position dominates (expected ~10)


def test_crop_is_centered_at_inference(images):
    layer = RandomCrop(28, 28, seed=1)
    expected = images[:, 2:30, 2:30]
    assert np.array_equal(np.asarray(layer(images, training=False)), expected)
    assert np.array_equal(np.asarray(layer(images)), expected)  # a bare call is inference


def test_flip_mirrors_about_half_of_the_images_in_training_and_none_at_inference(images):
    layer = RandomFlip("horizontal", seed=3)
    out = np.asarray(layer(images.astype("float32"), training=True))
    same = [np.array_equal(o, i) for o, i in zip(out, images)]
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 90 < sum(mirrored) < 166  # Binomial(256, 1/2): 128 +- 38 is beyond 4.5 sigma
    assert np.array_equal(np.asarray(layer(images.astype("float32"))), images)
    assert np.array_equal(np.asarray(layer(images.astype("float32"), training=False)), images)
    # The same draws as Keras' own layer: its flips, computed by a gather instead of a select.
    ours, keras_own = RandomFlip("horizontal", seed=5), keras.layers.RandomFlip("horizontal", seed=5)
    assert np.array_equal(np.asarray(ours(images.astype("float32"), training=True)),
                          np.asarray(keras_own(images.astype("float32"), training=True)))


def test_augment_model_sees_random_crops_and_flips_in_training_and_the_center_at_test(images):
    model = build_model(resolve_config("augment", normalization="none"))
    preprocess = [model.get_layer(name) for name in ("scale", "crop", "flip")]

    def run(x, training):
        for layer in preprocess:
            x = layer(x, training=training)
        return np.asarray(x)

    assert np.allclose(run(images, False), images[:, 2:30, 2:30] / 255.0, atol=1e-6)
    train_out = np.rint(run(images, True) * 255).astype(np.uint8)
    def is_a_crop_of(crop, image):
        return any(np.array_equal(image[t : t + 28, left : left + 28], crop) for t in range(5) for left in range(5))

    unflipped = [crop if is_a_crop_of(crop, image) else crop[:, ::-1] for image, crop in zip(images, train_out)]
    offsets = crop_offsets(images, unflipped)
    assert len(set(offsets)) > 10


def test_channel_stats_are_the_mean_and_std_of_all_pixels_per_channel(images):
    stats = channel_stats(images, chunk=100)
    pixels = images.reshape(-1, 3) / 255.0
    assert np.allclose(stats.mean, pixels.mean(axis=0), atol=1e-6)
    assert np.allclose(stats.std, pixels.std(axis=0), atol=1e-6)


def test_norm_variant_standardizes_with_the_training_statistics(images):
    shifted = (images // 2 + np.array([10, 60, 100], dtype=np.uint8)).astype(np.uint8)
    stats = channel_stats(shifted)
    model = build_model("norm", norm_stats=stats)
    out = np.asarray(model.get_layer("standardize")(model.get_layer("scale")(shifted)))
    assert np.allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    assert np.allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-3)


def test_pixel_normalization_subtracts_the_training_mean_image_and_divides_by_each_pixels_std(images):
    ramp = (images // 4 + np.arange(32, dtype=np.uint8)[None, :, None, None] * 4).astype(np.uint8)  # brighter downwards
    stats = pixel_stats(ramp)
    model = build_model(resolve_config("norm", normalization="pixel"), norm_stats=stats)
    out = np.asarray(model.get_layer("standardize")(model.get_layer("scale")(ramp)))
    assert np.abs(out.mean(axis=0)).max() < 1e-4  # every pixel and channel centred, not only each channel
    assert np.abs(out.std(axis=0) - 1).max() < 1e-3
    per_channel = build_model("norm", norm_stats=channel_stats(ramp))
    rows = np.asarray(per_channel.get_layer("standardize")(per_channel.get_layer("scale")(ramp))).mean(axis=(0, 2, 3))
    assert rows[-1] - rows[0] > 1  # the per-channel statistics leave the ramp in


def test_vertical_flip_turns_about_half_of_the_images_upside_down_in_training_only(images):
    model = build_model(resolve_config("norm", augment="vflip"))
    layer = model.get_layer("vflip")
    out = np.asarray(layer(images.astype("float32"), training=True))
    upside_down = [np.array_equal(o, i[::-1]) for o, i in zip(out, images)]
    assert all(u or np.array_equal(o, i) for u, o, i in zip(upside_down, out, images))
    assert 90 < sum(upside_down) < 166
    assert np.array_equal(np.asarray(layer(images.astype("float32"))), images)


def test_lab_normalization_uses_the_labs_constants():
    model = build_model(resolve_config("norm", normalization="lab"))
    layer = model.get_layer("standardize")
    white = np.ones((1, 1, 1, 3), dtype="float32")
    expected = (1 - np.array(LAB_MEAN)) / np.array(LAB_STD)
    assert np.allclose(np.asarray(layer(white)).ravel(), expected, atol=1e-5)


def test_norm_model_without_statistics_can_be_adapted_later(images):
    model = build_model("norm")
    layer = model.get_layer("standardize")
    layer.adapt(images / 255.0)
    stats = channel_stats(images)
    assert np.allclose(np.asarray(layer.mean).ravel(), stats.mean, atol=1e-5)
