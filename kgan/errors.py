"""The one exception type that means "the user gave something we cannot use"."""


class KganError(Exception):
    """A problem with the user's input, reported as one line without a traceback.

    The message says what is wrong and what to do about it.
    """
