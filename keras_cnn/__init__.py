"""keras-cnn: the lab's convolutional networks (LeNet5 on MNIST, a CNN on CIFAR-10) in Keras 3.

    import keras_cnn
    history, run_dir = keras_cnn.train("bn", epochs=30, data_dir="../shared/data/cifar10-jpeg")
    model = keras_cnn.build_model("bn")   # the uncompiled keras.Sequential

TensorFlow is imported on first use of `train` or `build_model`, so that the settings below
apply and the command line's --help stays fast. Checkpoints load with `keras.saving.load_model`
once `keras_cnn` is imported: its custom layers are registered as soon as Keras is (registry.py).
"""

__version__ = "0.4.0"  # the package's version (pyproject.toml reads it); `keras-cnn --version` prints it

from keras_cnn import registry  # noqa: E402  (first: the modules below are watched by its import hook)
from pipelines import environment  # noqa: F401  (TensorFlow's settings, before anything imports it)

registry.register_when_keras_is_imported()

from keras_cnn.config import VARIANTS, TrainConfig, resolve_config  # noqa: E402
from keras_cnn.errors import ConfigError, DataError, KerasCnnError, RunDirError  # noqa: E402

_LAZY = {
    "train": "keras_cnn.training",
    "train_config": "keras_cnn.training",
    "TrainResult": "keras_cnn.training",
    "build_model": "keras_cnn.models",
    "export_run": "keras_cnn.export",
    "predict": "keras_cnn.predict",
    "describe": "keras_cnn.analysis",
    "fully_convolutional": "keras_cnn.fullyconv",
    "heatmap": "keras_cnn.heatmap",
    "train_lab": "keras_cnn.lab",
    "compare": "keras_cnn.report",
    "tune": "keras_cnn.tuning",
    "study": "keras_cnn.studies",
}

__all__ = [
    "VARIANTS",
    "ConfigError",
    "DataError",
    "KerasCnnError",
    "RunDirError",
    "TrainConfig",
    "resolve_config",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_cnn' has no attribute '{name}'")
