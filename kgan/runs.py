"""Run directories: where a run's config, checkpoints, samples and metrics live.

runs/<timestamp>-<variant>/
    config.json      the full TrainConfig
    dataset.json     which prepared dataset and split (path, split id, counts)
    run.json         status (running / finished / interrupted / failed / stopped) and notes
    metrics.jsonl    one JSON object per epoch
    samples/         fixed-noise grid per epoch
    checkpoints/     see training/checkpoint.py
runs/latest          path of the most recently started run

While a process trains a run it holds an OS lock on `<run>/.lock` (released by the kernel
however the process ends): one writer per run, and a `running` status whose lock is free
means the process died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kgan.config import TrainConfig
from kgan.data.dataset import PreparedDataset
from kgan.data.default import resolve_dataset
from kgan.errors import KganError, KganWarning
from kgan.files import write_text_atomic


def runs_root() -> Path:
    return Path(os.environ.get("KGAN_RUNS_DIR") or "runs")


def new_run_dir(variant: str, root: Path | None = None) -> Path:
    root = Path(root or runs_root())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, suffix = root / f"{stamp}-{variant}", 1
    while candidate.exists():
        suffix += 1
        candidate = root / f"{stamp}-{variant}-{suffix}"
    return candidate


def mark_latest(run_dir: Path, root: Path | None = None) -> None:
    root = Path(root or runs_root())
    write_text_atomic(root / "latest", str(Path(run_dir).resolve()) + "\n")


def latest_run(root: Path | None = None) -> Path:
    """The most recently started run, or a KganError saying how to make one."""
    root = Path(root or runs_root())
    pointer = root / "latest"
    if pointer.is_file():
        path = Path(pointer.read_text().strip())
        if (path / "config.json").is_file():
            return path
    candidates = sorted(p for p in root.glob("*/config.json")) if root.is_dir() else []
    if candidates:
        return candidates[-1].parent
    raise KganError(f"no run found under {root}/: train one with `kgan train` or pass --run-dir")


def resolve_run(run_dir: Path | None) -> Path:
    if run_dir is None:
        return latest_run()
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise KganError(f"{run_dir} is not a kgan run (no config.json): pass the folder `kgan train` created")
    return run_dir


def load_config(run_dir: Path) -> TrainConfig:
    return TrainConfig.load(Path(run_dir) / "config.json")


RESUME_CHANGES = ("epochs", "time_budget")  # how long a run goes on, never what it computes


def config_on_resume(run_dir: Path, epochs: int | None = None, time_budget: float | None = None) -> TrainConfig:
    """The run's config, its epoch count and time budget changed (and saved) when given."""
    config = load_config(run_dir)
    changes = {"epochs": epochs, "time_budget": time_budget}
    changes = {name: value for name, value in changes.items() if value is not None and value != getattr(config, name)}
    if changes:
        config = config.with_overrides(**changes).validate()
        config.save(Path(run_dir) / "config.json")
    return config


def create_run(config: TrainConfig, dataset: PreparedDataset, run_dir: Path | None = None) -> Path:
    """Make a run directory holding the config and the dataset reference."""
    config.validate()
    check_image_size(config, dataset)
    if config.init_from:  # checked before anything is written; kept as an absolute path
        from kgan.training.warm_start import describe_source

        describe_source(config.init_from, config)
        config = config.with_overrides(init_from=resolved(config.init_from))
    run_dir = Path(run_dir) if run_dir else new_run_dir(config.variant)
    if (run_dir / "config.json").exists():
        raise KganError(f"{run_dir} already holds a run: pass --resume to continue it, or another --run-dir")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise KganError(f"--run-dir {run_dir} is not empty: choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "dataset.json", json.dumps(dataset.describe(), indent=2) + "\n")
    write_status(run_dir, "created", created=time.time())
    config.save(run_dir / "config.json")  # last: a folder with config.json is a whole run
    mark_latest(run_dir)
    return run_dir


def resolved(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def check_image_size(config: TrainConfig, dataset: PreparedDataset) -> None:
    """A model larger than the stored images would learn enlarged, blurry images: refused
    unless asked for (`allow_upsample`), and then a warning."""
    if config.image_size <= dataset.image_size:
        return
    size, stored = config.image_size, dataset.image_size
    if not config.allow_upsample:
        raise KganError(
            f"--image-size {size} is larger than the data's {stored} px: prepare the data at that size "
            f"(kgan data prepare SOURCE --size {size} --out DIR), or pass --allow-upsample to enlarge every image"
        )
    warnings.warn(
        f"training at {size} px on {stored}-px images: every image is enlarged (blurry)", KganWarning, stacklevel=2
    )


def run_dataset(run_dir: Path) -> PreparedDataset:
    """The run's dataset, checked to be the very split the run started with."""
    return dataset_of(read_json(Path(run_dir) / "dataset.json") or {})


def resume_conflicts(run_dir: Path, given: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(name, recorded, given) for each value in `given` that differs from the run's config.

    `epochs` and `time_budget` may change on resume and are never a conflict; `data` is
    compared by what it resolves to (the dataset's split), not by how the path is written.
    """
    recorded = load_config(run_dir)
    conflicts = []
    for name, value in given.items():
        if value is None or name in RESUME_CHANGES:
            continue
        if name == "init_from":  # the same source however the path is written
            if value and resolved(value) != recorded.init_from:
                conflicts.append((name, recorded.init_from, value))
            continue
        if name == "data":
            info = read_json(Path(run_dir) / "dataset.json") or {}
            if resolve_dataset(value).split_id != info.get("split_id"):
                conflicts.append((name, info.get("path", recorded.data), value))
            continue
        if getattr(recorded, name) != value:
            conflicts.append((name, getattr(recorded, name), value))
    return conflicts


def dataset_of(info: dict[str, Any]) -> PreparedDataset:
    """The prepared dataset a `dataset.json` record names, refused if its split changed."""
    dataset = resolve_dataset(info.get("path", "synthetic"))
    if info.get("split_id") and info["split_id"] != dataset.split_id:
        raise KganError(
            f"the dataset at {dataset.folder} changed since this run started (split {dataset.split_id}, "
            f"run used {info['split_id']}): restore it or start a new run"
        )
    return dataset


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return default


def _update_record(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply `change` to run.json's contents and write it back atomically."""
    info = read_json(Path(run_dir) / "run.json", {}) or {}
    change(info)
    write_text_atomic(Path(run_dir) / "run.json", json.dumps(info, indent=2, sort_keys=True) + "\n")


def write_status(run_dir: Path, status: str, **details: Any) -> None:
    _update_record(run_dir, lambda info: info.update(status=status, updated=time.time(), **details))


def record_session(run_dir: Path, origin: dict[str, Any]) -> None:
    """Add a training session's provenance (command, versions, machine…) to run.json's
    `sessions`: one entry per process that trained the run, the first one its start."""
    _update_record(run_dir, lambda info: info.update(sessions=[*info.get("sessions", []), origin]))


def append_metrics(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one JSON line; lines from epochs that a resume redid are replaced."""
    path = Path(run_dir) / "metrics.jsonl"
    rows = [r for r in read_metrics(run_dir) if r.get("epoch") != row.get("epoch")]
    rows.append(row)
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def elapsed_by_epoch(rows: list[dict[str, Any]]) -> dict[int, float]:
    """Seconds of training and validation from a run's start to the end of each epoch, across
    resumes (rows from before `elapsed_seconds` was recorded count their own times)."""
    total, out = 0.0, {}
    for row in sorted(rows, key=lambda r: r["epoch"]):
        recorded = row.get("elapsed_seconds")
        total = float(recorded) if isinstance(recorded, int | float) else total + epoch_cost(row)
        out[row["epoch"]] = total
    return out


def epoch_cost(row: dict[str, Any]) -> float:
    """Seconds one epoch took: its training and its validation."""
    return float(row.get("seconds") or 0) + float(row.get("fid_seconds") or 0)


def out_of_time(rows: list[dict[str, Any]], minutes: float) -> bool:
    """Whether another epoch as long as the last one would overrun a budget of `minutes`."""
    if not minutes or not rows:
        return False
    last = max(rows, key=lambda r: r["epoch"])
    return elapsed_by_epoch(rows)[last["epoch"]] + epoch_cost(last) > minutes * 60


LOCK_FILE = ".lock"


@contextlib.contextmanager
def writer_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock while training it; a KganError naming the holder if it is taken."""
    path = Path(run_dir) / LOCK_FILE
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise KganError(
            f"run {run_dir} is being trained by {holder}: wait for it to end, or stop it, before "
            "training this run again"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on host {socket.gethostname()}\n")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def is_locked(run_dir: Path) -> bool:
    """True while some process holds the run's lock (trains it)."""
    path = Path(run_dir) / LOCK_FILE
    if not path.is_file():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def status_of(run_dir: Path) -> str:
    """The run's status; `died` when it says `running` but no process holds its lock."""
    status = (read_json(Path(run_dir) / "run.json", {}) or {}).get("status", "unknown")
    return "died" if status == "running" and not is_locked(run_dir) else status
