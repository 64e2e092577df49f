"""Where kgan keeps things, and the environment variables that move them: declared once,
read by the library and named in the CLI's `--help`."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR_ENV = "KGAN_RUNS_DIR"  # the folder of runs (default: runs/ under the working directory)
CACHE_DIR_ENV = "KGAN_CACHE_DIR"  # downloads, the embedded avatars, statistics, trained features
INCEPTION_ENV = "KGAN_INCEPTION"  # a local copy of the FID Inception
WORKER_TIMEOUT_ENV = "KGAN_WORKER_TIMEOUT"  # seconds a multi-worker run waits for the others
CLUSTER_ENV = "TF_CONFIG"  # TensorFlow's own: the cluster of --strategy multiworker


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


def cache_dir() -> Path:
    """Where downloads, the default synthetic dataset and other caches live."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "kgan")


def inception_override() -> str | None:
    """The local FID Inception the environment names, if any."""
    return os.environ.get(INCEPTION_ENV) or None


def mirror_env(dataset: str) -> str:
    """The variable that points `kgan data fetch DATASET` at a mirror: KGAN_<NAME>_URL."""
    return f"KGAN_{dataset.upper().replace('-', '_')}_URL"
