"""Errors that a user can fix. The command line prints their message as one line, no traceback."""


class KerasCnnError(Exception):
    """Base of the errors caused by the user's input; the message names the problem and the fix."""


class ConfigError(KerasCnnError, ValueError):
    """An unknown variant, an invalid hyperparameter or a conflicting option."""


class DataError(KerasCnnError, ValueError):
    """A missing, empty or malformed data set (folder layout, unreadable or wrongly sized images)."""


class RunDirError(KerasCnnError):
    """A run directory that cannot be created, resumed or overwritten as asked."""
