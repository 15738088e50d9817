"""Custom Keras objects: every one is registered in keras_cnn/registry.py, and checkpoints load in a fresh process."""

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_cnn
import pipelines
from keras_cnn import registry
from keras_cnn.config import resolve_config
from keras_cnn.training import compiled_model

REPO = Path(__file__).resolve().parents[1]
SERIALIZABLE = (keras.layers.Layer, keras.optimizers.schedules.LearningRateSchedule, keras.losses.Loss,
                keras.metrics.Metric, keras.optimizers.Optimizer, keras.initializers.Initializer)


def project_classes() -> list[type]:
    """Every class defined in keras_cnn/ and pipelines/ that Keras serializes into a checkpoint."""
    classes = []
    for package in (keras_cnn, pipelines):
        for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(module_info.name)
            classes += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                        if cls.__module__ == module.__name__ and issubclass(cls, SERIALIZABLE)]
    return classes


def test_every_custom_keras_class_is_registered_by_a_module_the_registry_imports():
    classes = project_classes()
    assert {"RandomCrop", "FusedBatchNormalization", "OneCycle", "LabSequential"} <= {cls.__name__ for cls in classes}
    for cls in classes:
        assert keras.saving.get_registered_name(cls) == f"{registry.PACKAGE}>{cls.__name__}", cls
        assert cls.__module__ in registry.MODULES, (
            f"{cls.__module__} defines {cls.__name__}: add it to registry.MODULES")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """A folder with all.keras, a trained-for-one-step checkpoint holding every custom class, and old.keras,
    the same one saved under the old class name."""
    folder = tmp_path_factory.mktemp("checkpoints")
    config = resolve_config("best", augment="color,pad-crop32,flip,cutout", whitening="zca", epochs=1)
    model = compiled_model(config, None, 10, train_size=16)
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    model.fit(images, keras.utils.to_categorical(np.arange(16) % 10, 10), epochs=1, verbose=0)
    model.save(folder / "all.keras")
    # An older checkpoint: LabSequential was called MixingSequential.
    with zipfile.ZipFile(folder / "all.keras") as new, zipfile.ZipFile(folder / "old.keras", "w") as old:
        for item in new.infolist():
            data = new.read(item)
            if item.filename == "config.json":
                data = data.replace(b'"keras_cnn>LabSequential"', b'"keras_cnn>MixingSequential"')
                assert b"MixingSequential" in data
            old.writestr(item, data)
    np.save(folder / "images.npy", images)
    np.save(folder / "expected.npy", model.predict(images, verbose=0))
    return folder


LOAD_AND_COMPARE = """
import numpy as np
folder = {folder!r}
for name in ("all", "old"):
    model = keras.saving.load_model(folder + "/" + name + ".keras")
    predicted = model.predict(np.load(folder + "/images.npy"), verbose=0)
    difference = np.abs(predicted - np.load(folder + "/expected.npy")).max()
    print(name, type(model).__name__, difference)
    assert difference < 1e-6, difference
"""


@pytest.mark.parametrize("imports", [
    "import keras\nimport keras_cnn",  # (import keras_cnn, then keras: the acceptance tests)
    "import keras_cnn\nfrom pipelines.preprocessing import RandomCrop\nimport keras",  # Keras first imported mid-way
])
def test_a_checkpoint_loads_in_a_fresh_process_after_import_keras_cnn(checkpoints, imports):
    script = imports + LOAD_AND_COMPARE.format(folder=str(checkpoints))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = [line.split()[:2] for line in result.stdout.splitlines()]
    assert loaded == [["all", "LabSequential"], ["old", "LabSequential"]]


def test_import_keras_cnn_stays_free_of_tensorflow():
    script = ("import sys, keras_cnn, keras_cnn.config\n"
              "print(json.dumps(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", "import json\n" + script], capture_output=True, text=True, cwd=REPO,
                            timeout=120)
    assert json.loads(result.stdout) == []


FLAKY_MODULE = """
import os
if not os.path.exists({marker!r}):  # the first import fails, as a module with a bug would
    open({marker!r}, "w").close()
    raise RuntimeError("a bug in a registered module")
"""


def write_flaky_module(folder: Path) -> None:
    (folder / "flaky_registration.py").write_text(FLAKY_MODULE.format(marker=str(folder / "imported-once")))


def test_a_failed_registration_names_keras_cnn_and_the_next_call_retries(tmp_path, monkeypatch):
    write_flaky_module(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "MODULES", registry.MODULES + ("flaky_registration",))
    monkeypatch.setitem(registry._state, "registered", False)
    with pytest.raises(ImportError,
                       match="keras_cnn could not register its custom Keras objects.*a bug in a registered"):
        registry.register()
    assert not registry._state["registered"] and not registry._state["registering"]
    registry.register()
    assert registry._state["registered"] and "flaky_registration" in sys.modules


HOOK_RETRIES = """
import sys, threading, warnings
sys.path.insert(0, {folder!r})
import keras_cnn
from keras_cnn import registry
registry.MODULES += ("flaky_registration",)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import keras  # registration fails: a warning, and Keras stays imported
assert "keras" in sys.modules and not registry._state["registered"]
assert any("keras_cnn could not register" in str(w.message) for w in caught), [str(w.message) for w in caught]
# The next watched imports, from two threads at once, retry it: once.
threads = [threading.Thread(target=__import__, args=(name,)) for name in ("keras_cnn.export", "keras_cnn.report")]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert registry._state["registered"]
print(keras.saving.get_registered_object("keras_cnn>RandomCrop").__name__)
"""


def test_the_import_hook_warns_on_a_failed_registration_and_the_next_imports_retry(tmp_path):
    write_flaky_module(tmp_path)
    result = subprocess.run([sys.executable, "-c", HOOK_RETRIES.format(folder=str(tmp_path))], capture_output=True,
                            text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["RandomCrop"]
