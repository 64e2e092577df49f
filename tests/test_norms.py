"""The fused BatchNormalization computes what Keras's does, with the same weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kgan.training.norms import FusedBatchNormalization


def _pair(shape, **kwargs):
    keras.utils.set_random_seed(0)
    init = dict(
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer=keras.initializers.RandomNormal(1.0, 0.3),
        beta_initializer=keras.initializers.RandomNormal(0.0, 0.3),
    )
    init.update(kwargs)
    reference, fused = keras.layers.BatchNormalization(**init), FusedBatchNormalization(**init)
    reference.build(shape)
    fused.build(shape)
    fused.set_weights(reference.get_weights())
    return reference, fused


def _run(layer, x, weights, training):
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x, training=training)
        loss = tf.reduce_sum(tf.tanh(tf.cast(y, tf.float32)) * weights)
    return y, tape.gradient(loss, x), tape.gradient(loss, layer.trainable_variables)


@pytest.mark.parametrize("shape", [(16, 8, 8, 5), (3, 1, 1, 7)])
def test_training_pass_matches_keras_batch_norm(shape):
    reference, fused = _pair(shape)
    x = tf.random.stateless_normal(shape, seed=[1, 2]) * 3.0 + 1.5
    weights = tf.random.stateless_normal(shape, seed=[3, 4])
    for _ in range(3):  # the moving statistics accumulate the same way
        want = _run(reference, x, weights, training=True)
        got = _run(fused, x, weights, training=True)
    np.testing.assert_allclose(got[0], want[0], atol=2e-5)
    np.testing.assert_allclose(got[1], want[1], atol=2e-5)
    for g, w in zip(got[2], want[2]):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-4)
    for g, w in zip(fused.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # Moving statistics moved away from their initial values, so the comparison above means something.
    assert not np.allclose(fused.moving_variance.numpy(), 1.0)


def test_inference_and_weights_are_the_keras_layers():
    shape = (4, 6, 6, 3)
    reference, fused = _pair(shape)
    x = tf.random.stateless_normal(shape, seed=[5, 6])
    reference(x, training=True)
    fused.set_weights(reference.get_weights())
    np.testing.assert_allclose(fused(x, training=False), reference(x, training=False), atol=1e-6)
    assert [w.path.split("/")[-1] for w in fused.weights] == [w.path.split("/")[-1] for w in reference.weights]


def test_fused_layer_trains_under_xla_and_bfloat16():
    shape = (8, 4, 4, 6)
    x = tf.random.stateless_normal(shape, seed=[7, 8])
    reference, fused = _pair(shape)

    @tf.function(jit_compile=True)
    def compiled(inputs):
        return fused(inputs, training=True)

    np.testing.assert_allclose(compiled(x), reference(x, training=True), atol=2e-5)
    half = FusedBatchNormalization(dtype="mixed_bfloat16")
    out = half(tf.cast(x, tf.bfloat16), training=True)
    assert out.dtype == tf.bfloat16
    assert np.isfinite(tf.cast(out, tf.float32).numpy()).all()


def test_bfloat16_activations_normalise_as_float32_does_within_bfloat16_precision():
    shape = (16, 8, 8, 5)
    reference, _ = _pair(shape)
    half = FusedBatchNormalization(
        momentum=0.9, epsilon=1e-5, dtype="mixed_bfloat16", gamma_initializer="ones", beta_initializer="zeros"
    )
    half.build(shape)
    half.set_weights(reference.get_weights())
    # the same bfloat16 values on both sides: only the arithmetic differs
    x = tf.cast(tf.cast(tf.random.stateless_normal(shape, seed=[1, 2]) * 3.0 + 1.5, tf.bfloat16), tf.float32)
    weights = tf.random.stateless_normal(shape, seed=[3, 4])
    want = _run(reference, x, weights, training=True)
    got = _run(half, tf.cast(x, tf.bfloat16), weights, training=True)
    assert got[0].dtype == tf.bfloat16 and got[1].dtype == tf.bfloat16
    for g, w in zip([got[0], got[1], *got[2]], [want[0], want[1], *want[2]]):
        g, w = np.asarray(tf.cast(g, tf.float32)), np.asarray(w)
        assert np.abs(g - w).max() <= 2e-2 * np.abs(w).max()
    for g, w in zip(half.get_weights(), reference.get_weights()):  # the moving statistics, in float32
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-3)
