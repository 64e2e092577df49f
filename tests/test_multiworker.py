"""Two worker processes on 127.0.0.1 training one run with MultiWorkerMirroredStrategy."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import free_ports, python_env

from kgan.files import read_json
from kgan.runs.folder import RunFolder
from kgan.training import checkpoint
from kgan.training.signals import StopFlag

HERE = Path(__file__).resolve().parent


def start_workers(
    tmp_path: Path,
    data: Path,
    epochs: int,
    timeout: float,
    scores: str | None = None,
    run_dirs: tuple[str, str] = ("run", "run"),
    **env: str,
) -> list[subprocess.Popen]:
    """Two worker processes; worker i trains with `tmp_path / run_dirs[i]` as its run folder;
    `env` is added to both's environment."""
    extra = env
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        task = {"type": "worker", "index": index}
        env = python_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": task}), **extra)
        command = [
            sys.executable,
            str(HERE / "multiworker_worker.py"),
            str(tmp_path / run_dirs[index]),
            str(data),
            str(tmp_path / f"weights-{index}.npz"),
            str(epochs),
            str(timeout),
            *([scores] if scores else []),
        ]
        processes.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
            )
        )
    return processes


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def finish(processes: list[subprocess.Popen], code: int, says: str, timeout: float = 300) -> list[str]:
    """Wait for every worker; each must exit with `code` and print `says`. Their outputs."""
    try:
        outputs = [process.communicate(timeout=timeout) for process in processes]
    finally:
        stop(processes)
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == code, err[-3000:]
        assert says in out, out
    return [out for out, _ in outputs]


def assert_same_weights(tmp_path: Path) -> None:
    first, second = np.load(tmp_path / "weights-0.npz"), np.load(tmp_path / "weights-1.npz")
    assert len(first.files) == len(second.files) > 0
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])


@pytest.mark.slow
def test_two_workers_train_identically_and_only_the_chief_writes(tmp_path, small_dataset):
    finish(start_workers(tmp_path, small_dataset, epochs=2, timeout=60), 0, "finished 6")
    assert_same_weights(tmp_path)
    run = tmp_path / "run"
    assert [row["epoch"] for row in RunFolder(run).metrics()] == [1, 2]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000003", "step-00000006"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch-0001.png", "epoch-0002.png"]
    assert RunFolder(run).record()["status"] == "finished"


@pytest.mark.slow
def test_workers_need_no_shared_filesystem(tmp_path, small_dataset):
    # Worker 1's run folder is a different directory: it takes the run from the chief over the
    # collectives (config, weights, validation scores) and writes nothing of its own.
    processes = start_workers(
        tmp_path, small_dataset, epochs=3, timeout=60, scores="5,4,6", run_dirs=("chief-run", "elsewhere")
    )
    finish(processes, 0, "finished 9")
    assert_same_weights(tmp_path)
    assert not (tmp_path / "elsewhere").exists()
    run = tmp_path / "chief-run"
    assert [row["val_fid"] for row in RunFolder(run).metrics()] == [5, 4, 6]
    assert read_json(run / "checkpoints" / "best.json")["epoch"] == 2
    # Resumed on both, the other worker gets the chief's checkpoint and best record: a score of 7
    # at epoch 4 is two epochs after the best (4, epoch 2), so every worker stops early.
    processes = start_workers(
        tmp_path, small_dataset, epochs=4, timeout=60, scores="7", run_dirs=("chief-run", "elsewhere")
    )
    finish(processes, 0, "stopped_early 12 stopped early at epoch 4")
    assert_same_weights(tmp_path)
    assert [row["best_epoch"] for row in RunFolder(run).metrics()] == [1, 2, 2, 2]
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.slow
def test_a_steered_run_trains_on_workers_that_share_no_filesystem(tmp_path, small_dataset):
    """The other worker has no run folder to read the attributes from: the chief sends them,
    so every worker builds the same steered models and trains the same labelled batches."""
    processes = start_workers(
        tmp_path,
        small_dataset,
        epochs=2,
        timeout=60,
        run_dirs=("chief-run", "elsewhere"),
        KGAN_TEST_CONDITION="hair_colour,background",
    )
    finish(processes, 0, "finished 6")
    assert_same_weights(tmp_path)
    assert not (tmp_path / "elsewhere").exists()
    run = RunFolder(tmp_path / "chief-run")
    assert run.conditions().attributes == ("hair_colour", "background")
    assert all("g_attributes" in row for row in run.metrics())


@pytest.mark.slow
def test_workers_keep_the_best_checkpoint_by_steering_that_the_chief_reads(tmp_path, small_dataset):
    """Only the chief reads the attributes back; every worker keeps the best it chose and
    stops early at the same step."""
    processes = start_workers(
        tmp_path,
        small_dataset,
        epochs=6,
        timeout=60,
        scores="5,4,6,7,8,9",
        KGAN_TEST_CONDITION="hair_colour,background",
        KGAN_TEST_BEST_BY="steering",
    )
    outputs = finish(processes, 0, " ")
    assert len({tuple(out.split()[2:4]) for out in outputs}) == 1  # the same status and last step
    assert_same_weights(tmp_path)
    rows = RunFolder(tmp_path / "run").metrics()
    chosen = min(rows, key=lambda r: (-min(r["attribute_accuracy"].values()), r["val_fid"]))
    record = checkpoint.best(tmp_path / "run")
    assert record["by"] == "steering" and record["epoch"] == chosen["epoch"]
    stopped = rows[-1]["epoch"]
    assert stopped == 6 or stopped == record["epoch"] + 2  # patience 2


@pytest.mark.slow
def test_a_dead_worker_stops_the_other_with_a_clear_error(tmp_path, small_dataset):
    processes = start_workers(tmp_path, small_dataset, epochs=5000, timeout=10)
    try:
        wait_for_first_epoch(tmp_path / "run", processes)
        processes[1].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        out, err = processes[0].communicate(timeout=180)
        waited = time.monotonic() - killed_at
    finally:
        stop(processes)
    assert processes[0].returncode == 3, err[-3000:]
    assert "lost contact with another worker" in out, out
    assert waited < 120
    assert RunFolder(tmp_path / "run").record()["status"] == "failed"


def wait_for_first_epoch(run: Path, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + 240
    while not RunFolder(run).metrics():
        assert time.monotonic() < deadline and processes[0].poll() is None, processes[0].stderr.read()[-3000:]
        time.sleep(0.5)


@pytest.mark.slow
def test_ctrl_c_on_one_worker_stops_every_worker_at_the_same_step_and_resumes(tmp_path, small_dataset):
    run = tmp_path / "run"
    processes = start_workers(tmp_path, small_dataset, epochs=5000, timeout=60)
    try:
        wait_for_first_epoch(run, processes)
        processes[1].send_signal(signal.SIGINT)  # the non-chief: the chief must still save the checkpoint
    except BaseException:
        stop(processes)
        raise
    outputs = finish(processes, 130, "interrupted", timeout=120)
    steps = [int(out.split("interrupted ")[1].split()[0]) for out in outputs]
    assert steps[0] == steps[1] > 0
    assert (run / "checkpoints" / f"step-{steps[0]:08d}").is_dir()
    assert RunFolder(run).record()["status"] == "interrupted"
    # Every worker restarted on the run finishes it from the saved step.
    epochs = steps[0] // 3 + 2
    finish(start_workers(tmp_path, small_dataset, epochs=epochs, timeout=60), 0, f"finished {epochs * 3}")
    assert RunFolder(run).record()["status"] == "finished"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ("oom", "out of memory at step 4 (OOM when allocating"),
        ("disk", "metrics.jsonl: No space left on device (free some space"),
    ],
)
def test_a_fault_is_named_where_it_happened_and_the_other_worker_reports_losing_it(
    tmp_path, small_dataset, fault, says
):
    processes = start_workers(tmp_path, small_dataset, 3, timeout=15, KGAN_TEST_FAULT=f"{fault}:4:0")
    try:
        outputs = [process.communicate(timeout=300) for process in processes]
    finally:
        stop(processes)
    (chief, chief_err), (other, _) = outputs
    assert [process.returncode for process in processes] == [3, 3], chief_err[-3000:]
    assert chief.startswith("worker 0 failed 4 ") and says in chief and "\n" not in chief.strip(), chief
    assert "Traceback" not in chief_err
    assert "lost contact with another worker" in other and "--resume" in other, other
    record = RunFolder(tmp_path / "run").record()
    assert record["status"] == "failed" and says in record["reason"]
    if fault == "oom":  # the progress since the epoch's checkpoint is saved
        assert "checkpoint step-00000004 saved" in chief


@pytest.mark.slow
def test_early_stopping_on_the_chief_stops_every_worker(tmp_path, small_dataset):
    # Validation scores 5, 4, 6, 7 with patience 2: the best is epoch 2, the stop comes after epoch 4.
    processes = start_workers(tmp_path, small_dataset, epochs=8, timeout=60, scores="5,4,6,7,8,9,9,9")
    finish(processes, 0, "stopped_early 12 stopped early at epoch 4")
    run = tmp_path / "run"
    assert [row["val_fid"] for row in RunFolder(run).metrics()] == [5, 4, 6, 7]
    assert read_json(run / "checkpoints" / "best.json")["epoch"] == 2
    assert RunFolder(run).record()["status"] == "stopped_early"
    assert_same_weights(tmp_path)


def test_stop_flag_then_a_second_ctrl_c_quits_at_once():
    said = []
    before = signal.getsignal(signal.SIGINT)
    with StopFlag(said.append, "every worker stops at the next check") as flag:
        assert signal.getsignal(signal.SIGINT) != before
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the handler runs between bytecodes of the main thread
        assert flag.raised and len(said) == 1 and "next check" in said[0]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
    assert signal.getsignal(signal.SIGINT) == before
    with StopFlag() as flag:  # SIGTERM (a scheduler, `docker stop`) is a stop signal too
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        assert flag.signum == signal.SIGTERM
