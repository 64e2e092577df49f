"""Benchmark parts run in fresh processes whose figures are their own."""

from __future__ import annotations

import numpy as np
import pytest

from kgan.bench.parts import run_part
from kgan.bench.process import in_fresh_process, peak_rss_mb
from kgan.data import synthetic


def test_a_fresh_part_reports_its_own_peak_memory_not_its_parents(tmp_path):
    from PIL import Image

    folder = tmp_path / "jpegs"
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (40, 30), (index * 50, 90, 200)).save(folder / f"{index}.jpg")
    ballast = np.ones(1_200 * 1024 * 1024 // 8)  # 1.2 GB, touched: this process's peak grows past it
    assert peak_rss_mb() > 1_200
    figures = in_fresh_process("prepare", side="pil", folder=str(folder), size=16, out=str(tmp_path / "out"))
    del ballast
    assert figures["images"] == 3 and figures["images_per_sec"] > 0
    # A child inherits nothing of the parent's memory after exec; Linux's ru_maxrss does carry
    # the parent's high-water mark across fork and exec, which made every part look as large.
    assert 10 < figures["peak_rss_mb"] < 600
    assert "framework_rss_mb" not in figures  # an ingest part imports no framework


def test_bench_prepare_times_both_sides_on_both_corpora_and_leaves_only_the_cache(tmp_path):
    import json

    from helpers import kgan

    cache = tmp_path / "cache"
    result = kgan(
        "bench", "prepare", "--count", "24", "--size", "32", "--json", cwd=tmp_path, env={"KGAN_CACHE_DIR": str(cache)}
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["images"] == 24 and figures["size"] == 32 and figures["cpu"]
    assert set(figures["sources"]) == {"96x96 JPEG", "512x512 JPEG"}
    for row in figures["sources"].values():
        assert row["pil_images_per_sec"] > 0 and row["kgan_images_per_sec"] > 0
        assert row["kgan_over_pil"] == round(row["kgan_images_per_sec"] / row["pil_images_per_sec"], 2)
        assert 10 < row["kgan_peak_rss_mb"] < 1000
    corpora = sorted(p.name for p in (cache / "bench").iterdir())
    version = synthetic.GENERATOR_VERSION  # the corpora are drawn avatars: keyed on the drawing
    assert corpora == [f"avatars-jpeg512-24-v{version}", f"avatars-jpeg96-24-v{version}"]
    big = sorted((cache / "bench" / corpora[0]).iterdir())
    assert len(big) == 24
    from PIL import Image

    with Image.open(big[0]) as image:
        assert image.size == (512, 512) and image.format == "JPEG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # prepared datasets removed


def test_bench_draw_times_the_command_against_whole_frame_drawing(tmp_path):
    import json

    from helpers import kgan

    result = kgan("bench", "draw", "--count", "1100", "--json", cwd=tmp_path)  # enough for the worker processes
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["avatars"] == 1100 and figures["cpu"]
    assert figures["whole_frame_avatars_per_sec"] > 0 and figures["kgan_avatars_per_sec"] > 0
    ratio = figures["kgan_avatars_per_sec"] / figures["whole_frame_avatars_per_sec"]
    assert figures["kgan_over_whole_frame"] == round(ratio, 2)
    assert 10 < figures["kgan_peak_rss_mb"] < 400  # no TensorFlow in a drawing part
    assert 0 < figures["first_call_seconds"] < 120  # the compiled drawing loaded (or compiled) before timing
    assert list(tmp_path.iterdir()) == []


def test_flops_are_counted_from_the_traced_step():
    import tensorflow as tf
    from helpers import tiny_config

    from kgan.bench.flops import live_operations, op_flops, step_flops

    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [2, 8, 8, 3])
        kernel = tf.compat.v1.placeholder(tf.float32, [4, 4, 3, 5])
        out = tf.nn.conv2d(images, kernel, 2, "SAME")
        gradients = tf.gradients(tf.reduce_sum(out), [images, kernel])
    counted = {op.type: op_flops(op) for op in graph.get_operations() if op_flops(op)}
    multiply_adds = 2 * 4 * 4 * 5 * (4 * 4 * 3)  # outputs × window
    assert counted == dict.fromkeys(("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"), 2 * multiply_adds)
    del gradients

    dcgan = step_flops(tiny_config(batch_size=4))
    assert step_flops(tiny_config(batch_size=8)) == 2 * dcgan  # linear in the batch
    assert step_flops(tiny_config(variant="wgangp", batch_size=4)) > 1.3 * dcgan  # the penalty's second order

    @tf.function
    def unused_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.nn.conv2d(x, tf.ones([3, 3, 3, 4]), 1, "SAME")
        tape.gradient(y, x)  # computed, then thrown away: pruned before running
        return y

    graph = unused_gradient.get_concrete_function(tf.TensorSpec([1, 8, 8, 3])).graph
    assert {op.type for op in graph.get_operations()} >= {"Conv2D", "Conv2DBackpropInput"}
    assert "Conv2DBackpropInput" not in {op.type for op in live_operations(graph)}


@pytest.mark.parametrize("precision, dtype", [("float32", "float32"), ("mixed_bfloat16", "bfloat16")])
def test_the_limit_is_measured_in_the_steps_compute_type(precision, dtype):
    figures = run_part("limits", {"batch_size": 2, "variants": ["dcgan"], "precision": precision})
    assert figures["wide_convolution_dtype"] == dtype
    assert figures["wide_convolution_gflops"] > 0 and figures["dcgan_step_gflop"] > 0
