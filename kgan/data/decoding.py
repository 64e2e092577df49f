"""Decoding and hashing images on worker processes: `python -m kgan.data.decoding`.

Processes, because small images spend as long in Python as in the decoder, and threads
share one interpreter lock (on 20,000 96-px JPEGs threads ran at half a single plain loop's
speed). The workers are plain subprocesses fed through pipes rather than a
`multiprocessing` pool: those start by importing the caller's main module again, which
fails from a REPL or standard input and runs a script without a `__main__` guard twice.

Protocol: the parent writes pickled requests to a worker's stdin — first the decoding
options, then one chunk after another, each a list of `bytes` (an image file) or `str`
(why the entry is refused) — and reads one pickled answer per chunk from its stdout, in
order: per entry, `(image, content hash)` or the reason it is skipped.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

import numpy as np

from kgan.data.dataset import content_hash
from kgan.data.images import SkippedImage, decode_image
from kgan.errors import KganError

Decoded = tuple[np.ndarray, str] | str  # an image and its content hash, or why it was skipped
Request = list[bytes | str]  # per entry: its bytes, or why it is refused


def decode_chunk(decode: Callable[[bytes], np.ndarray], chunk: Request) -> list[Decoded]:
    """Each entry's image and content hash, or the reason it is skipped."""
    results: list[Decoded] = []
    for item in chunk:
        if isinstance(item, str):
            results.append(item)
            continue
        try:
            image = decode(item)
        except SkippedImage as reason:
            results.append(str(reason))
            continue
        results.append((image, content_hash(image)))
    return results


class DecodingWorkers:
    """`count` worker processes decoding chunks in order, `ahead` chunks queued per worker."""

    def __init__(self, count: int, options: dict[str, Any], ahead: int = 3):
        command = [sys.executable, "-m", "kgan.data.decoding"]
        self.workers = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(count)]
        self.ahead = ahead
        for worker in self.workers:
            self._send(worker, options)

    def map(self, chunks: Iterable[tuple[Any, Request]]) -> Iterator[tuple[Any, list[Decoded]]]:
        """`(key, answer)` for each `(key, chunk)`, in order; chunk k goes to worker k mod count.

        A feeder thread sends while this one reads: a worker writing a large answer waits for
        it to be read, so one thread doing both would wait on itself."""
        in_flight = threading.Semaphore(self.ahead * len(self.workers))
        sent: queue.Queue = queue.Queue()
        stop = threading.Event()

        def feed() -> None:
            try:
                for index, (key, chunk) in enumerate(chunks):
                    while not in_flight.acquire(timeout=0.5):
                        if stop.is_set():
                            return
                    worker = self.workers[index % len(self.workers)]
                    self._send(worker, chunk)
                    sent.put((key, worker))
                sent.put(_END)
            except BaseException as error:  # the source failed, or a worker: raised in the reader
                sent.put(_Failure(error))

        feeder = threading.Thread(target=feed, name="kgan-decoding-feeder", daemon=True)
        feeder.start()
        try:
            while (item := sent.get()) is not _END:
                if isinstance(item, _Failure):
                    raise item.error
                key, worker = item
                answer = self._receive(worker)
                in_flight.release()
                yield key, answer
        finally:
            stop.set()
            feeder.join(timeout=5)

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

    def __enter__(self) -> DecodingWorkers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, worker: subprocess.Popen, message: Any) -> None:
        try:
            pickle.dump(message, worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            worker.stdin.flush()
        except (BrokenPipeError, OSError):
            raise KganError(self._died(worker)) from None

    def _receive(self, worker: subprocess.Popen) -> list[Decoded]:
        try:
            answer = pickle.load(worker.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            raise KganError(self._died(worker)) from None
        if isinstance(answer, dict) and "error" in answer:
            raise RuntimeError(f"an image-decoding process failed:\n{answer['error']}")
        return answer

    @staticmethod
    def _died(worker: subprocess.Popen) -> str:
        code = worker.poll()
        return (
            f"an image-decoding process stopped unexpectedly (exit code {code}); "
            "run again, or with fewer workers if memory is short"
        )


_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def _serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """A worker's loop: the options, then one answer per chunk until the input ends."""
    options = pickle.load(requests)
    decode = functools.partial(decode_image, **options)
    while True:
        try:
            chunk = pickle.load(requests)
        except EOFError:
            return
        try:
            answer: Any = decode_chunk(decode, chunk)
        except Exception:  # a bug, not a bad image: reported to the parent, which raises it
            answer = {"error": traceback.format_exc()}
        pickle.dump(answer, answers, protocol=pickle.HIGHEST_PROTOCOL)
        answers.flush()


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
