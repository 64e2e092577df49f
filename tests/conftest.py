"""Shared fixtures: isolated caches and run folders, the float32 policy, a small real dataset.

Plain helpers live in helpers.py."""

from __future__ import annotations

import os
import signal

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The tests stop kgan with Ctrl-C as a terminal sends it. A shell that starts pytest in the
# background (`pytest &` in a script) has it ignore SIGINT, and processes inherit that: give
# the processes the tests start the terminal's default back, or Ctrl-C would never reach them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def float32_policy():
    """Each test starts (and leaves) Keras with the float32 policy."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches and runs never touch the user's home or the working tree — also for fixtures
    of module or session scope, which are set up before any function-scoped one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KGAN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kgan-cache"))
        patch.setenv("KGAN_RUNS_DIR", str(tmp_path_factory.getbasetemp() / "runs"))
        yield


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 synthetic avatars as a prepared dataset (train 160, val 20, test 20)."""
    from kgan.data.synthetic import write_synthetic

    out = tmp_path_factory.mktemp("data") / "synthetic-200"
    write_synthetic(out, 200, seed=7)
    return out
