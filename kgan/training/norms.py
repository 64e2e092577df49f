"""BatchNormalization with TensorFlow's fused kernel on the training path.

Keras 3 builds BatchNormalization from separate moments, mul and add ops (and its
gradient from as many more); TensorFlow's FusedBatchNormV3 does the forward in one op and
the backward in another. In a profile of the DCGAN step those element-wise ops (Mean,
SquaredDifference, Mul, AddV2, Sum, Tile) were a visible share of the op time, which the
fused layer saves while computing the same function (tested against Keras).

Anything the fused path does not cover (inference, masks, renorm, statistics synchronized
across replicas, other backends) is the Keras layer unchanged. The weights are the Keras
layer's, so checkpoints are interchangeable.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


def _fusable(inputs, axis) -> bool:
    return keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4 and axis in (-1, 3)


def _fused_training(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float):
    """(normalised x, batch mean, biased batch variance) over N, H, W of an NHWC tensor (float32,
    float16 or bfloat16; the statistics, γ and β in float32)."""
    empty = tf.zeros([0], tf.float32)
    y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x,
        scale=gamma,
        offset=beta,
        mean=empty,
        variance=empty,
        epsilon=epsilon,
        exponential_avg_factor=1.0,
        data_format="NHWC",
        is_training=True,
    )
    # The kernel returns the Bessel-corrected variance (for running statistics); Keras
    # keeps the biased one, so the moving variance here matches Keras's exactly.
    count = tf.cast(tf.shape(x)[0] * tf.shape(x)[1] * tf.shape(x)[2], tf.float32)
    return y, mean, variance * (count - 1.0) / tf.maximum(count, 2.0)


@keras.saving.register_keras_serializable(package="kgan")
class FusedBatchNormalization(layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training pass is one fused kernel."""

    def call(self, inputs, training=None, mask=None):
        # `renorm` arrived in Keras 3.13 (the newest Keras on Python 3.10 is 3.12)
        plain = (
            not (training and self.trainable) or mask is not None or self.synchronized or getattr(self, "renorm", False)
        )
        if plain or not _fusable(inputs, self.axis):
            return super().call(inputs, training=training, mask=mask)
        # The kernel takes float16/bfloat16 activations as they are and computes the statistics
        # in float32 itself: casting a bfloat16 activation to float32 and back (Eigen converts
        # element by element, in the forward and the gradient) cost more than the norm.
        x = inputs if inputs.dtype in (tf.float16, tf.bfloat16) else tf.cast(inputs, tf.float32)
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([x.shape[-1]], tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([x.shape[-1]], tf.float32)
        y, mean, variance = _fused_training(x, gamma, beta, self.epsilon)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(y, self.compute_dtype)
