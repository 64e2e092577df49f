"""Every file and folder kgan writes has the mode the user's umask asks for, as `open()` and
`mkdir()` give: readable by a teammate, TensorBoard or a web server under umask 022,
private under 077. (Atomic writes go through `tempfile`, which alone would give 0600/0700.)"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import python_env
from PIL import Image

TINY = ["--batch-size", "8", "--image-size", "32", "--g-width", "4", "--d-width", "4", "--fid-every", "0"]


# 022, where tempfile's private modes showed; 077 (a private umask kept) with the long tests.
@pytest.mark.parametrize("umask", [0o022, pytest.param(0o077, marks=pytest.mark.slow)])
def test_every_output_honours_the_umask(tmp_path, umask):
    work = tmp_path / "work"
    work.mkdir()
    photos = tmp_path / "photos"  # a user's source folder: only read
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    image = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, strides=2)(image))
    keras.Model(image, features).save(tmp_path / "features.keras")

    def kgan(*args: str) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=work,
            env=python_env(CI="true", KGAN_CACHE_DIR=str(work / "cache"), KGAN_RUNS_DIR=str(work / "runs")),
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: os.umask(umask),
        )
        assert result.returncode == 0, result.stderr[-2000:]

    kgan("data", "synthetic", "--out", "avatars", "--count", "60", "--seed", "2")
    kgan("data", "prepare", str(photos), "--out", "prepared", "--size", "32")
    kgan("train", "--data", "avatars", "--epochs", "1", "--steps-per-epoch", "2", *TINY, "--run-dir", "run")
    kgan("sample", "--run-dir", "run", "--n", "4", "--out", "grid.png", "--individual", "tiles")
    kgan("report", "--run-dir", "run")
    kgan("export", "--run-dir", "run", "--out", "saved_models/generator")
    features = str(tmp_path / "features.keras")
    kgan("fid", "--run-dir", "run", "--features", features, "--samples", "6", "--save-stats", "stats.npz")

    written = list(work.rglob("*"))
    kinds = {path.relative_to(work).parts[0] for path in written}
    assert {"avatars", "prepared", "runs", "run", "grid.png", "tiles", "saved_models", "stats.npz"} <= kinds
    assert (work / "saved_models" / "generator" / "1" / "saved_model.pb").is_file()
    wrong = []
    for path in written:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        if not path.is_symlink() and mode != expected:
            wrong.append(f"{path.relative_to(work)} {oct(mode)} (expected {oct(expected)})")
    assert not wrong, "\n".join(wrong)
