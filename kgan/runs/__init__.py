"""Runs: finding, creating and continuing them (`RunFolder` holds one run's files), the runs
table and report page (`report`), and runs side by side (`compare`).

runs/<timestamp>-<variant>/   one run (see `folder`)
runs/latest                   the path of the most recently started run
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from kgan.config import TrainConfig
from kgan.data import attributes
from kgan.data.attributes import Conditions
from kgan.data.dataset import PreparedDataset, Split
from kgan.errors import KganError, KganWarning
from kgan.files import write_text_atomic
from kgan.paths import runs_root
from kgan.runs.folder import RunFolder

RESUME_CHANGES = ("epochs", "time_budget")  # how long a run goes on, never what it computes


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
        if RunFolder(path).is_run():
            return path
    candidates = run_folders(root)
    if candidates:
        return candidates[-1].path
    raise KganError(f"no run found under {root}/: train one with `kgan train` or pass --run-dir")


def run_folders(root: Path | None = None) -> list[RunFolder]:
    """The runs in `root` (default: the runs folder), oldest first; `root` may be one run."""
    root = Path(root or runs_root())
    if RunFolder(root).is_run():
        return [RunFolder(root)]
    return [RunFolder(p.parent) for p in sorted(root.glob(f"*/{RunFolder.CONFIG}"))] if root.is_dir() else []


def resolve_run(run_dir: Path | None) -> Path:
    if run_dir is None:
        return latest_run()
    if not RunFolder(run_dir).is_run():
        raise KganError(f"{run_dir} is not a kgan run (no config.json): pass the folder `kgan train` created")
    return Path(run_dir)


def load_config(run_dir: Path) -> TrainConfig:
    return RunFolder(run_dir).config()


def config_on_resume(run_dir: Path, epochs: int | None = None, time_budget: float | None = None) -> TrainConfig:
    """The run's config, its epoch count and time budget changed (and saved) when given."""
    folder = RunFolder(run_dir)
    config = folder.config()
    changes = {"epochs": epochs, "time_budget": time_budget}
    changes = {name: value for name, value in changes.items() if value is not None and value != getattr(config, name)}
    if changes:
        config = config.with_overrides(**changes).validate()
        folder.save_config(config)
    return config


def create_run(config: TrainConfig, dataset: PreparedDataset, run_dir: Path | None = None) -> Path:
    """Make a run directory holding the config and the dataset reference."""
    config.validate()
    check_image_size(config, dataset)
    conditions = run_conditions(config, dataset)
    if conditions:  # `all` and either spelling of colour, recorded as what they resolve to
        config = config.with_overrides(condition=",".join(conditions.attributes))
    if conditions and config.best_by == "steering":  # checked before anything is written
        from kgan.metrics.steering import check_best_by_steering

        check_best_by_steering(conditions)
    if config.init_from:  # checked before anything is written; kept as an absolute path
        from kgan.training.warm_start import describe_source

        describe_source(config.init_from, config, conditions)
        config = config.with_overrides(init_from=resolved(config.init_from))
    run_dir = Path(run_dir) if run_dir else new_run_dir(config.variant)
    folder = RunFolder(run_dir)
    if folder.is_run():
        raise KganError(f"{run_dir} already holds a run: pass --resume to continue it, or another --run-dir")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise KganError(f"--run-dir {run_dir} is not empty: choose a new folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    folder.save_dataset_record(dataset.describe())
    if conditions:
        folder.save_conditions(conditions)
    folder.write_status("created", created=time.time())
    folder.save_config(config)  # last: a folder with config.json is a whole run
    mark_latest(run_dir)
    return run_dir


def run_conditions(config: TrainConfig, dataset: PreparedDataset) -> Conditions | None:
    """What a run with `--condition` conditions on, checked against the dataset's labels;
    training images without every one of those labels are left out, with a warning."""
    table = dataset.attribute_table()
    chosen = attributes.resolve(table, config.condition, source=f"the dataset at {dataset.folder}")
    if not chosen:
        return None
    rows = dataset.indices(Split.TRAIN)
    labelled = attributes.labelled_rows(table, chosen, rows)
    if not labelled.any():
        raise KganError(f"--condition {','.join(chosen)}: no training image has all of these labels")
    if not labelled.all():
        warnings.warn(
            f"{int((~labelled).sum())} of {len(rows)} training images lack a label for "
            f"{', '.join(chosen)} and are left out of this conditional run",
            KganWarning,
            stacklevel=2,
        )
    return attributes.conditions_for(table, chosen, rows[labelled])


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
    return dataset_of(RunFolder(run_dir).dataset_record())


def resume_conflicts(run_dir: Path, given: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(name, recorded, given) for each value in `given` that differs from the run's config.

    `epochs` and `time_budget` may change on resume and are never a conflict; `data` is
    compared by what it resolves to (the dataset's split), not by how the path is written.
    """
    from kgan.data.default import resolve_dataset

    folder = RunFolder(run_dir)
    recorded = folder.config()
    conflicts = []
    for name, value in given.items():
        if value is None or name in RESUME_CHANGES:
            continue
        if name == "init_from":  # the same source however the path is written
            if value and resolved(value) != recorded.init_from:
                conflicts.append((name, recorded.init_from, value))
            continue
        if name == "condition":  # `all` or either spelling of colour: what it resolves to
            table = run_dataset(run_dir).attribute_table()
            if ",".join(attributes.resolve(table, value)) != recorded.condition:
                conflicts.append((name, recorded.condition, value))
            continue
        if name == "data":
            info = folder.dataset_record()
            if resolve_dataset(value).split_id != info.get("split_id"):
                conflicts.append((name, info.get("path", recorded.data), value))
            continue
        if getattr(recorded, name) != value:
            conflicts.append((name, getattr(recorded, name), value))
    return conflicts


def dataset_of(info: dict[str, Any]) -> PreparedDataset:
    """The prepared dataset a `dataset.json` record names, refused if it is gone or its split
    changed. Reading a record never draws or prepares anything."""
    path = Path(info.get("path") or "")
    if not (path / "manifest.json").is_file():
        raise KganError(
            f"the dataset this run trained on ({path}) is gone: restore it at that path (the embedded avatars "
            "come back into the cache with any `kgan train` on the default data)"
        )
    dataset = PreparedDataset(path)
    if info.get("split_id") and info["split_id"] != dataset.split_id:
        raise KganError(
            f"the dataset at {dataset.folder} changed since this run started (split {dataset.split_id}, "
            f"run used {info['split_id']}): restore it or start a new run"
        )
    return dataset
