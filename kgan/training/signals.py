"""Stopping a training process on purpose: Ctrl-C (SIGINT), SIGTERM (schedulers, `docker
stop`, `kill`) and SIGHUP (a closed terminal) all save a checkpoint and end the run as
`interrupted` once the step in progress has finished; a second signal stops at once. The exit
code is 128 + the signal number."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import keras

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived: handled like Ctrl-C, remembering which signal it was."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class StopFlag:
    """While active and `deferring`, a stop signal sets a flag instead of raising in the middle
    of a step: the loop raises at its next check (`RaiseWhenStopped`, or the cluster's shared
    check that stops every worker at the same step); a second signal raises at once. While
    not deferring (building, restoring, between `fit` calls) a signal raises at once.

    Why not raise wherever the signal lands: the exception would unwind TensorFlow and
    Keras from an arbitrary bytecode (a half-built iterator or function, a step's variables
    half-assigned), and the checkpoint saved next would be written from that state."""

    def __init__(self, notify: Callable[[str], None] | None = None, what: str = "", *, deferring: bool = True):
        self.signum: int | None = None
        self.deferring = deferring
        self._previous: dict = {}
        self._notify, self._what = notify, what

    @property
    def raised(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in STOP_SIGNALS}
        return self

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Defer stop signals to the loop's next check while this is active."""
        self.deferring = True
        try:
            yield
        finally:
            self.deferring = False

    def raise_if_stopped(self) -> None:
        if self.raised:
            raise Stopped(self.signum)

    def _handle(self, signum, frame) -> None:
        if self.raised or not self.deferring:
            self.signum = self.signum or signum
            raise Stopped(signum)
        self.signum = signum
        if self._notify:
            self._notify(f"{signal_name(signum)}: {self._what}; {signal_name(signum)} again quits at once")

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


class RaiseWhenStopped(keras.callbacks.Callback):
    """`fit`'s check of a `StopFlag`: the noted stop signal is raised once the step in progress
    and every callback after it have finished (after the epoch's work at an epoch's end).
    Last in the callback list, so that the others have recorded the step."""

    def __init__(self, flag: StopFlag):
        super().__init__()
        self.flag = flag

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.flag.raise_if_stopped()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.flag.raise_if_stopped()
