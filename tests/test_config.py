"""Settings: variants, overrides and one clear error per invalid value."""

import json

import pytest
from conftest import accuracy_applied_directly, write_images

from keras_cnn import VARIANTS, ConfigError, DataError, TrainConfig, resolve_config, train


def test_every_variant_resolves_and_round_trips_through_json_form():
    for name in VARIANTS:
        config = resolve_config(name)
        assert config.variant == name
        assert TrainConfig.from_dict(config.to_dict()) == config


def test_lenet5_defaults_are_the_labs_starting_code():
    config = resolve_config("lenet5")
    assert (config.dataset, config.arch, config.epochs, config.lr, config.batch_size, config.momentum) == (
        "mnist", "lenet5", 5, 0.1, 128, 0.0)


def test_overrides_change_only_what_is_given():
    config = resolve_config("bn", lr=0.05, epochs=3, augment="flip", limit=100)
    assert (config.lr, config.epochs, config.augment, config.limit) == (0.05, 3, ("flip",), 100)
    assert config.batch_norm and config.momentum == 0.9
    assert resolve_config("bn", augment="none").augment == ()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(lr=0), "learning rate must be > 0"),
        (dict(lr=-0.1), "learning rate must be > 0"),
        (dict(lr=float("nan")), "learning rate must be > 0"),
        (dict(batch_size=0), "batch size must be at least 1"),
        (dict(epochs=0), "epochs must be at least 1"),
        (dict(dropout=1.0), "dropout rate must be in [0, 1)"),
        (dict(momentum=1.0), "momentum must be in [0, 1)"),
        (dict(lr_decay=0), "lr decay must be in (0, 1]"),
        (dict(limit=0), "limit must be at least 1"),
        (dict(augment="crop28,zoom"), "augmentation 'zoom' is unknown"),
        (dict(normalization="zscore"), "normalization 'zscore' is unknown"),
        (dict(batch_size=1.5), "batch_size must be int"),
        (dict(lr="fast"), "lr must be float"),
        (dict(learning_rate=0.1), "unknown setting(s) learning_rate"),
        (dict(dataset="mnist", normalization="lab"), "the lab's normalization constants are CIFAR-10's"),
        (dict(freeze_conv1=True), "freeze conv1 keeps conv1's initial kernel: use it with --whiten-conv1"),
        (dict(ema_momentum=1.0), "ema momentum must be in [0, 1)"),
        (dict(bn_momentum=-0.1), "bn momentum must be in [0, 1)"),
        (dict(augment="flip,alt-flip"), "augment flip and alt-flip are two flips: choose one"),
    ],
)
def test_invalid_settings_raise_one_clear_error(overrides, message):
    with pytest.raises(ConfigError) as error:
        resolve_config("bn", **overrides)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_variant_names_the_choices():
    with pytest.raises(ConfigError, match="unknown variant 'bnn': choose one of lenet5, baseline, norm"):
        resolve_config("bnn")


def test_a_run_recorded_before_a_setting_existed_reads_as_what_it_did(tmp_path):
    import json

    from keras_cnn.config import recorded_settings
    from keras_cnn.rundir import changed_settings

    stored = resolve_config("bn").to_dict()
    del stored["init"], stored["tta"]  # as written before these settings existed
    filled = recorded_settings(stored)
    assert filled["init"] == "glorot"  # Keras' initialization, the only one then; no longer the default
    assert filled["tta"] == "none" and filled["lr"] == stored["lr"]
    (tmp_path / "config.json").write_text(json.dumps({"config": stored}))
    assert changed_settings(str(tmp_path), resolve_config("bn", init="glorot")) == []
    assert changed_settings(str(tmp_path), resolve_config("bn")) == ["init 'glorot' -> 'torch'"]


# The smallest valid value of every numeric setting; a new setting must be added here (test below).
SMALLEST = dict(
    test_fraction=0.01, val_split=0.01, limit=10, seed=0, zca_epsilon=1e-6, crop_padding=1, cutout_size=1,
    mixup_alpha=1e-3, cutmix_alpha=1e-3, color_jitter=0.0, dropout=0.0, epochs=1, batch_size=1, lr=1e-6,
    momentum=0.0, weight_decay=0.0, label_smoothing=0.0, sam_rho=0.0, lr_decay=1e-3, lr_step_epochs=1, warmup_epochs=0,
    bn_momentum=0.0, ema_momentum=0.0,
)
CHOICES = {"variant", "dataset", "arch", "data_dir", "strict_images", "normalization", "whitening", "augment",
           "crop_padding_mode", "init", "batch_norm", "optimizer", "nesterov", "schedule", "tta", "eval_train",
           "eval_at_start", "eval_each_epoch", "whiten_conv1", "freeze_conv1",
           "mixed_precision", "jit_compile", "strategy"}


def test_every_setting_has_its_smallest_value_tested():
    assert set(SMALLEST) | CHOICES == {field for field in TrainConfig.__dataclass_fields__}


@pytest.mark.parametrize("schedule", ["exp", "step", "cosine", "warmup-cosine", "onecycle"])
def test_the_smallest_valid_values_train_under_every_schedule(cifar_like_folder, tmp_path, schedule):
    smallest = {name: SMALLEST[name] for name in SMALLEST if name not in ("test_fraction", "val_split", "zca_epsilon",
                                                                           "warmup_epochs")}
    # Every augmentation at its smallest, BN, test-time views and the training-split evaluation too.
    result = train("baseline", data_dir=str(cifar_like_folder), schedule=schedule, batch_norm=True,
                   tta="flip-translate",
                   augment="color,pad-crop32,flip,cutout,mixup,cutmix", eval_train=True, run_dir=str(tmp_path / "r"),
                   verbose=0, **smallest)
    assert result.metrics["epochs"] == 1 and len(result.history.history["loss"]) == 1
    # The six test-time views of last.keras, applied directly, give the run's own test score.
    assert result.metrics["final_test_accuracy"] == pytest.approx(accuracy_applied_directly(result.run_dir), abs=1e-6)


def test_the_smallest_held_out_shares_and_zca_epsilon_train(tmp_path):
    flat = tmp_path / "digits"  # class folders without train/ and test/: --test-fraction splits them
    for digit in range(10):
        write_images(flat / str(digit), 4, shape=(28, 28, 1), seed=digit)
    result = train("lenet5", data_dir=str(flat), test_fraction=SMALLEST["test_fraction"],
                   val_split=SMALLEST["val_split"],
                   whitening="zca", zca_epsilon=SMALLEST["zca_epsilon"], limit=20, epochs=1, batch_size=1,
                   run_dir=str(tmp_path / "r"), verbose=0)
    assert (result.metrics["epochs"],
            json.loads((tmp_path / "r" / "config.json").read_text())["data"]["val_images"]) == (1, 10)
    with pytest.raises(DataError, match="--val-split 0.01 holds out every training image of 10 class"):
        train("lenet5", data_dir=str(flat), test_fraction=0.01, val_split=0.01, limit=10, epochs=1,
              run_dir=str(tmp_path / "s"))


def test_the_default_warmup_fits_a_short_run():
    assert [resolve_config("bn", schedule="warmup-cosine", epochs=n).warmup for n in (1, 2, 3, 30)] == [0, 1, 2, 2]
    assert resolve_config("bn", schedule="warmup-cosine", epochs=5, warmup_epochs=4).warmup == 4
    with pytest.raises(ConfigError, match=r"warmup epochs must be in \[0, epochs - 1\] \(epochs 2\), got 2"):
        resolve_config("bn", schedule="warmup-cosine", epochs=2, warmup_epochs=2)
