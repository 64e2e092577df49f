"""Fréchet Inception Distance and Kernel Inception Distance, computed by TF-GAN.

    FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^½)        (paper §2.4)

in float64, with unbiased covariances; the matrix square root is TF-GAN's
(`trace_sqrt_product`, through symmetric eigen-decompositions).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from kgan.errors import KganError
from kgan.metrics.tfgan import classifier_metrics, tfgan_eval


@dataclasses.dataclass(frozen=True)
class Statistics:
    """Mean and unbiased covariance of a set of activations."""

    mean: np.ndarray
    cov: np.ndarray
    count: int

    @classmethod
    def of(cls, activations: np.ndarray) -> Statistics:
        activations = _check(activations, "activations")
        return cls(activations.mean(axis=0), np.cov(activations, rowvar=False), len(activations))


def _check(activations: np.ndarray, name: str) -> np.ndarray:
    activations = np.asarray(activations, dtype=np.float64)
    if activations.ndim != 2 or len(activations) < 2:
        raise KganError(f"{name} must be [N, D] with N >= 2, got shape {activations.shape}")
    if not np.isfinite(activations).all():
        raise KganError(f"{name} contain NaN or infinite values")
    return activations


def fid(real_activations: np.ndarray, generated_activations: np.ndarray) -> float:
    """FID between two `[N, D]` activation sets (TF-GAN, float64)."""
    real = _check(real_activations, "real activations")
    generated = _check(generated_activations, "generated activations")
    if real.shape[1] != generated.shape[1]:
        raise KganError(f"activation widths differ: {real.shape[1]} vs {generated.shape[1]}")
    value = tfgan_eval().frechet_classifier_distance_from_activations(tf.constant(real), tf.constant(generated))
    return float(value)


def fid_from_statistics(real: Statistics, generated: Statistics) -> float:
    """The same FID from precomputed (mean, covariance) pairs, e.g. cached real statistics."""
    sigma, sigma_w = tf.constant(real.cov, tf.float64), tf.constant(generated.cov, tf.float64)
    sqrt_trace = classifier_metrics().trace_sqrt_product(sigma, sigma_w)
    trace = tf.linalg.trace(sigma + sigma_w) - 2.0 * sqrt_trace
    mean = tf.reduce_sum(tf.math.squared_difference(tf.constant(real.mean), tf.constant(generated.mean)))
    return float(trace + mean)


def kid(real_activations: np.ndarray, generated_activations: np.ndarray, blocks: int = 10) -> tuple[float, float]:
    """KID (unbiased MMD², cubic polynomial kernel) and its standard deviation over blocks."""
    real = _check(real_activations, "real activations").astype(np.float32)
    generated = _check(generated_activations, "generated activations").astype(np.float32)
    block_size = max(2, -(-min(len(real), len(generated)) // blocks))  # ≈ `blocks` blocks
    previous = tf.get_logger().level
    tf.get_logger().setLevel("ERROR")  # TF-GAN's map_fn(back_prop=False) deprecation notice
    try:
        value, std = tfgan_eval().kernel_classifier_distance_and_std_from_activations(
            tf.constant(real), tf.constant(generated), max_block_size=block_size
        )
    finally:
        tf.get_logger().setLevel(previous)
    return float(value), float(std)
