"""Work spread over a few worker processes, answers in order: `python -m kgan.system.workers TASK`.

Processes, because small images spend as long in Python as in numpy or the decoder, and
threads share one interpreter lock (threads ran slower than one plain loop on small
JPEGs). The workers are plain subprocesses fed through pipes rather than a
`multiprocessing` pool: those start by importing the caller's main module again, which
fails from a REPL or standard input and runs a script without a `__main__` guard twice.

Protocol: the parent writes pickled messages to a worker's stdin — first the task's
options, then one request after another — and reads one pickled answer per request from
its stdout, in order. A task is a function `(options, request) -> answer`, named to the
worker as "module:function" (this module knows nothing of what the tasks are);
an `OSError` it raises (a full disk, say) is raised again in the parent, any other error
is a bug and is reported with the worker's traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from kgan.errors import KganError


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class OrderedWorkers:
    """`count` processes running `task` ("module:function") on requests in order, `ahead`
    requests queued per worker; `what` names the processes in messages ("image-decoding")."""

    def __init__(self, task: str, what: str, count: int, options: Any, ahead: int = 3):
        self.what = what
        command = [sys.executable, "-m", __name__, task]
        self.workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(count)]
        self.ahead = ahead
        for worker in self.workers:
            self._send(worker, options)

    def map(self, requests: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        """`(key, answer)` for each `(key, request)`, in order; request k goes to worker k mod count.

        A feeder thread sends while this one reads: a worker writing a large answer waits for
        it to be read, so one thread doing both would wait on itself."""
        in_flight = threading.Semaphore(self.ahead * len(self.workers))
        sent: queue.Queue = queue.Queue()
        stop = threading.Event()

        def feed() -> None:
            try:
                for index, (key, request) in enumerate(requests):
                    while not in_flight.acquire(timeout=0.5):
                        if stop.is_set():
                            return
                    worker = self.workers[index % len(self.workers)]
                    self._send(worker, request)
                    sent.put((key, worker))
                sent.put(_END)
            except BaseException as error:  # the source failed, or a worker: raised in the reader
                sent.put(_Failure(error))

        feeder = threading.Thread(target=feed, name=f"kgan-{self.what}-feeder", daemon=True)
        feeder.start()
        finished = False
        try:
            while (item := sent.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                key, worker = item
                answer = self._receive(worker)
                in_flight.release()
                yield key, answer
            finished = True
        finally:
            stop.set()
            if not finished:  # an error, Ctrl-C, or the caller stopped: nothing more is wanted
                self.kill()
            feeder.join(timeout=5)

    def kill(self) -> None:
        """Stop every worker now (they hold no state worth keeping)."""
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()

    def close(self) -> None:
        for worker in self.workers:
            if worker.stdin and not worker.stdin.closed:
                with contextlib.suppress(OSError):  # a worker that died already
                    worker.stdin.close()
        for worker in self.workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            if worker.stdout:
                worker.stdout.close()

    def __enter__(self) -> OrderedWorkers:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:
            self.kill()
        self.close()

    def _send(self, worker: subprocess.Popen, message: Any) -> None:
        try:
            pickle.dump(message, worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            worker.stdin.flush()
        except (BrokenPipeError, OSError):
            raise KganError(self._died(worker)) from None

    def _receive(self, worker: subprocess.Popen) -> Any:
        try:
            answer = pickle.load(worker.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            raise KganError(self._died(worker)) from None
        if isinstance(answer, dict) and _CRASH in answer:
            raise RuntimeError(f"an {self.what} process failed:\n{answer[_CRASH]}")
        if isinstance(answer, dict) and _OS_ERROR in answer:
            raise OSError(*answer[_OS_ERROR])
        return answer

    def _died(self, worker: subprocess.Popen) -> str:
        code = worker.poll()
        return (
            f"an {self.what} process stopped unexpectedly (exit code {code}); "
            "run again, or with fewer workers if memory is short"
        )


_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


# A worker's answer when its task raised (a bug, not bad input): `{_CRASH: traceback}`, a
# plain dict because a class defined here would be `__main__`'s in the worker. When it
# raised an OSError: `{_OS_ERROR: (errno, strerror, filename)}`.
_CRASH = "kgan-worker-crash"
_OS_ERROR = "kgan-worker-os-error"


def _serve(task: str, requests: BinaryIO, answers: BinaryIO) -> None:
    """A worker's loop: the options, then one answer per request until the input ends.

    Ctrl-C in a terminal reaches the whole process group: the parent decides what happens
    (it stops the workers), so a worker ignores it rather than print its own traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    module, function = task.split(":")
    handle = getattr(importlib.import_module(module), function)
    options = pickle.load(requests)
    while True:
        try:
            request = pickle.load(requests)
        except (EOFError, pickle.UnpicklingError):  # the parent closed the pipe, perhaps mid-message
            return
        try:
            answer: Any = handle(options, request)
        except OSError as error:
            answer = {_OS_ERROR: (error.errno, error.strerror or str(error), error.filename)}
        except Exception:
            answer = {_CRASH: traceback.format_exc()}
        try:
            pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
            answers.flush()
        except BrokenPipeError:  # the parent is gone or stopped listening
            return


if __name__ == "__main__":
    _serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
