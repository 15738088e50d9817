"""The techniques of the fast recipe, each checked against a value computed another way."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import accuracy_applied_directly

from keras_cnn import build_model, resolve_config, train
from keras_cnn.callbacks import AveragedWeights, EpochTimer
from keras_cnn.history import read_history
from keras_cnn.training import compiled_model, conv1_whitening, load_data, normalization_stats
from pipelines.datasets import flipped_in_epoch, train_dataset
from pipelines.preprocessing import ChannelStats, patch_whitening_kernel
from pipelines.splits import Split

FAST = dict(batch_size=16, verbose=0)


def smooth_images(count: int, size: int = 12, seed: int = 0) -> np.ndarray:
    """uint8 images with correlated neighbouring pixels, so that patches have a structured covariance."""
    noise = np.random.default_rng(seed).normal(size=(count, size + 2, size + 2, 3))
    blurred = sum(noise[:, i : i + size, j : j + size] for i in range(3) for j in range(3))
    return np.clip(128 + 20 * blurred, 0, 255).astype(np.uint8)


def test_patch_whitening_kernel_whitens_the_largest_directions_with_both_signs():
    images = smooth_images(120)
    stats = ChannelStats(mean=(0.5, 0.45, 0.4), std=(0.2, 0.25, 0.3))
    kernel = patch_whitening_kernel(images, size=5, filters=8, channel_stats=stats, epsilon=1e-6)
    assert kernel.shape == (5, 5, 3, 8)
    np.testing.assert_array_equal(kernel[..., 4:], -kernel[..., :4])

    # The patches another way: TensorFlow's patch extraction on the standardized images, numpy's covariance.
    pixels = (images / 255 - np.array(stats.mean)) / np.array(stats.std)
    patches = tf.image.extract_patches(pixels, [1, 5, 5, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID").numpy()
    patches = patches.reshape(-1, 75)
    covariance = np.cov(patches, rowvar=False, bias=True)
    filters = kernel[..., :4].reshape(75, 4)  # a conv's output at a position is the patch dotted with the filter
    whitened = filters.T @ covariance @ filters
    np.testing.assert_allclose(whitened, np.eye(4), atol=1e-3)
    # ... and they are the four directions of largest variance: the top eigenvalues, in order.
    top = np.sort(np.linalg.eigvalsh(covariance))[::-1][:4]
    np.testing.assert_allclose(1 / np.sum(filters**2, axis=0), top, rtol=1e-3)


def test_whitened_and_frozen_conv1_starts_from_the_whitening_and_never_trains(cifar_like_folder, tmp_path):
    settings = dict(data_dir=str(cifar_like_folder), whiten_conv1=True, freeze_conv1=True, epochs=1)
    _, run_dir = train("bn", run_dir=str(tmp_path / "run"), **settings, **FAST)
    config = resolve_config("bn", **settings)
    splits = load_data(config)
    expected = conv1_whitening(config, splits, normalization_stats(config, splits))
    trained = keras.saving.load_model(f"{run_dir}/last.keras")
    np.testing.assert_array_equal(trained.get_layer("conv1").kernel.numpy(), expected)
    untrained = build_model(config, normalization_stats(config, splits))
    assert not np.allclose(trained.get_layer("conv2").kernel.numpy(), untrained.get_layer("conv2").kernel.numpy())
    # Reloaded, conv1 is still left out of training: the network minus conv1's kernel and bias.
    conv1_weights = 5 * 5 * 3 * 32 + 32
    assert sum(int(np.prod(w.shape)) for w in trained.trainable_weights) == \
        sum(int(np.prod(w.shape)) for w in build_model("bn").trainable_weights) - conv1_weights


def test_alternating_flips_show_each_image_mirrored_in_exactly_one_of_two_epochs():
    size = 40
    images = np.random.default_rng(0).integers(0, 256, (size, 8, 8, 3), dtype=np.uint8)
    split = Split(images, np.arange(size))

    def mirrored_per_epoch(first_epoch=0, epochs=3) -> list[set]:
        seen = [set() for _ in range(first_epoch, epochs)]
        batches = train_dataset(split, 16, seed=3, first_epoch=first_epoch, epochs=epochs, alternating_flips=True)
        steps = -(-size // 16)
        for step, (batch, labels) in enumerate(batches):
            for image, label in zip(batch.numpy(), labels.numpy()):
                if np.array_equal(image, images[label][:, ::-1]):
                    seen[step // steps].add(int(label))
                else:
                    assert np.array_equal(image, images[label])
        return seen

    epoch0, epoch1, epoch2 = mirrored_per_epoch()
    assert epoch0 | epoch1 == set(range(size)) and not epoch0 & epoch1
    assert epoch2 == epoch0 and 0 < len(epoch0) < size
    assert epoch0 == set(np.flatnonzero(flipped_in_epoch(size, 3, 0).numpy()))
    assert mirrored_per_epoch(first_epoch=1) == [epoch1, epoch2]  # a resumed run mirrors the same images


@pytest.mark.parametrize("momentum", [0.9, 0.6])
def test_bn_momentum_sets_how_fast_the_running_mean_follows_the_batches(momentum):
    config = resolve_config("bn", augment=(), normalization="none", bn_momentum=momentum)
    model = build_model(config)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    conv1 = keras.Sequential(model.layers[:2])  # scale, conv1: what bn1 normalizes
    batch_mean = conv1(images).numpy().mean(axis=(0, 1, 2))
    model.train_on_batch(images, np.zeros(8))
    np.testing.assert_allclose(model.get_layer("bn1").moving_mean.numpy(), (1 - momentum) * batch_mean, rtol=1e-4,
                               atol=1e-6)


def test_ema_leaves_training_alone_and_ends_on_the_average_of_the_weights():
    config = resolve_config("bn", augment=(), ema_momentum=0.5, epochs=2, batch_size=8)
    model = compiled_model(config, None, num_classes=10)
    rng = np.random.default_rng(2)
    images, labels = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 24)

    class Record(keras.callbacks.Callback):  # the raw weights after every step
        kernels = []

        def on_train_batch_end(self, batch, logs=None):
            self.kernels.append(self.model.get_layer("fc5").kernel.numpy())

    model.fit(images, labels, batch_size=8, epochs=2, shuffle=False, verbose=0,
              validation_data=(images, labels), callbacks=[AveragedWeights(resumed=False), Record()])
    average = Record.kernels[0]  # Keras' average starts at the first step's weights
    for kernel in Record.kernels[1:]:
        average = 0.5 * average + 0.5 * kernel
    np.testing.assert_allclose(model.get_layer("fc5").kernel.numpy(), average, atol=1e-6)
    # Epoch 2 went on from epoch 1's raw weights, not from the average that validation and checkpoints saw.
    assert not np.allclose(Record.kernels[3], average, atol=1e-4)


def test_a_run_with_every_technique_resumes_to_exactly_the_uninterrupted_run(cifar_like_folder, tmp_path, monkeypatch):
    settings = dict(data_dir=str(cifar_like_folder), epochs=3, whiten_conv1=True, freeze_conv1=True,
                    augment=("pad-crop32", "alt-flip"), ema_momentum=0.8, bn_momentum=0.6, **FAST)
    _, uninterrupted = train("best", run_dir=str(tmp_path / "uninterrupted"), **settings)
    with monkeypatch.context() as patch:
        original = EpochTimer.on_epoch_begin

        def stop_at_epoch_3(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt
            return original(self, epoch, logs)

        patch.setattr(EpochTimer, "on_epoch_begin", stop_at_epoch_3)
        with pytest.raises(KeyboardInterrupt):
            train("best", run_dir=str(tmp_path / "resumed"), **settings)
    _, resumed = train("best", run_dir=str(tmp_path / "resumed"), **settings)
    a, b = (keras.saving.load_model(f"{folder}/last.keras") for folder in (uninterrupted, resumed))
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)


def test_evaluating_only_after_the_last_epoch_trains_the_same_weights(cifar_like_folder, tmp_path):
    settings = dict(data_dir=str(cifar_like_folder), epochs=2, **FAST)
    _, every = train("bn", run_dir=str(tmp_path / "every"), **settings)
    _, last = train("bn", run_dir=str(tmp_path / "last"), eval_each_epoch=False, **settings)
    rows = read_history(f"{last}/history.csv")
    assert [row.get("test_accuracy") for row in rows][:-1] == [None]
    assert rows[-1]["test_accuracy"] == pytest.approx(accuracy_applied_directly(last), abs=1e-6)
    a, b = (keras.saving.load_model(f"{folder}/last.keras") for folder in (every, last))
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)
