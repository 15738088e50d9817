"""The errors both packages raise for input a user can fix; the command line prints their message as one line."""


class KerasCnnError(Exception):
    """Base of the errors caused by the user's input; the message names the problem and the fix."""


class DataError(KerasCnnError, ValueError):
    """A missing, empty or malformed data set (folder layout, unreadable or wrongly sized images)."""
