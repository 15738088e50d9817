"""Beyond the lab: ZCA, augmentations, optimizers, schedules and label smoothing, each by its behaviour."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import accuracy_applied_directly

from keras_cnn import ConfigError, resolve_config, train
from keras_cnn.models import LabSequential, build_model
from keras_cnn.optimization import learning_rate_schedule, make_optimizer, per_epoch_rate
from pipelines.preprocessing import ColorJitter, Cutout, RandomCrop, ZCAWhitening, mix_batch, zca_whitening


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)


def test_zca_makes_the_training_covariance_close_to_identity():
    rng = np.random.default_rng(0)
    correlated = rng.normal(size=(4000, 12)) @ rng.normal(size=(12, 48))  # strongly correlated pixels
    images = np.clip(128 + 15 * correlated, 0, 255).astype(np.uint8).reshape(4000, 4, 4, 3)
    before = np.cov((images / 255.0).reshape(4000, -1), rowvar=False)
    assert np.abs(before - np.diag(before.diagonal())).max() > 0.5 * before.diagonal().mean()
    mean, matrix = zca_whitening(images, epsilon=1e-6)
    whitened = np.asarray(ZCAWhitening(mean, matrix)((images / 255.0).astype("float32"))).reshape(4000, -1)
    assert np.allclose(np.cov(whitened, rowvar=False), np.eye(48), atol=0.02)
    assert np.allclose(matrix, matrix.T, atol=1e-5)  # ZCA, not just any whitening: symmetric


def test_zca_epsilon_regularizes_small_directions():
    images = np.random.default_rng(1).integers(0, 256, (500, 4, 4, 3), dtype=np.uint8)
    _, sharp = zca_whitening(images, epsilon=1e-6)
    _, smooth = zca_whitening(images, epsilon=1.0)
    assert np.linalg.norm(smooth) < np.linalg.norm(sharp)


def test_zca_variant_whitens_inside_the_model_and_survives_saving(tmp_path, images):
    config = resolve_config("baseline", whitening="zca")
    zca = zca_whitening(images, config.zca_epsilon)
    model = build_model(config, zca=zca)
    assert model.get_layer("zca").non_trainable_weights[1].shape == (3072, 3072)
    model.save(tmp_path / "zca.keras")
    loaded = keras.saving.load_model(tmp_path / "zca.keras")
    assert np.allclose(np.asarray(loaded.get_layer("zca").matrix), zca[1])
    assert np.allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_pad_crop32_crops_the_padded_image_in_training_and_is_the_identity_at_test(images):
    layer = RandomCrop(32, 32, padding=4, seed=0)
    assert np.array_equal(np.asarray(layer(images)), images)
    crops = np.asarray(layer(images, training=True))
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)])
    for image, crop in zip(padded, crops):
        assert any(np.array_equal(image[t : t + 32, left : left + 32], crop) for t in range(9) for left in range(9))
    assert crops.shape == images.shape and not np.array_equal(crops, images)


def test_crop_padding_sets_how_far_pad_crop32_moves_an_image():
    model = build_model(resolve_config("bn", augment="pad-crop32", crop_padding=2))
    crop = model.get_layer("crop")
    marker = np.zeros((300, 32, 32, 3), dtype="float32")
    marker[:, 16, 16] = 1.0
    rows, cols = np.nonzero(np.asarray(crop(marker, training=True))[..., 0])[1:]
    shifts = {(int(r) - 16, int(c) - 16) for r, c in zip(rows, cols)}
    assert len(rows) == 300  # the marker is never cut off
    assert shifts == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}  # every shift up to 2, none beyond
    assert build_model(resolve_config("bn", augment="pad-crop32")).get_layer("crop").padding == 4  # the usual recipe


def test_reflect_padding_fills_the_crop_with_mirrored_border_pixels(images):
    reflect = build_model(resolve_config("bn", augment="pad-crop32", crop_padding_mode="reflect")).get_layer("crop")
    assert reflect.padding_mode == "reflect"
    crops = np.asarray(reflect(images.astype("float32"), training=True))
    padded = np.pad(images, [(0, 0), (4, 4), (4, 4), (0, 0)], mode="reflect").astype("float32")
    for image, crop in zip(padded, crops):
        assert any(np.array_equal(image[t : t + 32, left : left + 32], crop) for t in range(9) for left in range(9))
    assert np.array_equal(np.asarray(reflect(images.astype("float32"))), images)  # the identity at inference
    positive = images.astype("float32") + 1
    zeros = build_model(resolve_config("bn", augment="pad-crop32")).get_layer("crop")
    assert (np.asarray(zeros(positive, training=True)) == 0).any()  # blank bands
    assert (np.asarray(reflect(positive, training=True)) > 0).all()  # none


def test_cutout_zeroes_a_square_of_the_given_size_in_training_only():
    ones = np.ones((200, 32, 32, 3), dtype="float32")
    out = np.asarray(Cutout(8, seed=0)(ones, training=True))
    zeros_per_image = (out[..., 0] == 0).sum(axis=(1, 2))
    assert zeros_per_image.max() == 64 and zeros_per_image.min() > 0  # 8x8, clipped at the border
    assert (zeros_per_image == 64).mean() > 0.4
    for image in out[zeros_per_image == 64][:10]:
        rows, cols = np.nonzero(image[..., 0] == 0)
        assert rows.max() - rows.min() == 7 and cols.max() - cols.min() == 7
    assert np.array_equal(np.asarray(Cutout(8)(ones)), ones)


def test_color_jitter_is_mild_bounded_and_off_at_inference():
    pixels = np.random.default_rng(2).uniform(0.2, 0.8, (32, 8, 8, 3)).astype("float32")
    jittered = np.asarray(ColorJitter(0.1, seed=0)(pixels, training=True))
    assert jittered.min() >= 0 and jittered.max() <= 1 and not np.allclose(jittered, pixels)
    assert np.abs(jittered - pixels).mean() < 0.1
    assert np.array_equal(np.asarray(ColorJitter(0.1)(pixels)), pixels)


def test_mixup_labels_sum_to_one_and_images_are_mixtures(images):
    # One class per image, so each soft label names the image's partner and the mixing weight.
    labels = keras.ops.one_hot(np.arange(64), 64)
    mixed, soft = mix_batch(images, labels, ("mixup",), 1.0, 1.0, keras.random.SeedGenerator(9))
    mixed, soft = np.asarray(mixed), np.asarray(soft)
    assert mixed.dtype == np.uint8 and np.allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    # one weight per batch: the own class's, where the partner differs
    weight = soft[np.arange(64), np.arange(64)].min()
    assert 0.2 < weight < 0.8  # (this seed's draw: both images visibly present)
    for i in range(64):
        others = soft[i].copy()
        others[i] = 0
        if others.max() < 1e-6:  # shuffled onto itself: unchanged
            assert (mixed[i] == images[i]).all()
            continue
        partner = others.argmax()
        assert np.isclose(soft[i, i], weight, atol=1e-6) and np.isclose(others[partner], 1 - weight, atol=1e-6)
        expected = weight * images[i].astype(np.float64) + (1 - weight) * images[partner].astype(np.float64)
        assert np.abs(mixed[i] - expected).max() <= 0.5 + 1e-3  # rounded to the nearest level


def test_cutmix_labels_match_the_pasted_area(images):
    labels = keras.ops.one_hot(np.arange(64) % 10, 10)
    mixed, soft = mix_batch(images, labels, ("cutmix",), 0.4, 1.0, keras.random.SeedGenerator(4))
    mixed, soft = np.asarray(mixed), np.asarray(soft)
    assert np.allclose(soft.sum(axis=1), 1.0, atol=1e-6)
    kept = (mixed == images).all(axis=3).mean(axis=(1, 2))  # share of each image's own pixels
    own = soft[np.arange(64), np.arange(64) % 10]
    partner_same_class = np.isclose(own, 1.0)
    assert np.allclose(kept[~partner_same_class], own[~partner_same_class], atol=0.02)


def test_mixing_variant_is_a_sequential_that_trains_and_reloads(tmp_path, images):
    config = resolve_config("baseline", augment="flip,mixup,cutmix", label_smoothing=0.1)
    model = build_model(config)
    assert isinstance(model, LabSequential) and isinstance(model, keras.Sequential)
    model.save(tmp_path / "mix.keras")
    loaded = keras.saving.load_model(tmp_path / "mix.keras")
    assert isinstance(loaded, LabSequential) and loaded.augment == ("flip", "mixup", "cutmix")


def test_test_time_flip_averages_each_image_and_its_mirror_at_inference_only(tmp_path, images):
    config = resolve_config("bn", dropout=0.0, tta="flip")
    averaging, single = build_model(config), build_model(resolve_config("bn", dropout=0.0))
    assert isinstance(averaging, LabSequential) and not isinstance(single, LabSequential)
    single.set_weights(averaging.get_weights())
    mirrored = images[:, :, ::-1]
    expected = (single.predict(images, verbose=0) + single.predict(mirrored, verbose=0)) / 2
    assert np.allclose(averaging.predict(images, verbose=0), expected, atol=1e-6)
    assert np.allclose(averaging.predict(mirrored, verbose=0), averaging.predict(images, verbose=0), atol=1e-6)
    assert not np.allclose(single.predict(mirrored, verbose=0), single.predict(images, verbose=0), atol=1e-6)
    # Training sees single images (the crop and flip layers are not seeded alike, so compare without them).
    averaging = build_model(resolve_config("bn", dropout=0.0, augment="none", tta="flip"))
    single = build_model(resolve_config("bn", dropout=0.0, augment="none"))
    single.set_weights(averaging.get_weights())
    assert np.allclose(averaging(images, training=True), single(images, training=True), atol=1e-6)
    averaging.save(tmp_path / "tta.keras")
    assert keras.saving.load_model(tmp_path / "tta.keras").tta == "flip"


def test_test_time_translation_adds_the_one_pixel_shifts_and_their_mirrors_at_half_weight(tmp_path, images):
    averaging = build_model(resolve_config("bn", dropout=0.0, tta="flip-translate"))
    single = build_model(resolve_config("bn", dropout=0.0))
    single.set_weights(averaging.get_weights())
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    moved_down_right, moved_up_left = padded[:, :32, :32], padded[:, 2:, 2:]
    assert np.array_equal(moved_down_right[:, 1:, 1:], images[:, :-1, :-1])
    assert np.array_equal(moved_up_left[:, :-1, :-1], images[:, 1:, 1:])

    def flip_mean(batch):
        return (single.predict(batch, verbose=0) + single.predict(batch[:, :, ::-1], verbose=0)) / 2

    expected = flip_mean(images) / 2 + (flip_mean(moved_down_right) + flip_mean(moved_up_left)) / 4
    assert np.allclose(averaging.predict(images, verbose=0), expected, atol=1e-6)
    assert not np.allclose(expected, flip_mean(images), atol=1e-4)  # the shifts change the prediction
    averaging.save(tmp_path / "tta.keras")
    loaded = keras.saving.load_model(tmp_path / "tta.keras")
    assert loaded.tta == "flip-translate" and np.allclose(loaded.predict(images, verbose=0), expected, atol=1e-6)


def test_sam_steps_with_the_gradient_at_the_weights_moved_uphill_and_updates_bn_statistics_once(tmp_path, images):
    import tensorflow as tf

    from keras_cnn.training import compiled_model

    labels = np.arange(len(images)) % 10
    rho, lr = 0.5, 0.1
    config = resolve_config("bn", normalization="none", augment="none", dropout=0.0, momentum=0.0, lr=lr, sam_rho=rho)
    sam = compiled_model(config, None, 10)
    plain = compiled_model(resolve_config("bn", normalization="none", augment="none", dropout=0.0, momentum=0.0,
                                          lr=lr), None, 10)
    plain.set_weights(sam.get_weights())
    start = [w.numpy() for w in sam.trainable_variables]
    reference = build_model(resolve_config("bn", normalization="none", augment="none", dropout=0.0))
    reference.set_weights(sam.get_weights())

    def gradients(weights):
        for variable, value in zip(reference.trainable_variables, weights):
            variable.assign(value)
        with tf.GradientTape() as tape:
            loss = keras.losses.SparseCategoricalCrossentropy()(labels, reference(images, training=True))
        return [g.numpy() for g in tape.gradient(loss, reference.trainable_variables)]

    first = gradients(start)
    norm = np.sqrt(sum(np.sum(g**2) for g in first))
    uphill = gradients([w + rho * g / norm for w, g in zip(start, first)])
    sam.train_on_batch(images, labels)
    plain.train_on_batch(images, labels)
    # The step is -lr times the uphill gradient to float32 rounding, and far from the plain step's.
    # Rounding differs between eager and compiled kernels (5e-5 of the step with oneDNN limited to
    # AVX2, ~1e-3 on a CI machine), and is measured over all weights: a conv bias before batch norm
    # has a gradient of ~0, all rounding.
    def distance(a, b):
        return np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(a, b)))

    after = [variable.numpy() for variable in sam.trainable_variables]
    sam_step = [w - lr * g for w, g in zip(start, uphill)]
    plain_step = [w - lr * g for w, g in zip(start, first)]
    step_size = distance(sam_step, start)
    assert distance(after, sam_step) < 0.01 * step_size and distance(sam_step, plain_step) > 0.5 * step_size
    assert not np.allclose(sam.get_layer("fc5").kernel.numpy(), plain.get_layer("fc5").kernel.numpy(), atol=1e-5)
    # Batch-norm statistics: updated by the first pass only, exactly as by a plain step.
    for name in ("bn1", "bn2", "bn3"):
        assert np.allclose(sam.get_layer(name).moving_mean.numpy(),
                           plain.get_layer(name).moving_mean.numpy(), atol=1e-6)
        assert np.allclose(sam.get_layer(name).moving_variance.numpy(),
                           plain.get_layer(name).moving_variance.numpy(), atol=1e-5)
    sam.save(tmp_path / "sam.keras")
    assert keras.saving.load_model(tmp_path / "sam.keras").sam_rho == rho


def test_a_sam_step_of_radius_0_is_a_plain_step_on_the_same_crops_flips_and_dropout_masks(images):
    from keras_cnn.training import compiled_model

    labels = np.arange(len(images)) % 10
    # Radius 1e-30: the second pass is at the same weights (moved by less than float32 can tell), so
    # its gradient equals the first pass's only if it sees the same augmented batch and masks.
    config = dict(normalization="none", augment="crop28,flip,cutout", momentum=0.0, lr=0.1)
    sam = compiled_model(resolve_config("dropout", sam_rho=1e-30, **config), None, 10)
    plain = compiled_model(resolve_config("dropout", **config), None, 10)
    plain.set_weights(sam.get_weights())
    for _ in range(2):  # the second step also starts from seed states both advanced alike
        sam.train_on_batch(images[:64], labels[:64])
        plain.train_on_batch(images[:64], labels[:64])
    for ours, theirs in zip(sam.trainable_variables, plain.trainable_variables):
        assert np.allclose(ours.numpy(), theirs.numpy(), atol=1e-6), ours.path


def test_sam_run_end_to_end_with_mixup_and_mixed_precision(cifar_like_folder, tmp_path):
    _, run_dir = train("best", data_dir=str(cifar_like_folder), epochs=1, batch_size=16, verbose=0, sam_rho=0.05,
                       augment="pad-crop32,flip,mixup", mixed_precision=True, run_dir=str(tmp_path / "r"))
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    # The run's own test score is its last.keras (bfloat16 compute, SAM-trained weights) applied to the test images.
    assert metrics["final_test_accuracy"] == pytest.approx(accuracy_applied_directly(run_dir), abs=1e-6)


def test_schedules_give_the_expected_rates():
    steps = 100
    cosine = learning_rate_schedule(resolve_config("bn", schedule="cosine", lr=0.1, epochs=10), steps)
    assert float(cosine(0)) == pytest.approx(0.1) and float(cosine(500)) == pytest.approx(0.05, abs=1e-6)
    assert float(cosine(1000)) == pytest.approx(0.0, abs=1e-7)
    warm = learning_rate_schedule(resolve_config("bn", schedule="warmup-cosine", lr=0.1, epochs=10,
                                                 warmup_epochs=2), steps)
    assert float(warm(0)) == 0 and float(warm(100)) == pytest.approx(0.05) and float(warm(200)) == pytest.approx(0.1)
    cycle = learning_rate_schedule(resolve_config("bn", schedule="onecycle", lr=0.1, epochs=10), steps)
    assert float(cycle(0)) == pytest.approx(0.004) and float(cycle(300)) == pytest.approx(0.1)
    assert float(cycle(1000)) == pytest.approx(0.1 / 25e4, rel=1e-3)
    step = per_epoch_rate(resolve_config("bn", schedule="step", lr=0.1, lr_decay=0.1, lr_step_epochs=3))
    assert [step(e) for e in (0, 2, 3, 6)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    assert per_epoch_rate(resolve_config("bn"))(4) == pytest.approx(0.01 * 0.95**4)


@pytest.mark.parametrize("name, cls", [("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop")])
def test_optimizers(name, cls):
    optimizer = make_optimizer(resolve_config("bn", optimizer=name, weight_decay=5e-4, momentum=0.9 if name != "adam"
                                              else 0.0), 10)
    assert type(optimizer).__name__ == cls and optimizer.weight_decay == pytest.approx(5e-4)


def test_weight_decay_skips_biases_and_batch_norm():
    model = build_model("bn")
    optimizer = make_optimizer(resolve_config("bn", weight_decay=1e-3), 10)
    optimizer.build(model.trainable_variables)
    decayed = {v.path.split("/")[-1] for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed == {"kernel"}


def test_nesterov_sets_sgd():
    assert make_optimizer(resolve_config("bn", nesterov=True), 10).nesterov


@pytest.mark.parametrize("overrides, message", [
    (dict(augment="crop28,pad-crop32"), "two crops"),
    (dict(nesterov=True, optimizer="adam", momentum=0.0), "nesterov needs the sgd optimizer"),
    (dict(schedule="linear"), "schedule 'linear' is unknown"),
    (dict(whitening="pca"), "whitening 'pca' is unknown"),
    (dict(cutout_size=40), "cutout size must be between 1 and the image size"),
    (dict(crop_padding=0), "crop padding must be between 1 and 16 pixels, got 0"),
    (dict(crop_padding_mode="wrap"), "crop padding mode 'wrap' is unknown: use zeros, reflect"),
    (dict(label_smoothing=1.0), "label smoothing must be in [0, 1)"),
    (dict(tta="rotate"), "tta 'rotate' is unknown: use none, flip, flip-translate"),
    (dict(sam_rho=-0.1), "sam rho must be >= 0"),
])
def test_invalid_combinations_get_one_clear_line(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_config("bn", **overrides)


def test_soft_label_run_end_to_end(cifar_like_folder, tmp_path):
    _, run_dir = train("bn", data_dir=str(cifar_like_folder), epochs=2, batch_size=16, verbose=0,
                       augment="pad-crop32,flip,cutout,mixup,cutmix,color", label_smoothing=0.1, cutout_size=8,
                       optimizer="adamw", weight_decay=1e-4, lr=1e-3, schedule="onecycle", run_dir=str(tmp_path / "r"))
    rows = (Path(run_dir) / "history.csv").read_text().splitlines()
    assert len(rows) == 3
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    # Scored on hard labels, as the model applied directly scores it, though it trained on mixed, smoothed ones.
    assert metrics["final_test_accuracy"] == pytest.approx(accuracy_applied_directly(run_dir), abs=1e-6)
    rates = [float(line.split(",")[1]) for line in rows[1:]]
    assert rates[0] == pytest.approx(1e-3 / 25, rel=1e-3) and rates[1] > rates[0]  # onecycle ramps up, logged per epoch


def test_a_tta_run_also_reports_its_single_view_accuracy(cifar_like_folder, tmp_path):
    _, run_dir = train("bn", data_dir=str(cifar_like_folder), epochs=1, batch_size=16, verbose=0, tta="flip",
                       run_dir=str(tmp_path / "r"))
    metrics = json.loads((Path(run_dir) / "metrics.json").read_text())
    model = keras.saving.load_model(Path(run_dir) / "last.keras")
    assert model.tta == "flip"
    assert model.evaluate(*_test_split(cifar_like_folder), verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        metrics["final_test_accuracy"], abs=1e-6)
    model = keras.saving.load_model(Path(run_dir) / "last.keras")  # a fresh one: evaluate() keeps its traced function
    model.tta = "none"
    assert model.evaluate(*_test_split(cifar_like_folder), verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        metrics["final_test_accuracy_single_view"], abs=1e-6)


def _test_split(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from pipelines.sources import load_splits

    test = load_splits("cifar10", (32, 32, 3), data_dir=str(folder)).test
    return test.images, test.labels


def test_zca_run_end_to_end_whitens_with_the_training_split_statistics(cifar_like_folder, tmp_path):
    from keras_cnn.training import load_data, normalization_stats, zca_stats

    _, run_dir = train("augment", data_dir=str(cifar_like_folder), epochs=1, batch_size=16, verbose=0, whitening="zca",
                       run_dir=str(tmp_path / "r"))
    config = resolve_config("augment", data_dir=str(cifar_like_folder), whitening="zca")
    splits = load_data(config)
    mean, matrix = zca_stats(config, splits, normalization_stats(config, splits))
    saved = keras.saving.load_model(Path(run_dir) / "last.keras")
    (whitening,) = [layer for layer in saved.layers if isinstance(layer, ZCAWhitening)]
    # The checkpoint whitens with the training split's mean and matrix, not the test split's.
    assert np.allclose(whitening.mean.numpy(), mean, atol=1e-5)
    assert np.allclose(whitening.matrix.numpy(), matrix, atol=1e-4)
    _, test_matrix = zca_whitening(splits.test.images, config.zca_epsilon, normalization_stats(config, splits))
    assert not np.allclose(test_matrix, matrix, atol=1e-2)


def test_export_of_a_run_with_zca_and_every_augmentation_takes_pixels_and_predicts_like_keras(
    cifar_like_folder, tmp_path
):
    import tensorflow as tf

    from keras_cnn.export import export_run

    _, run_dir = train("bn", data_dir=str(cifar_like_folder), epochs=1, batch_size=16, verbose=0, whitening="zca",
                       augment="pad-crop32,flip,cutout,color,mixup", tta="flip", run_dir=str(tmp_path / "r"))
    export_run(run_dir, to=str(tmp_path / "export"), verbose=False)
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    pixels = np.random.default_rng(5).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    served = serve(pixels=tf.constant(pixels))["probabilities"].numpy()
    expected = keras.saving.load_model(Path(run_dir) / "last.keras").predict(pixels, verbose=0)
    assert np.allclose(served, expected, atol=1e-5)
    assert np.array_equal(served, serve(pixels=tf.constant(pixels))["probabilities"].numpy())  # no augmentation
    mirrored = serve(pixels=tf.constant(pixels[:, :, ::-1]))["probabilities"].numpy()
    assert np.allclose(mirrored, served, atol=1e-5)  # test-time flip averaging is inside the export


def test_export_of_a_run_with_test_time_translation_serves_all_six_views(cifar_like_folder, tmp_path):
    import tensorflow as tf

    from keras_cnn.export import export_run

    _, run_dir = train("bn", data_dir=str(cifar_like_folder), epochs=1, batch_size=16, verbose=0, tta="flip-translate",
                       run_dir=str(tmp_path / "r"))
    export_run(run_dir, to=str(tmp_path / "export"), tflite=True, verbose=False)
    pixels = np.random.default_rng(6).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    model = keras.saving.load_model(Path(run_dir) / "last.keras")
    expected = model.predict(pixels, verbose=0)
    serve = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    assert np.allclose(serve(pixels=tf.constant(pixels))["probabilities"].numpy(), expected, atol=1e-5)
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "export" / "model.tflite"))
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], pixels.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
    interpreter.invoke()
    assert np.allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), expected, atol=1e-5)
    # a fresh one: predict() keeps its traced function
    two_views = keras.saving.load_model(Path(run_dir) / "last.keras")
    two_views.tta = "flip"
    assert not np.allclose(two_views.predict(pixels, verbose=0), expected, atol=1e-5)  # the shifted views count
