"""The two layers that make the DCGAN pair conditional on attributes (`Conditions`).

Attributes reach a model as int32 codes `[B, A]`, one per attribute, and inside it as their
multi-hot row: the one-hots of all attributes side by side (attribute a's value v at position
offset[a] + v). An embedding table is used through that row, so a sample's A embeddings add.

Generator — the row joins z at the input, [z, onehot(c)], and every BatchNorm is conditional
(de Vries et al. 2017; Miyato & Koyama 2018): it normalises without its own scale and shift
and takes them from the codes,

    y = γ(c) · (x − μ) / σ + β(c),      γ(c) = 1 + Σ_a Γ_a[c_a],   β(c) = Σ_a Β_a[c_a]

so the attributes shape the first 4×4 layout and act again at every resolution, where
colour, shape and small parts are made.

Discriminator — projection (Miyato & Koyama 2018): with h D's last 4×4 features, ψ its
unconditional score (the 4×4 valid convolution) and φ(x) = Σ_positions h the features summed
over the positions,

    D(x, c) = ψ(h) + Σ_a ⟨V_a[c_a], φ(x)⟩

the inner product with the codes' embeddings: D scores how well the image fits the asked
attributes, not only how real it looks.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers


def multi_hot(codes: tf.Tensor, sizes: tuple[int, ...], dtype) -> tf.Tensor:
    """Codes `[B, A]` → `[B, Σ sizes]`: each attribute's one-hot, side by side."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    return tf.reduce_sum(tf.one_hot(tf.cast(codes, tf.int32) + offsets, sum(sizes), dtype=dtype), axis=1)


class _AttributeLayer(layers.Layer):
    def __init__(self, sizes: tuple[int, ...], **kwargs):
        super().__init__(**kwargs)
        self.sizes = tuple(int(size) for size in sizes)

    def get_config(self) -> dict:
        return {**super().get_config(), "sizes": self.sizes}


@keras.saving.register_keras_serializable(package="kgan")
class MultiHot(_AttributeLayer):
    """Codes `[B, A]` → their multi-hot row `[B, Σ sizes]` (G's input beside z)."""

    def call(self, codes):
        return multi_hot(codes, self.sizes, self.compute_dtype)


class _AttributeEmbedding(_AttributeLayer):
    """Σ_a table[offset_a + c_a] for codes `[B, A]`: `[B, width]`."""

    def _summed(self, table: tf.Tensor, codes: tf.Tensor) -> tf.Tensor:
        # As a product with the multi-hot rows, not a gather: the gradient is then a dense
        # matrix product (no sparse slices for the optimizers and the gradient sums).
        return tf.matmul(multi_hot(codes, self.sizes, self.compute_dtype), tf.cast(table, self.compute_dtype))


@keras.saving.register_keras_serializable(package="kgan")
class ClassAffine(_AttributeEmbedding):
    """The scale and shift of conditional BatchNorm: (x̂ `[B, H, W, C]`, codes) → γ(c)·x̂ + β(c).

    Γ starts at N(0, 0.02) (so γ ≈ 1, as DCGAN's BatchNorm scale), Β at zero."""

    def build(self, input_shapes) -> None:
        channels = int(input_shapes[0][-1])
        rows = sum(self.sizes)
        self.gamma = self.add_weight(
            name="gamma", shape=(rows, channels), initializer=keras.initializers.RandomNormal(0.0, 0.02)
        )
        self.beta = self.add_weight(name="beta", shape=(rows, channels), initializer="zeros")

    def call(self, inputs):
        normalised, codes = inputs
        gamma = 1.0 + self._summed(self.gamma, codes)
        beta = self._summed(self.beta, codes)
        return normalised * gamma[:, None, None, :] + beta[:, None, None, :]


@keras.saving.register_keras_serializable(package="kgan")
class Projection(_AttributeEmbedding):
    """(h `[B, H, W, F]`, codes) → Σ_a ⟨V_a[c_a], φ(x)⟩ `[B, 1]`, φ(x) = Σ_positions h; V starts
    at N(0, 0.02), as D's weights. Summed, not averaged, over the positions: averaged, the
    term was too weak for D to learn the attributes from (the quick preset's trials, docs)."""

    def build(self, input_shapes) -> None:
        features = int(input_shapes[0][-1])  # F: the channels of h
        self.table = self.add_weight(
            name="embedding", shape=(sum(self.sizes), features), initializer=keras.initializers.RandomNormal(0.0, 0.02)
        )

    def call(self, inputs):
        features, codes = inputs
        pooled = tf.reduce_sum(tf.cast(features, self.compute_dtype), axis=[1, 2])  # φ(x)
        return tf.reduce_sum(self._summed(self.table, codes) * pooled, axis=1, keepdims=True)
