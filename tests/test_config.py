"""Settings: variants, overrides and one clear error per invalid value."""

import pytest

from keras_cnn import ConfigError, TrainConfig, VARIANTS, resolve_config


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
