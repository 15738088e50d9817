"""The lab's architectures exactly: weights per layer, output shapes, and variant behaviours."""

import numpy as np
import pytest

from keras_cnn import resolve_config
from keras_cnn.models import build_model
from pipelines.preprocessing import ChannelStats

# The lab's weight counts per layer (its answers to questions 7-9): 5x5 kernels plus a bias per filter,
# and dense layers of 4x4x64 -> 1000 -> 10.
CIFAR_WEIGHTS = {"conv1": 2_432, "conv2": 51_264, "conv3": 102_464, "fc4": 1_025_000, "fc5": 10_010}
LENET5_WEIGHTS = {"conv1": 156, "conv2": 2_416, "fc1": 48_120, "fc2": 10_164, "fc3": 850}


def trainable_counts(model) -> dict:
    return {layer.name: sum(int(np.prod(w.shape)) for w in layer.trainable_weights) for layer in model.layers
            if layer.trainable_weights}


def test_cifar_network_has_the_labs_weight_counts_per_layer():
    model = build_model("baseline")
    assert trainable_counts(model) == CIFAR_WEIGHTS
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1_191_170


def test_lenet5_has_61706_weights():
    model = build_model("lenet5")
    assert trainable_counts(model) == LENET5_WEIGHTS
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 61_706
    assert model.get_layer("flatten").output.shape[1:] == (400,)
    assert model.get_layer("conv1").activation.__name__ == "tanh"


@pytest.mark.parametrize("variant", ["baseline", "norm", "augment", "momentum", "dropout"])
def test_every_cifar_variant_keeps_the_weights(variant):
    assert trainable_counts(build_model(variant)) == CIFAR_WEIGHTS


def test_output_shapes_without_crop():
    model = build_model("baseline")
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert model.inputs[0].shape[1:] == (32, 32, 3) and model.inputs[0].dtype == "uint8"
    assert shapes["conv1"] == (32, 32, 32) and shapes["pool1"] == (16, 16, 32)
    assert shapes["conv2"] == (16, 16, 64) and shapes["pool2"] == (8, 8, 64)
    assert shapes["conv3"] == (8, 8, 64) and shapes["pool3"] == (4, 4, 64)
    assert shapes["flatten"] == (1024,) and shapes["fc4"] == (1000,) and shapes["softmax"] == (10,)


def test_crop_variant_pools_in_ceil_mode_so_fc4_still_sees_4x4x64():
    model = build_model("augment")
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["crop"] == (28, 28, 3)
    assert shapes["pool2"] == (7, 7, 64) and shapes["pool3"] == (4, 4, 64) and shapes["flatten"] == (1024,)


def test_ceil_mode_pool_keeps_the_last_odd_row_and_column():
    model = build_model("augment")
    pool3 = model.get_layer("pool3")
    x = np.zeros((1, 7, 7, 1), dtype="float32")
    x[0, 6, 6, 0] = 5.0  # only in the last, half-covered window
    x[0, 0, 0, 0] = 3.0
    out = np.asarray(pool3(x))
    assert out.shape == (1, 4, 4, 1)
    assert out[0, 3, 3, 0] == 5.0 and out[0, 0, 0, 0] == 3.0 and out.sum() == 8.0


def test_variants_are_cumulative_in_the_labs_order():
    settings = {name: resolve_config(name) for name in ["baseline", "norm", "augment", "momentum", "dropout", "bn"]}
    baseline = settings["baseline"]
    assert baseline.normalization == "none" and baseline.momentum == 0 and baseline.lr == 0.1
    assert settings["norm"].normalization == "train"
    assert settings["augment"].augment == ("crop28", "flip") and settings["augment"].normalization == "train"
    assert (settings["momentum"].momentum, settings["momentum"].lr_decay) == (0.9, 0.95)
    assert settings["momentum"].augment == ("crop28", "flip")
    assert settings["dropout"].dropout == 0.5 and settings["dropout"].momentum == 0.9
    assert settings["bn"].batch_norm and settings["bn"].dropout == 0.5
    assert not settings["dropout"].batch_norm


def test_best_variant_keeps_the_bn_network_and_its_weights():
    best, bn = build_model("best"), build_model("bn")

    def layer_kinds(model):
        return [type(layer).__name__ for layer in model.layers if layer.trainable_weights]

    assert layer_kinds(best) == layer_kinds(bn)
    assert trainable_counts(best) == trainable_counts(bn)
    assert {name: count for name, count in trainable_counts(best).items() if name in CIFAR_WEIGHTS} == CIFAR_WEIGHTS
    assert tuple(best.get_layer("pool3").output.shape[1:]) == (4, 4, 64)  # whole 32x32 images: plain pools
    assert best.get_layer("dropout").rate == resolve_config("best").dropout > 0


def test_batch_norm_sits_right_after_each_convolution():
    names = [layer.name for layer in build_model("bn").layers]
    for i in (1, 2, 3):
        assert names[names.index(f"conv{i}") + 1] == f"bn{i}"
        assert names[names.index(f"bn{i}") + 1] == f"relu{i}"
    bn_params = sum(2 * c for c in (32, 64, 64))  # gamma and beta
    assert sum(trainable_counts(build_model("bn")).values()) == 1_191_170 + bn_params


def test_dropout_sits_between_fc4_and_fc5_only_in_its_variants():
    names = [layer.name for layer in build_model("dropout").layers]
    assert names[names.index("fc4") + 1] == "dropout" and names[names.index("dropout") + 1] == "fc5"
    assert build_model("dropout").get_layer("dropout").rate == 0.5
    assert "dropout" not in [layer.name for layer in build_model("momentum").layers]


def test_dropout_is_active_in_training_and_off_in_inference():
    dropout = build_model("dropout").get_layer("dropout")
    x = np.ones((64, 1000), dtype="float32")
    train_out = np.asarray(dropout(x, training=True))
    assert 0.4 < (train_out == 0).mean() < 0.6
    assert np.allclose(train_out[train_out != 0], 2.0)  # inverted dropout keeps the expected value
    assert np.array_equal(np.asarray(dropout(x, training=False)), x)
    assert np.array_equal(np.asarray(dropout(x)), x)


def test_batch_norm_uses_batch_statistics_in_training_and_moving_ones_in_inference():
    bn = build_model("bn").get_layer("bn1")
    rng = np.random.default_rng(0)
    x = (5.0 + 2.0 * rng.standard_normal((16, 8, 8, 32))).astype("float32")
    train_out = np.asarray(bn(x, training=True))
    assert abs(train_out.mean()) < 1e-3 and abs(train_out.std() - 1) < 1e-2
    # one training step moved the running mean 10% of the way (PyTorch's momentum 0.1)
    assert np.allclose(np.asarray(bn.moving_mean), 0.1 * x.mean(axis=(0, 1, 2)), atol=1e-4)
    infer_out = np.asarray(bn(x, training=False))
    expected = (x - np.asarray(bn.moving_mean)) / np.sqrt(np.asarray(bn.moving_variance) + bn.epsilon)
    assert np.allclose(infer_out, expected, atol=1e-4)
    assert abs(infer_out.mean()) > 1.0  # not re-standardized by the batch


def test_inference_is_deterministic_for_every_variant_with_randomness():
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    model = build_model("bn", norm_stats=ChannelStats((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    first = np.asarray(model(x))
    assert np.array_equal(first, np.asarray(model(x)))
    assert np.allclose(first, model.predict(x, verbose=0), atol=1e-6)
    assert not np.allclose(np.asarray(model(x, training=True)), first)


def test_probabilities_and_float32_output():
    x = np.random.default_rng(1).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    out = np.asarray(build_model("lenet5")(x))
    assert out.dtype == np.float32 and out.shape == (4, 10)
    assert np.allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_saved_model_file_round_trip_keeps_predictions(tmp_path):
    import keras

    x = np.random.default_rng(2).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    model = build_model("bn", norm_stats=ChannelStats((0.4, 0.5, 0.6), (0.2, 0.25, 0.3)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert np.allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)


def test_fused_batch_norm_matches_keras_and_updates_running_stats_like_pytorch():
    import keras
    import tensorflow as tf

    from keras_cnn.layers import FusedBatchNormalization

    rng = np.random.default_rng(3)
    x = tf.constant((2.0 + 3.0 * rng.standard_normal((8, 5, 5, 4))).astype("float32"))
    fused = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    plain = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    fused.build(x.shape)
    plain.build(x.shape)
    for layer in (fused, plain):
        layer.gamma.assign(rng.uniform(0.5, 1.5, 4).astype("float32"))
        layer.beta.assign(rng.uniform(-1, 1, 4).astype("float32"))
    plain.set_weights(fused.get_weights())
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        out_fused, out_plain = fused(x, training=True), plain(x, training=True)
        loss_fused, loss_plain = tf.reduce_sum(out_fused**2), tf.reduce_sum(out_plain**2)
    assert np.allclose(out_fused, out_plain, atol=1e-4)
    assert np.allclose(tape.gradient(loss_fused, x), tape.gradient(loss_plain, x), atol=1e-3)
    assert np.allclose(tape.gradient(loss_fused, fused.gamma), tape.gradient(loss_plain, plain.gamma), atol=1e-3)
    batch = x.numpy().reshape(-1, 4)
    assert np.allclose(fused.moving_mean, 0.1 * batch.mean(axis=0), atol=1e-5)
    # PyTorch's BatchNorm2d (the lab's) updates the running variance with the unbiased batch variance.
    assert np.allclose(fused.moving_variance, 0.9 + 0.1 * batch.var(axis=0, ddof=1), atol=1e-4)
    assert np.allclose(fused(x, training=False), plain.__class__.call(fused, x, training=False), atol=1e-5)


@pytest.mark.parametrize("variant", ["bn", "lenet5"])
def test_torch_init_draws_kernels_and_biases_uniformly_within_one_over_sqrt_fan_in(variant):
    model = build_model(resolve_config(variant, init="torch"))
    weighted = [layer for layer in model.layers if layer.name.startswith(("conv", "fc"))]
    assert len(weighted) == 5  # three convolutions and two dense layers; lenet5: two and three
    for layer in weighted:
        kernel, bias = (np.asarray(w) for w in (layer.kernel, layer.bias))
        bound = 1 / np.sqrt(np.prod(kernel.shape[:-1]))  # fan_in: all kernel axes but the outputs
        for values in (kernel, bias):
            assert np.abs(values).max() <= bound
            assert np.abs(values).max() > 0.5 * bound  # spread over the range, not a tiny copy of it
        assert abs(kernel.std() - bound / np.sqrt(3)) < 0.1 * bound  # the standard deviation of U(-b, b)


def test_the_default_init_is_the_labs_and_glorot_is_keras_default_with_zero_biases():
    assert resolve_config("bn").init == resolve_config("lenet5").init == "torch"
    model = build_model(resolve_config("bn", init="glorot"))
    fc4 = model.get_layer("fc4")
    assert not np.asarray(fc4.bias).any()
    assert np.abs(np.asarray(fc4.kernel)).max() > 1 / np.sqrt(1024)  # Glorot's bound sqrt(6 / 2024) is larger
