"""Faults on purpose or by accident: stop signals, one writer per run, killed runs, damaged checkpoints."""

from __future__ import annotations

import json
import signal
import time

import keras
import numpy as np
import pytest
from helpers import assert_one_line_error, final_weights, kgan, start_kgan, wait_for_line

TINY = ["--batch-size", "8", "--image-size", "32", "--g-width", "4", "--d-width", "4", "--fid-every", "0"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.delenv("KGAN_RUNS_DIR", raising=False)  # runs/ under the working directory
    return tmp_path


def long_run(workdir, small_dataset):
    args = ["train", "--data", str(small_dataset), "--epochs", "5000", *TINY, "--steps-per-epoch", "5"]
    return start_kgan(*args, "--run-dir", "run", cwd=workdir)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, pytest.param(signal.SIGHUP, marks=pytest.mark.slow)])
def test_ctrl_c_sigterm_and_sighup_save_a_checkpoint_and_resume_finishes(workdir, small_dataset, signum):
    process = long_run(workdir, small_dataset)
    try:
        wait_for_line(process, "epoch 2/5000")
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signum, err[-2000:]  # 130, 143, 129
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    assert f"interrupted ({name}) at step" in out and "kgan train --resume --run-dir run" in out
    assert "Traceback" not in err
    run = workdir / "run"
    state = json.loads((run / "run.json").read_text())
    assert state["status"] == "interrupted" and (run / "checkpoints" / f"step-{state['step']:08d}").is_dir()
    assert all(p.name.startswith("step-") for p in (run / "checkpoints").iterdir())  # no temporary folders
    finished = kgan("train", "--resume", "--run-dir", "run", "--epochs", str(state["step"] // 5 + 1), cwd=workdir)
    assert finished.returncode == 0, finished.stderr
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_one_writer_per_run_and_a_killed_run_shows_as_died(workdir, small_dataset):
    process = long_run(workdir, small_dataset)
    try:
        wait_for_line(process, "epoch 1/5000")
        second = kgan("train", "--resume", "--run-dir", "run", "--epochs", "3", cwd=workdir)
        assert_one_line_error(second, "is being trained by", f"pid {process.pid}", "host")
        listed = json.loads(kgan("runs", "--json", "--root", "run/..", cwd=workdir).stdout)
        assert [row["status"] for row in listed] == ["running"]
        process.kill()  # SIGKILL: no handler runs, run.json still says running
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert json.loads((workdir / "run" / "run.json").read_text())["status"] == "running"
    listed = json.loads(kgan("runs", "--json", "--root", ".", cwd=workdir).stdout)
    assert [row["status"] for row in listed] == ["died"]
    resumed = kgan("train", "--resume", "--run-dir", "run", "--epochs", "3", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((workdir / "run" / "run.json").read_text())["status"] == "finished"


def test_commands_fall_back_from_a_damaged_checkpoint_with_one_warning(workdir, small_dataset):
    trained = kgan("train", "--data", str(small_dataset), "--epochs", "2", *TINY, "--steps-per-epoch", "2", cwd=workdir)
    assert trained.returncode == 0, trained.stderr
    run = next((workdir / "runs").glob("*-dcgan"))
    newest = run / "checkpoints" / "step-00000004"
    (newest / "generator.weights.h5").write_bytes(b"not hdf5 any more")
    for command in (["sample", "--n", "4", "--out", "grid.png"], ["export", "--out", "exported"]):
        result = kgan(*command, cwd=workdir)
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("kgan: warning:")]
        assert len(warnings) == 1 and "step-00000004 is damaged" in warnings[0] and "step-00000002" in warnings[0]
        assert "Traceback" not in result.stderr
    explicit = kgan("sample", "--checkpoint", str(newest), cwd=workdir)
    assert_one_line_error(explicit, "is damaged", "generator.weights.h5")


def leftovers(folder) -> list[str]:
    """Temporary files or folders that an interrupted atomic write would leave."""
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name.split(".")]


def test_full_disk_and_bad_paths_are_one_line_and_leave_nothing_half_written(workdir, small_dataset):
    (workdir / "a_file").write_text("not a folder")
    bad_parent = kgan("data", "synthetic", "--out", "a_file/avatars", "--count", "20", cwd=workdir)
    assert_one_line_error(bad_parent, "a_file")
    # A file-size limit (EFBIG, like a full disk for the one file that crosses it):
    drawn = kgan("data", "synthetic", "--out", "big", "--count", "200", cwd=workdir, max_file_bytes=1 << 20)
    assert_one_line_error(drawn, "too large")
    assert not (workdir / "big").exists() and not leftovers(workdir)
    first = kgan(
        "train",
        "--data",
        str(small_dataset),
        "--epochs",
        "1",
        *TINY,
        "--steps-per-epoch",
        "1",
        "--run-dir",
        "run",
        cwd=workdir,
    )
    assert first.returncode == 0, first.stderr
    capped = kgan("train", "--resume", "--run-dir", "run", "--epochs", "2", cwd=workdir, max_file_bytes=100_000)
    assert_one_line_error(capped, "too large")
    assert [p.name for p in (workdir / "run" / "checkpoints").iterdir()] == ["step-00000001"]
    assert json.loads((workdir / "run" / "run.json").read_text())["status"] == "failed"
    exported = kgan("export", "--run-dir", "run", "--out", "models", cwd=workdir, max_file_bytes=100_000)
    assert_one_line_error(exported, "too large")
    assert not list((workdir / "models").glob("*")) if (workdir / "models").exists() else True
    assert kgan("train", "--resume", "--run-dir", "run", "--epochs", "2", cwd=workdir).returncode == 0


def train_to_the_end(workdir, run: str, epochs: int) -> None:
    """`kgan train --resume` until the run is finished (each attempt must succeed)."""
    result = kgan("train", "--resume", "--run-dir", run, "--epochs", str(epochs), cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((workdir / run / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_killed_and_stopped_runs_resume_to_the_straight_runs_weights(workdir, small_dataset, tmp_path):
    # Validation FID on (a small local feature model) so that kills land in evaluations too.
    image = keras.Input((32, 32, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, strides=2)(image))
    model_path = tmp_path / "features.keras"
    keras.Model(image, features).save(model_path)
    epochs = 4
    args = ["train", "--data", str(small_dataset), *TINY[:-2], "--fid-samples", "16", "--features", str(model_path)]
    args += ["--steps-per-epoch", "3", "--deterministic", "--patience", "0", "--epochs", str(epochs)]
    straight = kgan(*args, "--run-dir", "straight", cwd=workdir)
    assert straight.returncode == 0, straight.stderr[-2000:]
    expected = final_weights(workdir / "straight")
    rng = np.random.default_rng(2026)
    kills = resumed_equal = 0
    for attempt in range(10):  # SIGKILL at seeded random moments, incl. inside a checkpoint write
        run = f"killed-{attempt}"
        process = start_kgan(*args, "--run-dir", run, cwd=workdir)
        if attempt % 3 == 0:  # the moment a checkpoint's temporary folder appears
            deadline = time.monotonic() + 120
            while not list((workdir / run / "checkpoints").glob(".step-*.tmp")) and process.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.005)
        else:
            time.sleep(rng.uniform(4.0, 12.0))
        process.kill()
        process.communicate(timeout=60)
        kills += 1
        if not (workdir / run / "config.json").exists():
            continue  # killed before the run existed: nothing to resume
        train_to_the_end(workdir, run, epochs)
        for a, b in zip(expected, final_weights(workdir / run), strict=True):
            np.testing.assert_array_equal(a, b)
        resumed_equal += 1
        assert not list((workdir / run).rglob("*.tmp"))  # the killed write was tidied away
    for attempt, signum in enumerate((signal.SIGTERM, signal.SIGTERM, signal.SIGHUP)):
        run = f"stopped-{attempt}"
        process = start_kgan(*args, "--run-dir", run, cwd=workdir)
        wait_for_line(process, f"epoch {attempt + 1}/{epochs}")
        process.send_signal(signum)
        process.communicate(timeout=120)
        assert process.returncode == 128 + signum
        assert json.loads((workdir / run / "run.json").read_text())["status"] == "interrupted"
        train_to_the_end(workdir, run, epochs)
        for a, b in zip(expected, final_weights(workdir / run), strict=True):
            np.testing.assert_array_equal(a, b)
    print(f"kills {kills}, resumed equal {resumed_equal}, signals 3")
    assert kills == 10 and resumed_equal >= 8


@pytest.mark.slow
def test_killed_data_and_export_writes_leave_no_partial_output(workdir, small_dataset):
    # Enough avatars to be killed long before the end, on a fast machine too.
    process = start_kgan("data", "synthetic", "--out", "avatars", "--count", "20000", cwd=workdir)
    deadline = time.monotonic() + 120
    while not list(workdir.glob(".avatars.*.tmp")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.01)
    time.sleep(0.5)
    process.kill()
    process.communicate(timeout=60)
    assert not (workdir / "avatars").exists()
    again = kgan("data", "synthetic", "--out", "avatars", "--count", "100", cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["avatars"]  # the killed attempt's folder is gone
    trained = kgan("train", "--data", "avatars", "--epochs", "1", *TINY, "--steps-per-epoch", "1", cwd=workdir)
    assert trained.returncode == 0, trained.stderr
    process = start_kgan("export", "--out", "models", cwd=workdir)
    while not list((workdir / "models").glob(".1.*.tmp")) if (workdir / "models").exists() else True:
        assert time.monotonic() < deadline + 120 and process.poll() is None
        time.sleep(0.01)
    process.kill()
    process.communicate(timeout=60)
    assert not (workdir / "models" / "1").exists()
    exported = kgan("export", "--out", "models", cwd=workdir)
    assert exported.returncode == 0, exported.stderr
    assert sorted(p.name for p in (workdir / "models").iterdir()) == ["1"]


def test_ctrl_c_while_drawing_stops_its_worker_processes_quietly_and_leaves_nothing(tmp_path):
    """Ctrl-C in a terminal signals the whole process group: the attribute-drawing processes
    must not print tracebacks, the parent must stop them and its drawing threads at once,
    and no partial dataset may remain."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from helpers import python_env

    command = [sys.executable, "-m", "cli.main", "data", "synthetic", "--out", "avatars", "--count", "60000"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=python_env(CI="true"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    children_file = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 60
    children: list[int] = []
    while len(children) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        children = [int(pid) for pid in children_file.read_text().split()]
    assert len(children) >= 2, "the worker processes never started"
    time.sleep(1)  # mid-drawing
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
    try:
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no dataset, no temporary folder
    for child in children:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker process {child} still runs")
