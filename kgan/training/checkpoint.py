"""Checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint is a directory `checkpoints/step-00001234/` holding the generator, the
discriminator and the EMA generator weights, both optimizers' variables (step count,
moments), and `state.json` (epoch, step, seed). Randomness is a pure function of
(seed, step) — see `data/pipeline.py` — so seed and step are the whole RNG state.
The directory appears under its final name only once every file is written, and
`state.json` records each file's size and SHA-256, so a checkpoint damaged later (a
truncated copy, a bad disk) is recognised and skipped for the previous good one.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kgan.errors import KganError, KganWarning
from kgan.files import atomic_directory, file_sha256, write_text_atomic
from kgan.runs.folder import RunFolder

PREFIX = "step-"
OWN_STATISTICS = "own"  # state.json's ema_statistics: the average's BatchNorm statistics were measured for it


def checkpoint_dir(run_dir: Path) -> Path:
    return RunFolder(run_dir).checkpoints


def name_for(step: int) -> str:
    return f"{PREFIX}{step:08d}"


def save(run_dir: Path, gan, state: dict[str, Any], keep: int = 2, protect: tuple[str, ...] = ()) -> Path:
    """Write a checkpoint of `gan` with `state` (must hold "step"), then prune old ones."""
    final = checkpoint_dir(run_dir) / name_for(state["step"])
    with atomic_directory(final) as tmp:
        gan.generator.save_weights(tmp / "generator.weights.h5")
        gan.discriminator.save_weights(tmp / "discriminator.weights.h5")
        if gan.ema_generator is not None:
            gan.settle_ema()  # its BatchNorm statistics, measured for its own weights
            gan.ema_generator.save_weights(tmp / "ema_generator.weights.h5")
            state = {**state, "ema_statistics": OWN_STATISTICS}
        arrays = {f"g/{i}": np.asarray(v) for i, v in enumerate(gan.g_optimizer.variables)}
        arrays.update({f"d/{i}": np.asarray(v) for i, v in enumerate(gan.d_optimizer.variables)})
        np.savez(tmp / "optimizers.npz", **arrays)
        files = {path.name: [path.stat().st_size, file_sha256(path)] for path in sorted(tmp.iterdir())}
        record = {**state, "saved_at": time.time(), "files": files}
        write_text_atomic(tmp / "state.json", json.dumps(record, indent=2) + "\n")
    record = best(run_dir)
    _prune(run_dir, keep, protect=(final.name, *protect, *([record["checkpoint"]] if record else [])))
    return final


def best(run_dir: Path) -> dict[str, Any] | None:
    """The best checkpoint's record ({"checkpoint", "epoch", "step", "val_fid"}, and with --best-by
    steering "by", "worst_attribute", "worst_accuracy"), if any."""
    path = checkpoint_dir(run_dir) / "best.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if (checkpoint_dir(run_dir) / record.get("checkpoint", "")).is_dir() else None


def mark_best(run_dir: Path, record: dict[str, Any]) -> None:
    write_text_atomic(checkpoint_dir(run_dir) / "best.json", json.dumps(record, indent=2) + "\n")


def candidate(name: str, epoch: int, step: int, val_fid: float, worst: tuple[str, float] | None = None) -> dict:
    """An epoch's checkpoint as a best record; `worst` (its worst-read attribute and share)
    makes it a record of --best-by steering."""
    record = {"checkpoint": name, "epoch": epoch, "step": step, "val_fid": val_fid}
    if worst is not None:
        record.update(by="steering", worst_attribute=worst[0], worst_accuracy=worst[1])
    return record


def better(record: dict[str, Any], incumbent: dict[str, Any] | None, by: str) -> bool:
    """Whether `record` beats the best so far: fid — the lower validation FID; steering — the
    better-read worst attribute (a steered model is as usable as its least obeyed attribute),
    then the lower FID."""
    if incumbent is None:
        return True
    if by == "steering" and incumbent.get("by") == "steering":
        return (-record["worst_accuracy"], record["val_fid"]) < (-incumbent["worst_accuracy"], incumbent["val_fid"])
    return record["val_fid"] < incumbent["val_fid"]


def described(record: dict[str, Any]) -> str:
    """What made a best record the best, e.g. "val FID 16.3" or "worst attribute mouth 80.0%, val FID 23.6"."""
    fid = f"val FID {record['val_fid']:.3f}"
    if record.get("by") == "steering":
        return f"worst attribute {record['worst_attribute']} {100 * record['worst_accuracy']:.1f}%, {fid}"
    return fid


DEFAULT_CHOICE = "best"  # one model everywhere: the grid a user looks at is the one scored and exported
CHOICE_HELP = (
    "best (by validation FID, or as the run's --best-by says; the last when none was recorded), last, "
    "or a checkpoint folder."
)


def chosen(run_dir: Path, choice: str = DEFAULT_CHOICE) -> tuple[Path, dict[str, Any]]:
    """`resolve`, and a record naming what was chosen: name, step, epoch, the validation FID
    it scored (None where none was computed) and the description `resolve` gives."""
    path, description = resolve(run_dir, choice)
    state = read_state(path)
    record = {"name": path.name, "step": state.get("step"), "epoch": state.get("epoch")}
    record.update(val_fid=_val_fid(run_dir, path.name, state), description=description)
    return path, record


def summary(record: dict[str, Any]) -> str:
    """One line for a `chosen` record: how it was chosen, its epoch and step, its val FID."""
    line = f"{record['description']}; epoch {record['epoch']}, step {record['step']}"
    if record.get("val_fid") is not None and "val FID" not in record["description"]:
        line += f", val FID {record['val_fid']:.3f}"
    return line


def _val_fid(run_dir: Path, name: str, state: dict[str, Any]) -> float | None:
    """The validation FID of the weights in checkpoint `name`: the best record's, or that of the
    epoch it ends (a checkpoint within an epoch was never scored)."""

    record = best(run_dir)
    if record and record.get("checkpoint") == name:
        return record.get("val_fid")
    epoch, per_epoch = state.get("epoch"), state.get("steps_per_epoch")
    if epoch is None or not per_epoch or state.get("step") != epoch * per_epoch:
        return None
    rows = [row for row in RunFolder(run_dir).metrics() if row.get("epoch") == epoch]
    return rows[-1].get("val_fid") if rows else None


def resolve(run_dir: Path, choice: str = DEFAULT_CHOICE) -> tuple[Path, str]:
    """A checkpoint by name: "best", "last" or a path; returns (path, description).

    A damaged best or newest checkpoint gives way to the newest good one, with a warning.
    """
    fallback = ""
    if choice == "best":
        record = best(run_dir)
        path = checkpoint_dir(run_dir) / record["checkpoint"] if record else None
        problem = damage(path) if path else None
        if record is not None and problem is None:
            return path, f"best ({record['checkpoint']}, {described(record)})"
        if problem:
            fallback = f" — the best ({path.name}) is damaged, so the last good one"
            warnings.warn(
                f"best checkpoint {path.name} is damaged ({problem}); using the newest good one",
                KganWarning,
                stacklevel=2,
            )
        else:
            fallback = " — no validation FID was recorded, so the last"
        choice = "last"
    if choice == "last":
        path = latest_good(run_dir)
        if path is None:
            raise KganError(
                f"run {run_dir} has no checkpoint yet: train it first (kgan train --resume --run-dir {run_dir})"
            )
        return path, f"last ({path.name}){fallback}"
    path = Path(choice)
    if not (path / "state.json").is_file():
        raise KganError(
            f"--checkpoint {choice} is not a checkpoint folder: use best, last or a checkpoints/step-* folder"
        )
    problem = damage(path)
    if problem:
        raise KganError(f"--checkpoint {choice} is damaged ({problem}): pick another, or best or last")
    return path, str(path)


def damage(path: Path) -> str | None:
    """What is wrong with a checkpoint folder (a file missing, truncated or altered), or None."""
    path = Path(path)
    try:
        state = json.loads((path / "state.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "state.json unreadable"
    expected = state.get("files") or dict.fromkeys(
        ("generator.weights.h5", "discriminator.weights.h5", "optimizers.npz")
    )
    for name, facts in expected.items():
        file = path / name
        if not file.is_file():
            return f"{name} missing"
        if facts is None:
            continue  # a checkpoint from before sizes and hashes were recorded
        size, digest = facts
        if file.stat().st_size != size:
            return f"{name} truncated ({file.stat().st_size} of {size} bytes)"
        if file_sha256(file) != digest:
            return f"{name} altered (checksum differs)"
    return None


def latest_good(run_dir: Path) -> Path | None:
    """The newest undamaged checkpoint; each damaged one skipped on the way is one warning."""
    found = list_checkpoints(run_dir)
    for index in range(len(found) - 1, -1, -1):
        problem = damage(found[index])
        if problem is None:
            return found[index]
        previous = found[index - 1].name if index else None
        fallback = f"falling back to {previous}" if previous else "no earlier checkpoint to fall back to"
        warnings.warn(f"checkpoint {found[index].name} is damaged ({problem}); {fallback}", KganWarning, stacklevel=2)
    if found:
        raise KganError(
            f"every checkpoint of {run_dir} is damaged (see the warnings): restore one from a backup, "
            "or start a new run"
        )
    return None


def _prune(run_dir: Path, keep: int, protect: tuple[str, ...]) -> None:
    """Keep the newest `keep` checkpoints and any protected ones (e.g. the best)."""
    if keep <= 0:
        return
    for old in list_checkpoints(run_dir)[:-keep]:
        if old.name not in protect:
            shutil.rmtree(old, ignore_errors=True)


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.name.startswith(PREFIX) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: p.name)


def latest(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def read_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(path) / "state.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise KganError(f"checkpoint {path} is unreadable ({error}); pick another with --checkpoint") from None


def restore(path: Path, gan, optimizers: bool = True) -> dict[str, Any]:
    """Load a checkpoint into `gan` (built, optimizers built); returns its state."""
    path = Path(path)
    state = read_state(path)
    try:
        gan.generator.load_weights(path / "generator.weights.h5")
        gan.discriminator.load_weights(path / "discriminator.weights.h5")
        if gan.ema_generator is not None:
            ema_file = path / "ema_generator.weights.h5"
            gan.ema_generator.load_weights(ema_file if ema_file.exists() else path / "generator.weights.h5")
        if optimizers:
            with np.load(path / "optimizers.npz") as arrays:
                _assign(gan.g_optimizer.variables, arrays, "g")
                _assign(gan.d_optimizer.variables, arrays, "d")
    except (OSError, ValueError, KeyError) as error:
        raise KganError(
            f"checkpoint {path} does not fit this model ({error}); was it written with another config?"
        ) from None
    return state


def _assign(variables, arrays, prefix: str) -> None:
    stored = sorted((k for k in arrays.files if k.startswith(prefix + "/")), key=lambda k: int(k.split("/")[1]))
    if len(stored) != len(variables):
        raise ValueError(f"{prefix} optimizer has {len(variables)} variables, checkpoint {len(stored)}")
    for variable, key in zip(variables, stored):
        value = arrays[key]
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"optimizer variable {variable.path}: shape {variable.shape} vs {value.shape}")
        variable.assign(value)


def load_generator(path: Path, config, conditions=None) -> Any:
    """The sampling generator of a checkpoint (EMA weights when the run kept them); a
    conditional run's takes [z, codes] (`conditions`: the run's, `RunFolder.conditions`)."""
    from kgan.training.models import build_generator  # here: reading records (`kgan runs`) needs no TensorFlow

    path = Path(path)
    generator = build_generator(config, conditions=conditions)
    ema_file = path / "ema_generator.weights.h5"
    try:
        generator.load_weights(ema_file if ema_file.exists() else path / "generator.weights.h5")
    except (OSError, ValueError) as error:
        raise KganError(f"cannot load the generator from {path} ({error})") from None
    if ema_file.exists() and not _own_statistics(path):  # written before kgan measured them: G's
        from kgan.training import standing_statistics

        standing_statistics.measure(generator, config.z_dim, config.seed, conditions)
    return generator


def _own_statistics(path: Path) -> bool:
    """Whether a checkpoint's moving average was saved with BatchNorm statistics of its own."""
    try:
        return json.loads((path / "state.json").read_text()).get("ema_statistics") == OWN_STATISTICS
    except (OSError, json.JSONDecodeError, AttributeError):
        return False
