"""The one exception type that means "the user gave something we cannot use", and how
another library's error becomes part of one line."""


class KganWarning(UserWarning):
    """Something the user should know that does not stop the command (one line on stderr)."""


class KganError(Exception):
    """A problem with the user's input, reported as one line without a traceback.

    The message says what is wrong and what to do about it.
    """


def first_line(error: BaseException | str, limit: int = 160, empty: str | None = None) -> str:
    """An error's first non-empty line, at most `limit` characters, for a one-line message;
    `empty` (default: the error's type name) when it says nothing."""
    text = error if isinstance(error, str) else str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines:
        return lines[0][:limit]
    return empty if empty is not None else type(error).__name__
