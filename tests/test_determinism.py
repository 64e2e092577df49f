"""Same seed, same machine → the same weights, bit for bit: separate `kgan train` processes,
straight against resumed, at the sizes users train; and the fixed-order gradient sums that
make it so (`kgan/training/gradient_sums.py`), checked in the graph TensorFlow really runs."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers import final_weights, kgan, start_kgan, tiny_config, wait_for_line
from PIL import Image
from tensorflow.python.eager import context

from kgan.data import synthetic
from kgan.training import gradient_sums, runtime
from kgan.training.session import build_gan


def _largest_sum(graph_def) -> tuple[int, int]:
    """(most inputs of one AddN, number of AddN/AddV2 nodes) over a graph and its functions."""
    nodes = list(graph_def.node) + [node for function in graph_def.library.function for node in function.node_def]
    widest = max((sum(not i.startswith("^") for i in n.input) for n in nodes if n.op.endswith("AddN")), default=0)
    return widest, sum(n.op.endswith(("AddN", "AddV2")) for n in nodes)


@pytest.mark.parametrize(("variant", "steered"), [("dcgan", False), ("wgangp", False), ("wgangp", True)])
def test_the_train_step_tensorflow_runs_sums_no_more_than_two_gradients_at_once(variant, steered, small_dataset):
    # AddN of three or more inputs sums them in an order that depends on which op finished
    # last (it accumulates into a reusable input buffer), so its float result varies.
    # Steered: the attribute embeddings' gradients come from real, fake, penalty and G paths.
    runtime.configure()
    assert gradient_sums.installed()
    conditions = None
    if steered:
        from kgan import runs
        from kgan.data.dataset import PreparedDataset

        conditions = runs.run_conditions(tiny_config(condition="all"), PreparedDataset(small_dataset))
    gan = build_gan(tiny_config(variant=variant, n_critic=2), conditions=conditions)
    batch = 2 * 8
    data = {
        "real": tf.random.stateless_uniform([batch, 32, 32, 3], seed=[1, 2], minval=-1, maxval=1),
        "z": tf.random.stateless_normal([batch, 8], seed=[1, 3]),
        "alpha": tf.random.stateless_uniform([batch, 1, 1, 1], seed=[1, 4]),
    }
    if conditions is not None:
        data["labels"] = tf.constant(conditions.draw(batch, np.random.default_rng(0)))
    step = tf.function(gan.train_step)
    context.enable_run_metadata()  # the graphs after Grappler, as they execute
    try:
        step(data)
        metadata = context.export_run_metadata()
    finally:
        context.disable_run_metadata()
    graphs = [g.post_optimization_graph for g in metadata.function_graphs]
    assert graphs, "TensorFlow reported no function graph"
    widest = max(_largest_sum(graph)[0] for graph in graphs)
    sums = sum(_largest_sum(graph)[1] for graph in graphs)
    assert sums > 0  # the gradient sums are there, as two-term adds
    assert widest <= 2, f"an AddN of {widest} inputs in the optimized train step"


def _train(workdir, run: str, variant: str, epochs: int, *extra: str) -> subprocess.Popen:
    args = ["train", "--variant", variant, "--data", "data600", "--epochs", str(epochs)]
    return start_kgan(
        *args, "--batch-size", "32", "--seed", "7", "--fid-every", "0", "--run-dir", run, *extra, cwd=workdir
    )


def _finish(process: subprocess.Popen) -> None:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-2000:]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder holding the issue's data: 600 synthetic avatars, drawing seed 1."""
    folder = tmp_path_factory.mktemp("determinism")
    drawn = kgan("data", "synthetic", "--out", "data600", "--count", "600", "--seed", "1", cwd=folder)
    assert drawn.returncode == 0, drawn.stderr
    return folder


def _same_training(workdir, first: str, second: str, average: bool = False) -> None:
    """G, D, their optimizers (with `average`, G's moving average) and every epoch's losses
    equal, bit for bit."""
    weights = [final_weights(workdir / run, average=average) for run in (first, second)]
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
    losses = [
        [row["d_loss"] for row in map(json.loads, (workdir / run / "metrics.jsonl").open())] for run in (first, second)
    ]
    assert losses[0] == losses[1]


def _same_run(workdir, first: str, second: str) -> None:
    """The same training and the same images drawn from it."""
    _same_training(workdir, first, second)
    grids = [np.asarray(Image.open(workdir / run / "samples" / "epoch-0002.png")) for run in (first, second)]
    np.testing.assert_array_equal(*grids)


# The baseline's gradient sums have two terms, whose order cannot change the result: it runs in the slow suite.
@pytest.mark.parametrize("variant", ["wgangp", pytest.param("dcgan", marks=pytest.mark.slow)])
def test_two_train_processes_and_a_resumed_one_give_identical_weights(workdir, variant):
    """The paper's 64×64 models, batch 32, 2 epochs of 15 steps on 600 avatars: two runs at
    once (they compete for the cores, so their ops interleave differently) and a run of one
    epoch continued to two with --resume."""
    straight = [_train(workdir, f"{variant}-{i}", variant, 2) for i in (1, 2)]
    for process in straight:
        _finish(process)
    _finish(_train(workdir, f"{variant}-resumed", variant, 1))
    _finish(_train(workdir, f"{variant}-resumed", variant, 2, "--resume"))
    _same_run(workdir, f"{variant}-1", f"{variant}-2")
    _same_run(workdir, f"{variant}-1", f"{variant}-resumed")
    # What reproducing needs is recorded: each session's command, versions, machine and split.
    sessions = json.loads((workdir / f"{variant}-resumed" / "run.json").read_text())["sessions"]
    assert [session["start_step"] for session in sessions] == [0, 15]
    assert sessions[0]["command"].startswith(f"kgan train --variant {variant} --data data600 --epochs 1 ")
    assert sessions[1]["command"].endswith("--resume")
    split_id = json.loads((workdir / f"{variant}-1" / "dataset.json").read_text())["split_id"]
    for session in sessions:
        assert session["split_id"] == split_id and session["versions"]["tensorflow"] == tf.__version__
        assert session["versions"]["keras"] and session["machine"]["cpu"] and session["machine"]["gpus"] == []


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dcgan", "wgangp"])
def test_steered_runs_at_the_issues_size_repeat_and_resume_bit_for_bit(workdir, variant):
    """The same sizes, conditioned on all nine attributes (projection D, AC-GAN head, the
    conditional BatchNorms): two runs at once and one resumed give the same weights; without
    the moving average a steered run samples from by default, G and D train the same."""
    steered = ("--condition", "all")
    straight = [_train(workdir, f"steered-{variant}-{i}", variant, 2, *steered) for i in (1, 2)]
    straight.append(_train(workdir, f"steered-{variant}-plain", variant, 2, *steered, "--ema", "0"))
    for process in straight:
        _finish(process)
    _same_training(workdir, f"steered-{variant}-1", f"steered-{variant}-plain")  # its grid is G's, not the average's
    _finish(_train(workdir, f"steered-{variant}-resumed", variant, 1, *steered))
    _finish(_train(workdir, f"steered-{variant}-resumed", variant, 2, "--resume"))
    _same_run(workdir, f"steered-{variant}-1", f"steered-{variant}-2")
    _same_run(workdir, f"steered-{variant}-1", f"steered-{variant}-resumed")
    rows = [json.loads(line) for line in (workdir / f"steered-{variant}-resumed" / "metrics.jsonl").open()]
    assert len(rows) == 2 and set(rows[-1]["attribute_accuracy"]) == set(synthetic.ATTRIBUTES)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["dcgan", "wgangp"])
def test_quick_preset_runs_of_300_steps_are_identical(tmp_path, variant):
    """The README's first command at two epochs — 300 steps of the 32-px preset on the 12,000
    embedded avatars — twice at once: the property holds past the first few steps; and a third
    with G's moving average trains G and D the same."""
    from kgan.data.default import resolve_dataset

    resolve_dataset("synthetic")  # drawn once into the tests' cache, before the runs read it
    args = ["train", "--preset", "quick", "--variant", variant, "--epochs", "2", "--seed", "11"]
    processes = [start_kgan(*args, "--run-dir", f"run-{i}", cwd=tmp_path) for i in (1, 2)]
    processes.append(start_kgan(*args, "--ema", "0.999", "--run-dir", "run-averaged", cwd=tmp_path))
    for process in processes:
        _finish(process)
    steps = json.loads((tmp_path / "run-1" / "run.json").read_text())["step"]
    assert steps == 300
    for other in ("run-2", "run-averaged"):
        for a, b in zip(final_weights(tmp_path / "run-1"), final_weights(tmp_path / other), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_quick_preset_run_stopped_by_ctrl_c_in_its_learning_rate_fall_resumes_bit_for_bit(tmp_path):
    """The quick preset steered on all nine attributes, its rates falling over the last two of
    three epochs (150 steps each): Ctrl-C inside the fall, then --resume, ends on the same G,
    D, average, optimizers and losses as the run that went straight through."""
    from kgan.data.default import resolve_dataset

    resolve_dataset("synthetic")
    args = ["train", "--preset", "quick", "--condition", "all", "--epochs", "3", "--lr-decay-epochs", "2"]
    args += ["--seed", "11", "--fid-every", "0"]
    straight = start_kgan(*args, "--run-dir", "straight", cwd=tmp_path)
    cut = start_kgan(*args, "--run-dir", "cut", cwd=tmp_path)
    try:
        wait_for_line(cut, "epoch 1/3", timeout=900)  # printed as the fall begins
        time.sleep(10)
        cut.send_signal(signal.SIGINT)
        _, err = cut.communicate(timeout=300)
        assert cut.returncode == 130, err[-2000:]
        _finish(straight)
    finally:
        for process in (straight, cut):
            if process.poll() is None:
                process.kill()
    stopped_at = json.loads((tmp_path / "cut" / "run.json").read_text())["step"]
    assert 150 < stopped_at < 450, stopped_at  # inside the fall, before its end
    resumed = kgan("train", "--resume", "--run-dir", "cut", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _same_training(tmp_path, "straight", "cut", average=True)
    assert json.loads((tmp_path / "cut" / "run.json").read_text())["step"] == 450
