"""Throughput figures: the fit-driven train step, a bare tf.function step, the input pipeline,
FID feature extraction; `bench_all` gathers them, each part from a fresh process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from kgan.bench.process import in_fresh_process
from kgan.config import TrainConfig
from kgan.data.dataset import PreparedDataset, Split
from kgan.data.pipeline import load_split
from kgan.metrics.evaluate import evaluate
from kgan.metrics.extractors import load_extractor
from kgan.metrics.reference import real_features
from kgan.system import cpu
from kgan.training import runtime
from kgan.training.models import build_generator
from kgan.training.session import build_gan, config_dataset


def median_step(marks: list[float]) -> float:
    """The median of the intervals between consecutive time marks: a step's typical time,
    robust to the odd step slowed by something else on a shared machine."""
    return float(np.median(np.diff(marks)))


class _StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.marks: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        if logs:
            float(logs["d_loss"])  # wait for the step to finish
        self.marks.append(time.perf_counter())


def _pipeline(config: TrainConfig, images: np.ndarray, steps: int) -> tf.data.Dataset:
    return config_dataset(images, config.with_overrides(seed=0), steps, 0, steps)


def bench_fit_step(config: TrainConfig, images: np.ndarray, steps: int, warmup: int) -> float:
    """Images/s of `GAN.fit` on the real pipeline, after `warmup` steps."""
    gan = build_gan(config)
    total = warmup + steps
    dataset = _pipeline(config, images, total)
    timer = _StepTimer()
    gan.fit(dataset, epochs=1, steps_per_epoch=total, verbose=0, shuffle=False, callbacks=[timer])
    return config.batch_size / median_step(timer.marks[warmup - 1 :])


def bench_plain_step(config: TrainConfig, steps: int, warmup: int) -> float:
    """Images/s of the same train_step in a bare tf.function on a fixed batch (no fit, no data)."""
    gan = build_gan(config)
    per_step = config.batch_size * config.n_critic
    batch = {
        "real": tf.random.uniform([per_step, config.image_size, config.image_size, 3], -1, 1),
        "z": tf.random.normal([per_step, config.z_dim]),
        "alpha": tf.random.uniform([per_step, 1, 1, 1]),
    }
    step = tf.function(gan.train_step)
    for _ in range(warmup):
        float(step(batch)["d_loss"])
    marks = [time.perf_counter()]
    for _ in range(steps):
        float(step(batch)["d_loss"])  # each step waited for, as fit's timer does
        marks.append(time.perf_counter())
    return config.batch_size / median_step(marks)


def bench_pipeline(config: TrainConfig, images: np.ndarray, batches: int = 60) -> float:
    """Images/s that the input pipeline alone delivers (decode, resize, scale, noise)."""
    dataset = _pipeline(config, images, batches + 5)
    iterator = iter(dataset)
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)["real"].numpy()
    return batches * config.batch_size * config.n_critic / (time.perf_counter() - start)


def _config(variant: str, batch_size: int, precision: str) -> TrainConfig:
    return TrainConfig.for_variant(variant).with_overrides(batch_size=batch_size, precision=precision).validate()


def bench_train(
    dataset: PreparedDataset,
    variant: str = "dcgan",
    batch_size: int = 128,
    steps: int = 8,
    warmup: int = 3,
    precision: str = "float32",
) -> dict[str, Any]:
    """A training process at 64×64 with the paper's architecture: the input pipeline alone,
    then `fit` on it (the split in RAM, as training holds it)."""
    config = _config(variant, batch_size, precision)
    runtime.configure()
    images = load_split(dataset, Split.TRAIN, image_size=config.image_size)
    pipeline = bench_pipeline(config, images)
    fit_step = bench_fit_step(config, images, steps, warmup)
    return {
        "fit_step_images_per_sec": round(fit_step, 2),
        "pipeline_images_per_sec": round(pipeline, 1),
        "pipeline_over_step": round(pipeline / fit_step, 1),
    }


def bench_bare(
    variant: str = "dcgan", batch_size: int = 128, steps: int = 8, warmup: int = 3, precision: str = "float32"
) -> dict[str, Any]:
    """The same train step in a bare tf.function on a fixed batch: no data, no `fit` (as the
    PyTorch reference runs)."""
    runtime.configure()
    step = bench_plain_step(_config(variant, batch_size, precision), steps, warmup)
    return {"plain_step_images_per_sec": round(step, 2)}


def bench_variant(
    dataset: PreparedDataset,
    variant: str = "dcgan",
    batch_size: int = 128,
    steps: int = 8,
    warmup: int = 3,
    precision: str = "float32",
    measure: Callable[..., dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`fit` and bare steps of one variant, each in a fresh process, with both peak RSS."""

    measure = measure or in_fresh_process
    sizes = dict(variant=variant, batch_size=batch_size, steps=steps, warmup=warmup, precision=precision)
    fit = measure("train", dataset=str(dataset.folder), **sizes)
    bare = measure("bare", **sizes)
    return {
        **cpu.describe(),
        "variant": variant,
        "precision": precision,
        "image_size": 64,
        "batch_size": batch_size,
        "fit_step_images_per_sec": fit["fit_step_images_per_sec"],
        "plain_step_images_per_sec": bare["plain_step_images_per_sec"],
        "fit_over_plain": round(fit["fit_step_images_per_sec"] / bare["plain_step_images_per_sec"], 3),
        "pipeline_images_per_sec": fit["pipeline_images_per_sec"],
        "pipeline_over_step": fit["pipeline_over_step"],
        "kgan_peak_rss_mb": fit["peak_rss_mb"],
        "kgan_bare_peak_rss_mb": bare["peak_rss_mb"],
        "tensorflow_import_rss_mb": bare["framework_rss_mb"],
    }


def bench_fid(
    dataset: PreparedDataset, features: str, inception: str | None, samples: int = 2000, batch_size: int = 50
) -> dict[str, Any]:
    """Extraction images/s at 299×299, and one validation FID of `samples` generated images
    against the cached real statistics (the real side is extracted and cached first)."""
    runtime.configure()
    config = TrainConfig()
    extractor = load_extractor(features, inception)
    per_second = extraction_rate(extractor, batch_size)
    real_features(dataset, Split.VAL, config.image_size, extractor, batch_size)
    generator = build_generator(config)
    start = time.perf_counter()
    result = evaluate(
        generator,
        dataset,
        extractor,
        split=Split.VAL,
        image_size=config.image_size,
        z_dim=config.z_dim,
        samples=samples,
        secondary=False,
        batch_size=batch_size,
    )
    return {
        **cpu.describe(),
        "features": extractor.name,
        "extraction_images_per_sec": round(per_second, 2),
        "val_fid_samples": result.n_generated,
        "val_fid_seconds_cached_real": round(time.perf_counter() - start, 2),
    }


def extraction_rate(extractor, batch_size: int, repeats: int = 3) -> float:
    """Images/s of a feature extractor on 64×64 inputs (resized to its own size), after tracing."""
    images = np.random.default_rng(0).uniform(-1, 1, (batch_size, 64, 64, 3)).astype(np.float32)
    extractor(images)  # trace
    start = time.perf_counter()
    for _ in range(repeats):
        extractor(images)
    return repeats * batch_size / (time.perf_counter() - start)


def feature_rate(features: str, inception: str | None, batch_size: int) -> dict[str, Any]:
    runtime.configure()
    extractor = load_extractor(features, inception)
    rate = extraction_rate(extractor, batch_size)
    return {"fid_features": extractor.name, "fid_features_images_per_sec": round(rate, 2)}


def bench_all(
    dataset: PreparedDataset,
    batch_size: int = 128,
    steps: int = 8,
    warmup: int = 3,
    features: str | None = "random-inception-v3",
    inception: str | None = None,
    precision: str = "float32",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Both variants' train-step, pipeline and PyTorch-reference figures, FID features, peak RSS.

    Every figure comes from its own process (see `process.in_fresh_process`); the PyTorch reference
    runs at the same precision as kgan (autocast for the mixed policies). `progress` hears
    (parts measured, parts in all) after each part.
    """
    from kgan.bench import torch_reference

    total = 2 * (2 + torch_reference.available()) + bool(features) + 1
    done = 0
    if progress:
        progress(done, total)

    def measure(part: str, **arguments: Any) -> dict[str, Any]:
        nonlocal done
        figures = in_fresh_process(part, **arguments)
        done += 1
        if progress:
            progress(done, total)
        return figures

    report: dict[str, Any] = {
        **cpu.describe(),
        "batch_size": batch_size,
        "image_size": 64,
        "precision": precision,
        "variants": {},
    }
    sizes = dict(batch_size=batch_size, steps=steps, warmup=warmup, precision=precision)
    for variant in ("dcgan", "wgangp"):
        figures = bench_variant(dataset, variant, measure=measure, **sizes)
        figures["pytorch_step_images_per_sec"] = figures["kgan_over_pytorch"] = None
        if torch_reference.available():
            torch_figures = measure("pytorch", variant=variant, **sizes)
            torch_step = torch_figures["pytorch_step_images_per_sec"]
            figures["pytorch_step_images_per_sec"] = torch_step
            figures["pytorch_peak_rss_mb"] = torch_figures["peak_rss_mb"]
            figures["pytorch_import_rss_mb"] = torch_figures["framework_rss_mb"]
            figures["kgan_over_pytorch"] = round(figures["fit_step_images_per_sec"] / torch_step, 3)
        report["variants"][variant] = figures
    limits = measure("limits", batch_size=batch_size, precision=precision, variants=list(report["variants"]))
    report["wide_convolution_gflops"] = limit = limits["wide_convolution_gflops"]
    report["wide_convolution_dtype"] = limits["wide_convolution_dtype"]
    for variant, figures in report["variants"].items():
        per_image = limits[f"{variant}_step_gflop"] / batch_size
        figures["step_gflop"] = limits[f"{variant}_step_gflop"]
        for side, rate in (
            ("kgan", figures["fit_step_images_per_sec"]),
            ("pytorch", figures["pytorch_step_images_per_sec"]),
        ):
            if rate:
                figures[f"{side}_gflops"] = round(rate * per_image, 1)
                figures[f"{side}_of_limit"] = round(rate * per_image / limit, 3)
    if not torch_reference.available():
        report["pytorch"] = "not installed: pip install -e '.[bench]' to measure the PyTorch reference"
    if features:
        extraction = measure("features", features=features, inception=inception, batch_size=min(batch_size, 50))
        extraction["fid_features_peak_rss_mb"] = extraction.pop("peak_rss_mb")
        report.update(extraction)
    report["training_peak_rss_mb"] = max(row["kgan_peak_rss_mb"] for row in report["variants"].values())
    return report
