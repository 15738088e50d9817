"""Errors that a user can fix. The command line prints their message as one line, no traceback.

The base class and DataError live in pipelines/errors.py, the leaf that the data layer raises from.
"""

from pipelines.errors import DataError, KerasCnnError

__all__ = ["ConfigError", "DataError", "KerasCnnError", "RunDirError"]


class ConfigError(KerasCnnError, ValueError):
    """An unknown variant, an invalid hyperparameter or a conflicting option."""


class RunDirError(KerasCnnError):
    """A run directory that cannot be created, resumed or overwritten as asked."""
