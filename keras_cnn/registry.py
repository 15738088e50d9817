"""Every custom Keras object of this project, registered in any process that imports `keras_cnn`.

A `.keras` file names each custom class by its registered name ("keras_cnn>RandomCrop"), and Keras
finds the class only if the loading process has registered it, which happens when the module that
defines it is imported (each class is decorated with `register_keras_serializable` where it is
defined). This module owns the list of those modules (`MODULES`) and the names of renamed classes
(`RENAMED`), so that after `import keras_cnn` alone `keras.saving.load_model` loads any checkpoint
this project wrote. tests/test_registry.py fails when a custom class lives in a module not listed.

Why an import hook, when importing `MODULES` in keras_cnn/__init__.py would be plainer: they import
Keras and TensorFlow (~5 s), which the command line's --help, `compare` and `keras_cnn.resolve_config`
never need. And nothing plainer reaches the order "import keras_cnn, then keras": Keras imports the
module a checkpoint names only for its own packages (keras, keras_hub, ...), and its registry is a
dict that does not exist before Keras is imported. So `import keras_cnn` calls
`register_when_keras_is_imported()`: with Keras already imported it registers at once; otherwise a
`sys.meta_path` hook registers as soon as Keras has been imported. "As soon as" waits until no
import of Keras, TensorFlow or this project is half done in that thread: `MODULES` import each other
and TensorFlow (which imports Keras), and a half-imported module lacks the names the others take
from it. The hook counts imports per thread, registers under a lock, and leaves itself in place
until a registration succeeds: a failed one is a warning naming keras_cnn and its cause (raising
would undo the import that triggered it, Keras' own included), and the next import tries again;
`register()` called directly raises the ImportError.
"""

import importlib
import importlib.abc
import sys
import threading
import warnings

# The modules that define classes decorated with @keras.saving.register_keras_serializable(package="keras_cnn").
MODULES = ("keras_cnn.layers", "keras_cnn.optimization", "pipelines.preprocessing", "keras_cnn.models")
# Registered names that checkpoints were saved under before a class was renamed -> (module, class now).
RENAMED = {"keras_cnn>MixingSequential": ("keras_cnn.models", "LabSequential")}
PACKAGE = "keras_cnn"  # the `package` of every registration: names are "keras_cnn>ClassName"

# Imports whose end may be the moment to register: Keras and TensorFlow (which imports Keras), and ours.
_WATCHED = ("keras", "tensorflow", "keras_cnn", "pipelines", "train_keras")
_lock = threading.RLock()  # one registration at a time; re-entered by the imports it runs
_state = {"registered": False, "registering": False}
_imports_in_progress = threading.local()  # per thread: watched imports begun and not yet ended


def register() -> None:
    """Import every module of `MODULES` (their decorators register the classes) and add the renamed names.

    Runs once per process; after a failure (an ImportError naming keras_cnn) the next call tries again.
    """
    with _lock:
        if _state["registered"] or _state["registering"]:  # done, or this thread's imports below re-enter
            return
        _state["registering"] = True
        try:
            for name in MODULES:
                importlib.import_module(name)
            import keras

            custom_objects = keras.saving.get_custom_objects()
            for old_name, (module, attribute) in RENAMED.items():
                custom_objects[old_name] = getattr(importlib.import_module(module), attribute)
        except Exception as error:
            raise ImportError(f"keras_cnn could not register its custom Keras objects, so its checkpoints will not "
                              f"load: {type(error).__name__}: {error}") from error
        finally:
            _state["registering"] = False
        _state["registered"] = True
        for finder in [finder for finder in sys.meta_path if isinstance(finder, _RegisterAfterImport)]:
            sys.meta_path.remove(finder)


def register_when_keras_is_imported() -> None:
    """Register now if Keras is imported, else as soon as it is (see the module docstring)."""
    with _lock:
        if "keras" in sys.modules:
            register()
        elif not any(isinstance(finder, _RegisterAfterImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, _RegisterAfterImport())


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Wraps the loaders of the watched modules, so that the end of the last import in progress registers."""

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] not in _WATCHED or _state["registered"]:
            return None
        for finder in sys.meta_path:  # the finders after this one decide where the module is
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _CountingLoader(spec.loader)
                return spec
        return None


class _CountingLoader(importlib.abc.Loader):
    """A module's own loader, counting this thread's watched imports in progress; registers when none is left."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        _imports_in_progress.count = getattr(_imports_in_progress, "count", 0) + 1
        try:
            self._loader.exec_module(module)
        finally:
            _imports_in_progress.count -= 1
        if _imports_in_progress.count == 0 and "keras" in sys.modules and not _state["registered"]:
            try:
                register()
            except ImportError as error:
                warnings.warn(f"{error} (tried again at the next import)", RuntimeWarning, stacklevel=2)

    def __getattr__(self, name):  # get_source, get_resource_reader, ...: the wrapped loader's
        return getattr(self._loader, name)
