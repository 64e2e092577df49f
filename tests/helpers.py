"""Helpers the test files share: a tiny model config, the `kgan` command in a subprocess,
free ports on 127.0.0.1, and the one-line-error check."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from kgan.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(**overrides) -> TrainConfig:
    """A model small enough to train in seconds on CPU through the real code paths."""
    values = dict(
        data="synthetic",
        image_size=32,
        z_dim=8,
        g_width=4,
        d_width=4,
        batch_size=8,
        epochs=2,
        steps_per_epoch=3,
        sample_count=4,
        seed=3,
        deterministic=True,
        fid_every=0,
    )
    variant = overrides.pop("variant", "dcgan")
    values.update(overrides)
    return TrainConfig.for_variant(variant).with_overrides(**values).validate()


def final_weights(run_dir: Path, average: bool = False) -> list:
    """The newest checkpoint's weights and optimizer state of a run, as arrays (for "same run"
    checks); with `average`, G's moving average too when the run has one."""
    import numpy as np

    from kgan import runs
    from kgan.training import checkpoint
    from kgan.training.session import build_gan

    gan = build_gan(runs.load_config(run_dir), conditions=runs.RunFolder(run_dir).conditions())
    checkpoint.restore(checkpoint.latest(run_dir), gan)
    arrays = gan.generator.get_weights() + gan.discriminator.get_weights()
    if average and gan.ema_generator is not None:
        arrays += gan.ema_generator.get_weights()
    return arrays + [np.asarray(v) for v in gan.g_optimizer.variables + gan.d_optimizer.variables]


def cli_commands() -> dict[tuple[str, ...], object]:
    """Every command and group of the `kgan` app by its words ((), ("train",), ("data", "prepare")…),
    found in the app itself, so a new command is covered without a list to keep."""
    import typer

    from cli.main import app

    found = {}

    def walk(command, words: tuple[str, ...]) -> None:
        found[words] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*words, name))

    walk(typer.main.get_command(app), ())
    return found


def python_env(**extra: str) -> dict[str, str]:
    """The environment of a child Python that imports this checkout."""
    # PYTHONFAULTHANDLER: a child that crashes in native code shows its Python stack in stderr.
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONFAULTHANDLER": "1", **extra}


def kgan(
    *args: str, cwd: Path, env: dict | None = None, timeout: int = 300, max_file_bytes: int | None = None
) -> subprocess.CompletedProcess:
    """`kgan ARGS` in a fresh process, as CI runs it (CI=true: plain output); `max_file_bytes`
    caps the size of any file it writes (RLIMIT_FSIZE: writes beyond it fail with EFBIG)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=python_env(CI="true", **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        preexec_fn=limit if max_file_bytes else None,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit code 2 and exactly one `kgan: error:` line holding every word, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kgan: error:") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that nothing listens on (bound together, so all distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def closed_url(path: str = "") -> str:
    """An http URL on 127.0.0.1 where nobody answers."""
    return f"http://127.0.0.1:{free_ports(1)[0]}{path}"


def start_kgan(*args: str, cwd: Path) -> subprocess.Popen:
    """`kgan ARGS` running in the background (plain output), for signals and concurrency."""
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        env=python_env(CI="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def wait_for_line(process: subprocess.Popen, prefix: str, timeout: float = 180) -> None:
    """Read the process's stdout until a line starts with `prefix`."""
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if line.startswith(prefix):
            return
        assert time.monotonic() < deadline, f"no line starting with {prefix!r} within {timeout:.0f} s"
    raise AssertionError(f"{prefix!r} never came; exit code {process.wait()}: {process.stderr.read()[-2000:]}")
