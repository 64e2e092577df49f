"""The training dashboard in a real terminal: `kgan train` under tmux at 80×24 and 160×50,
its screen read back with capture-pane while it runs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT

TINY = "--batch-size 8 --image-size 32 --g-width 4 --d-width 4 --sample-count 16"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")


def watch_training(
    tmp_path: Path,
    width: int,
    height: int,
    flags: str,
    timeout: float = 240,
    keys_when: tuple[str, str] | None = None,
    exit_code: int = 0,
) -> list[str]:
    """Run `kgan train FLAGS` in a width×height tmux window; every screen that stayed unchanged
    over two captures in a row (a capture can fall in the middle of a redraw) until it ends.
    `keys_when` (pattern, keys): type the keys once a screen matches the pattern."""
    socket = f"kgan-test-{os.getpid()}-{width}"
    env = {
        "PYTHONPATH": str(ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KGAN_RUNS_DIR": str(tmp_path / "runs"),
        "KGAN_CACHE_DIR": os.environ.get("KGAN_CACHE_DIR", str(tmp_path / "cache")),
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    kgan = f"env -u CI -u COLUMNS -u LINES {exports} {sys.executable} -m cli.main train {flags}"
    command = f"{kgan}; echo KGAN-EXIT=$?; sleep 600"
    # The pane's shell exports COLUMNS/LINES of the window's first size (tmux's default, resized
    # a moment later), and Rich would keep them: kgan starts once the size is right, without them.
    wait = f'while [ "$(stty size)" != "{height} {width}" ]; do sleep 0.1; done'
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    size = ["-x", str(width), "-y", str(height)]
    subprocess.run([*tmux, "new-session", "-d", *size, f"{wait}; {command}"], check=True, cwd=tmp_path)
    screens: list[str] = []
    previous = ""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout
            if screen == previous and (not screens or screen != screens[-1]):
                screens.append(screen)
            if keys_when and re.search(keys_when[0], screen):
                subprocess.run([*tmux, "send-keys", keys_when[1]], check=True)
                keys_when = None
            previous = screen
            if "KGAN-EXIT=" in screen:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the training in tmux did not end in time:\n" + previous)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert f"KGAN-EXIT={exit_code}" in previous, previous
    return screens


def dashboard_screens(screens: list[str]) -> list[str]:
    """The screens that show the live dashboard whole (its header line still on screen)."""
    return [s for s in screens if "kgan · " in s and "╰" in s and "KGAN-EXIT" not in s]


def epochs_line(screen: str) -> str:
    return next(line for line in screen.splitlines() if line.startswith("epochs"))


@pytest.mark.parametrize(("width", "height"), [(80, 24), pytest.param(160, 50, marks=pytest.mark.slow)])
def test_dashboard_in_a_real_terminal_without_validation_fid(tmp_path, small_dataset, width, height):
    flags = f"--data {small_dataset} --epochs 3 --steps-per-epoch 120 --fid-every 0 {TINY}"
    screens = dashboard_screens(watch_training(tmp_path, width, height, flags))
    assert len(screens) >= 3, "the dashboard was never seen while training"
    for screen in screens:
        lines = screen.splitlines()
        assert len(lines) <= height and max(map(len, lines)) <= width
        assert lines[1].startswith("kgan · ") or lines[0].startswith("kgan · ")  # nothing scrolled away
        # Validation FID off: one line saying why, no panel waiting for it.
        assert "validation FID off: --fid-every 0" in screen and "waiting for the first" not in screen
        assert "losses" in screen and "D(G(z))" in screen and "warnings" in screen
        assert ("fixed-noise samples" in screen) == (width >= 84), screen
    # The epochs bar's ETA: a dash until an epoch has finished, then a time.
    first = [s for s in screens if re.search(r"epochs .* 0/3 ", epochs_line(s))]
    later = [s for s in screens if re.search(r"epochs .* [12]/3 ", epochs_line(s))]
    assert first and all("eta –" in epochs_line(s) for s in first)
    assert later and all(re.search(r"eta \d+:\d\d:\d\d", epochs_line(s)) for s in later)
    if width >= 84:
        assert any("▀" in s for s in later)  # the last epoch's grid, drawn


def test_dashboard_in_a_real_terminal_with_validation_fid(tmp_path, small_dataset):
    import keras

    image = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, strides=2)(image))
    keras.Model(image, features).save(tmp_path / "features.keras")
    flags = f"--data {small_dataset} --epochs 3 --steps-per-epoch 60 --fid-samples 20 {TINY}"
    flags += f" --features {tmp_path / 'features.keras'}"
    screens = dashboard_screens(watch_training(tmp_path, 160, 50, flags))
    assert not any("validation FID off" in screen for screen in screens)
    assert "waiting for the first validation FID" in screens[0]
    scored = [s for s in screens if len(re.findall(r"epoch +\d+ +\d+\.\d{3}", s)) >= 2]  # one line per epoch
    assert scored and all("★ best" in s and "patience left" in s for s in scored)


def test_ctrl_c_in_the_dashboard_says_what_happens_and_stops_with_a_checkpoint(tmp_path, small_dataset):
    flags = f"--data {small_dataset} --epochs 50 --steps-per-epoch 120 --fid-every 0 {TINY} --run-dir run"
    screens = watch_training(tmp_path, 80, 24, flags, keys_when=(r"epochs .* [1-9]/50 ", "C-c"), exit_code=130)
    noticed = [s for s in screens if "⚠ Ctrl-C: stopping after this step" in s]
    assert noticed, "the dashboard never showed that Ctrl-C was noted:\n" + screens[-1]
    said = " ".join(screens[-1].split())  # Rich wraps the closing line at a space
    assert re.search(r"interrupted \(Ctrl-C\) at step \d+; checkpoint step-\d+ saved", said), screens[-1]
    assert "Traceback" not in screens[-1]
