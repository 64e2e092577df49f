"""Stopping a training process on purpose: Ctrl-C (SIGINT), SIGTERM (schedulers, `docker
stop`, `kill`) and SIGHUP (a closed terminal) all save a checkpoint and end the run as
`interrupted`; a second signal quits at once. The exit code is 128 + the signal number."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived: handled like Ctrl-C, remembering which signal it was."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


@contextmanager
def raising_on_stop() -> Iterator[None]:
    """While active, SIGTERM and SIGHUP raise `Stopped` as Ctrl-C raises KeyboardInterrupt;
    once one has arrived, any further stop signal raises again (quitting at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame) -> None:
        raise Stopped(signum)

    previous = {signum: signal.signal(signum, handle) for signum in STOP_SIGNALS if signum != signal.SIGINT}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class StopFlag:
    """While active, a stop signal sets a flag instead of raising in the middle of a step (for
    loops that must stop every worker at the same step); a second one raises at once."""

    def __init__(self, notify: Callable[[str], None] | None = None, what: str = ""):
        self.signum: int | None = None
        self._previous: dict = {}
        self._notify, self._what = notify, what

    @property
    def raised(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        return self

    def _handle(self, signum, frame) -> None:
        if self.raised:
            raise Stopped(signum)
        self.signum = signum
        if self._notify:
            self._notify(f"{signal_name(signum)}: {self._what}; {signal_name(signum)} again quits at once")

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
