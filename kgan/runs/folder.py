"""One run's folder: where each of its files lives, and how each is read and written.

    config.json        the full TrainConfig (its presence makes a folder a run)
    dataset.json       which prepared dataset and split (path, split id, counts)
    conditions.json    a conditional run's attributes, their values and shares (`Conditions`)
    run.json           status, its details, and one `sessions` entry per training process
    metrics.jsonl      one JSON object per epoch
    evaluations.jsonl  one JSON object per `kgan fid` (or closing evaluation)
    samples/           the fixed-noise grid of each epoch
    checkpoints/       see kgan/training/checkpoint.py
    tensorboard/       TensorBoard's event files
    report/            `kgan report`'s page and plots
    .lock              held by the process training the run

While a process trains a run it holds an OS lock on `.lock` (released by the kernel however
the process ends): one writer per run, and a `running` status whose lock is free means the
process died.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kgan.config import TrainConfig, fields, read_config_file
from kgan.data.attributes import Conditions
from kgan.errors import KganError
from kgan.files import read_json, write_text_atomic


class RunFolder:
    """The files of the run in `path`."""

    CONFIG, DATASET, RECORD = "config.json", "dataset.json", "run.json"
    METRICS, EVALUATIONS, LOCK = "metrics.jsonl", "evaluations.jsonl", ".lock"
    CONDITIONS = "conditions.json"

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def report(self) -> Path:
        return self.path / "report"

    def is_run(self) -> bool:
        """A folder holds a whole run once its config is written (the last file `create_run` writes)."""
        return (self.path / self.CONFIG).is_file()

    # config.json
    def config(self) -> TrainConfig:
        if not self.is_run():
            raise KganError(f"{self.path} is not a kgan run (no config.json): pass the folder `kgan train` created")
        path = self.path / self.CONFIG
        values = read_config_file(path)
        newer = sorted(set(values) - {field.name for field in fields()})
        if newer:  # kgan wrote this file itself, so a key it does not know is one a later version added
            raise KganError(
                f"{path} sets {', '.join(newer)}, which this kgan does not know: the run was made by a newer "
                "kgan; update kgan to open it"
            )
        return TrainConfig.from_dict(values).validate()

    def config_values(self) -> dict[str, Any]:
        """The recorded values as they are, for summaries (no validation; {} when unreadable)."""
        return read_json(self.path / self.CONFIG, {}) or {}

    def save_config(self, config: TrainConfig) -> None:
        config.save(self.path / self.CONFIG)

    # dataset.json
    def dataset_record(self) -> dict[str, Any]:
        return read_json(self.path / self.DATASET, {}) or {}

    def save_dataset_record(self, record: dict[str, Any]) -> None:
        write_text_atomic(self.path / self.DATASET, json.dumps(record, indent=2) + "\n")

    # conditions.json
    def conditions(self) -> Conditions | None:
        """What a conditional run's models take besides z; None for an unconditional run."""
        values = read_json(self.path / self.CONDITIONS, None)
        return Conditions.from_dict(values) if values else None

    def save_conditions(self, conditions: Conditions) -> None:
        write_text_atomic(self.path / self.CONDITIONS, json.dumps(conditions.to_dict(), indent=2) + "\n")

    # run.json
    def record(self) -> dict[str, Any]:
        return read_json(self.path / self.RECORD, {}) or {}

    def update_record(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply `change` to run.json's contents and write it back atomically."""
        info = self.record()
        change(info)
        write_text_atomic(self.path / self.RECORD, json.dumps(info, indent=2, sort_keys=True) + "\n")

    def write_status(self, status: str, **details: Any) -> None:
        self.update_record(lambda info: info.update(status=status, updated=time.time(), **details))

    def record_session(self, origin: dict[str, Any]) -> None:
        """Add a training session's provenance (command, versions, machine…) to `sessions`: one
        entry per process that trained the run, the first one its start."""
        self.update_record(lambda info: info.update(sessions=[*info.get("sessions", []), origin]))

    def status(self) -> str:
        """The run's status; `died` when it says `running` but no process holds its lock."""
        status = self.record().get("status", "unknown")
        return "died" if status == "running" and not self.is_locked() else status

    # metrics.jsonl
    def metrics(self) -> list[dict[str, Any]]:
        return _read_lines(self.path / self.METRICS)

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one epoch's row; rows of epochs that a resume redid are replaced."""
        rows = [r for r in self.metrics() if r.get("epoch") != row.get("epoch")]
        rows.append(row)
        write_text_atomic(self.path / self.METRICS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    # evaluations.jsonl
    def evaluations(self) -> list[dict[str, Any]]:
        return _read_lines(self.path / self.EVALUATIONS)

    def append_evaluation(self, record: dict[str, Any]) -> None:
        """One line appended in one write: evaluations running at once each keep theirs."""
        with open(self.path / self.EVALUATIONS, "a") as log:
            log.write(json.dumps(record) + "\n")

    # .lock
    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Hold the run's lock while training it; a KganError naming the holder if it is taken."""
        handle = open(self.path / self.LOCK, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise KganError(
                f"run {self.path} is being trained by {holder}: wait for it to end, or stop it, before "
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

    def is_locked(self) -> bool:
        """True while some process holds the run's lock (trains it)."""
        path = self.path / self.LOCK
        if not path.is_file():
            return False
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a .jsonl file, skipping a line cut short by a crash."""
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
