"""A quiet console: TensorFlow's own logs stay off it unless asked for, so that the project's lines and Keras'
progress stand out.

TensorFlow's C++ start-up lines (the oneDNN notice, CUDA probing on a machine without a GPU,
absl's "log messages before absl::InitializeLog()") are written to the process's stderr before
its logging is set up, so TF_CPP_MIN_LOG_LEVEL alone cannot hide them, and TFLite's runtime
("Created TensorFlow Lite XNNPACK delegate") ignores it. `quiet_native_logs` therefore mutes
file descriptor 2 around those calls, when the console is quiet: TF_CPP_MIN_LOG_LEVEL=3, which
the command line sets unless the user has set it or passed --verbose. Nothing is muted for a
Python user who has not asked for it.
"""

import contextlib
import os
import sys

QUIET = "3"  # TF_CPP_MIN_LOG_LEVEL that hides TensorFlow's INFO, WARNING and ERROR lines


def is_quiet() -> bool:
    """Whether TensorFlow's own logs are kept off the console (TF_CPP_MIN_LOG_LEVEL=3)."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL") == QUIET


@contextlib.contextmanager
def quiet_native_logs():
    """Mute what native code writes to stderr inside the block, if the console is quiet."""
    if not is_quiet():
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (and so Keras) without its start-up lines on a quiet console."""
    with quiet_native_logs():
        import tensorflow  # noqa: F401


def keras_verbosity(verbose: int | str, off_terminal: int = 2) -> int:
    """Keras' `verbose` for ours: "auto" is a progress bar (1) on a terminal and `off_terminal` elsewhere
    (2, one line per epoch; 0 where a single long epoch would print one line at its end), else `verbose` itself."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else off_terminal
