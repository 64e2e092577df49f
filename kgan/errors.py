"""The one exception type that means "the user gave something we cannot use"."""


class KganWarning(UserWarning):
    """Something the user should know that does not stop the command (one line on stderr)."""


class KganError(Exception):
    """A problem with the user's input, reported as one line without a traceback.

    The message says what is wrong and what to do about it.
    """
