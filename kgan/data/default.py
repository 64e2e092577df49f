"""`--data synthetic`: the embedded default dataset, drawn once and cached."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from kgan.data import synthetic
from kgan.data.dataset import PreparedDataset
from kgan.errors import KganError
from kgan.files import exclusive
from kgan.paths import cache_dir

DEFAULT_COUNT = 12_000
DEFAULT_SEED = 0


def default_synthetic_path() -> Path:
    """Keyed on the drawing's version: avatars drawn by an older kgan are not today's."""
    return cache_dir() / f"synthetic-{DEFAULT_COUNT}-seed{DEFAULT_SEED}-v{synthetic.GENERATOR_VERSION}"


def must_draw(data: str | Path) -> bool:
    """Whether `resolve_dataset(data)` will draw the default dataset first."""
    folder = default_synthetic_path()
    whole = (folder / "manifest.json").is_file() and (folder / "images.npy").is_file()
    return str(data) == "synthetic" and not whole


def resolve_dataset(data: str | Path, progress: Callable[[int], None] | None = None) -> PreparedDataset:
    """A prepared dataset from `--data`: "synthetic" (cached default copy) or a folder."""
    if str(data) == "synthetic":
        path = default_synthetic_path()
        if must_draw(data):
            # Two runs started at once would each draw it, and each tidy the other's half-drawn copy away.
            with exclusive(path.with_name(f".{path.name}.lock")):
                if must_draw(data):  # drawn by another process while this one waited
                    if path.exists():  # a copy cut short by an older race: kgan's own cache, drawn again
                        shutil.rmtree(path)
                    synthetic.write_synthetic(path, DEFAULT_COUNT, DEFAULT_SEED, progress=progress)
        return PreparedDataset(path)
    path = Path(data)
    if not path.exists():
        raise KganError(
            f"--data {path} does not exist: give a prepared dataset folder (`kgan data prepare`) or 'synthetic'"
        )
    return PreparedDataset(path)
