"""Scaling out and speeding up: replicas, precision, XLA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import python_env, tiny_config

from kgan.config import PRECISIONS
from kgan.data.dataset import PreparedDataset
from kgan.runs import create_run
from kgan.runs.folder import RunFolder
from kgan.training import checkpoint, runtime
from kgan.training.session import build_gan, train

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_two_replicas_match_one_replica_for_both_variants():
    result = subprocess.run(
        [sys.executable, str(HERE / "distributed_step.py")],
        capture_output=True,
        text=True,
        env=python_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in result.stdout.splitlines()}
    assert set(rows) == {"dcgan", "wgangp"}, result.stdout
    for variant, (weight_diff, loss_diff) in rows.items():
        assert weight_diff < 1e-5 and loss_diff < 1e-5, (variant, weight_diff, loss_diff)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_trains_with_finite_losses(precision, tmp_path, small_dataset):
    for variant in ("dcgan", "wgangp"):
        config = tiny_config(variant=variant, precision=precision, epochs=1, deterministic=False)
        gan = build_gan(config)
        scaled = isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
        assert scaled == (precision == "mixed_float16")
        assert gan.generator.get_layer("tanh").compute_dtype == "float32"  # outputs stay float32
        run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / f"{precision}-{variant}")
        assert train(run_dir).status == "finished"
        row = RunFolder(run_dir).metrics()[-1]
        assert all(np.isfinite(row[key]) for key in ("d_loss", "g_loss", "penalty", "d_real", "d_fake"))
    assert keras.mixed_precision.global_policy().name == "float32"  # the run's policy does not leak


def initial_weights(config) -> list[np.ndarray]:
    """The critic's weights a run of `config` starts from (the session seeds, then builds)."""
    keras.utils.set_random_seed(config.seed)
    return build_gan(config).discriminator.get_weights()


def test_gradient_penalty_trains_under_xla(tmp_path, small_dataset):
    config = tiny_config(variant="wgangp", jit_compile="on", epochs=1, deterministic=False)
    run_dir = create_run(config, PreparedDataset(small_dataset), tmp_path / "xla")
    runtime.configure(deterministic=False)
    assert build_gan(config).jit_compile is True  # Keras did not fall back to eager-graph mode
    before = initial_weights(config)
    assert all(np.array_equal(a, b) for a, b in zip(before, initial_weights(config)))  # truly the start
    assert train(run_dir).status == "finished"
    row = RunFolder(run_dir).metrics()[-1]
    assert np.isfinite(row["penalty"]) and row["penalty"] > 0
    after = build_gan(config)
    checkpoint.restore(checkpoint.latest(run_dir), after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after.discriminator.get_weights()))


@pytest.mark.slow
def test_bench_all_reports_every_figure(small_dataset):
    from kgan.bench import torch_reference
    from kgan.bench.measure import bench_all

    heard = []
    figures = bench_all(
        PreparedDataset(small_dataset),
        batch_size=4,
        steps=1,
        warmup=1,
        features=None,
        progress=lambda *a: heard.append(a),
    )
    parts = 2 * (2 + torch_reference.available()) + 1  # and the limits: FLOPs per step, one wide convolution
    assert heard == [(done, parts) for done in range(parts + 1)]
    assert set(figures["variants"]) == {"dcgan", "wgangp"}
    for row in figures["variants"].values():
        assert row["fit_step_images_per_sec"] > 0 and row["pipeline_images_per_sec"] > 0
        if torch_reference.available():
            assert row["pytorch_step_images_per_sec"] > 0 and row["kgan_over_pytorch"] > 0
        else:  # without the bench extra the report says how to get the reference
            assert row["pytorch_step_images_per_sec"] is None and "pip install" in figures["pytorch"]
    assert figures["training_peak_rss_mb"] == max(row["kgan_peak_rss_mb"] for row in figures["variants"].values())
    assert figures["training_peak_rss_mb"] > 100  # a process that imported TensorFlow and trained
    for row in figures["variants"].values():  # each process's own figure (the parent's is not inherited)
        assert row["kgan_bare_peak_rss_mb"] > 100 and row["fit_over_plain"] > 0
        assert 100 < row["tensorflow_import_rss_mb"] < row["kgan_bare_peak_rss_mb"]  # import, then the step's own
        if torch_reference.available():
            assert 50 < row["pytorch_import_rss_mb"] < row["pytorch_peak_rss_mb"]
        assert row["step_gflop"] > 0 and 0 < row["kgan_of_limit"] < 1  # batch 4 against the limit at 128
        assert abs(row["kgan_of_limit"] - row["kgan_gflops"] / figures["wide_convolution_gflops"]) < 0.005
