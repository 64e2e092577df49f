"""Terminal output: Rich progress for interactive terminals, plain lines otherwise."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

# Said before drawing avatars when the compiled drawing is not built yet: nothing moves meanwhile.
COMPILING = "compiling the avatar drawing first (once per installation: ~15 s)"


def interactive(quiet: bool = False) -> bool:
    """Rich live output only on a real terminal, outside CI, unless --quiet."""
    return not quiet and sys.stdout.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


class LazyProgress:
    """A Rich progress bar that appears at its first update (so a cached step shows nothing).

    Call it with (done) or (done, total); use it as a context manager to close it.
    """

    def __init__(self, description: str, live: bool, columns: tuple, total: int | None = None):
        self.progress = Progress(*columns, console=console) if live else None
        if self.progress:
            self.task = self.progress.add_task(description, total=total)
        self.started = False

    def __enter__(self) -> LazyProgress:
        return self

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.progress:
            return
        if not self.started:
            self.progress.start()
            self.started = True
        if total is not None:
            self.progress.update(self.task, total=total)
        self.progress.update(self.task, completed=done)

    def __exit__(self, *exc) -> None:
        if self.progress and self.started:
            self.progress.stop()


def CountProgress(description: str, live: bool, total: int | None = None) -> LazyProgress:
    """Items processed: a bar with a count (a pulsing bar without a total)."""
    columns = (SpinnerColumn(), TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return LazyProgress(description, live, columns, total)


def ByteProgress(description: str, live: bool) -> LazyProgress:
    """A download: bytes, speed, time left."""
    columns = (TextColumn(description), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    return LazyProgress(description, live, columns)


@contextlib.contextmanager
def silence_native_stderr() -> Iterator[None]:
    """Hide what native code writes to fd 2 (TensorFlow's start-up banner ignores
    TF_CPP_MIN_LOG_LEVEL); Python-level errors raised inside still propagate."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow() -> None:
    """Import TensorFlow and probe devices once, without the native log noise."""
    with silence_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()


def warn(message: str) -> None:
    """A warning line on stderr (library code reports warnings through this)."""
    err_console.print(f"kgan: warning: {message}", markup=False)
