"""The two layers that make the DCGAN pair conditional on attributes (`Conditions`).

Attributes reach a model as int32 codes `[B, A]`, one per attribute. Each layer keeps one
embedding table per use, all attributes' rows stacked (attribute a's value v at row
offset[a] + v), and sums the rows of a sample's A codes: attributes add their effects.

Generator — conditional BatchNorm (de Vries et al. 2017; Miyato & Koyama 2018): every
BatchNorm of G normalises without its own scale and shift and takes them from the codes,

    y = γ(c) · (x − μ) / σ + β(c),      γ(c) = 1 + Σ_a Γ_a[c_a],   β(c) = Σ_a Β_a[c_a]

so the attributes act at every resolution, where colour, shape and small parts are made.

Discriminator — projection (Miyato & Koyama 2018): with φ(x) D's last features and ψ its
unconditional score (the 4×4 valid convolution, a linear map of φ),

    D(x, c) = ψ(φ(x)) + Σ_a ⟨V_a[c_a], φ(x)⟩

the inner product with the codes' embeddings: D scores how well the image fits the asked
attributes, not only how real it looks.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers


def _offsets(sizes: tuple[int, ...]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)


class _AttributeEmbedding(layers.Layer):
    """Σ_a table[offset_a + c_a] for codes `[B, A]`: `[B, width]`."""

    def __init__(self, sizes: tuple[int, ...], **kwargs):
        super().__init__(**kwargs)
        self.sizes = tuple(int(size) for size in sizes)
        self.offsets = _offsets(self.sizes)

    def _summed(self, table: tf.Tensor, codes: tf.Tensor) -> tf.Tensor:
        # As a product with the codes' multi-hot rows, not a gather: the gradient is then a
        # dense matrix product (no sparse slices for the optimizers and the gradient sums).
        rows = sum(self.sizes)
        chosen = tf.reduce_sum(tf.one_hot(tf.cast(codes, tf.int32) + self.offsets, rows, dtype=self.compute_dtype), 1)
        return tf.matmul(chosen, tf.cast(table, self.compute_dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "sizes": self.sizes}


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
    """(φ(x) `[B, F]`, codes) → Σ_a ⟨V_a[c_a], φ(x)⟩ `[B, 1]`; V starts at N(0, 0.02), as D's weights."""

    def build(self, input_shapes) -> None:
        features = int(input_shapes[0][-1])
        self.table = self.add_weight(
            name="embedding", shape=(sum(self.sizes), features), initializer=keras.initializers.RandomNormal(0.0, 0.02)
        )

    def call(self, inputs):
        features, codes = inputs
        embedded = self._summed(self.table, codes)
        return tf.reduce_sum(embedded * tf.cast(features, self.compute_dtype), axis=1, keepdims=True)
