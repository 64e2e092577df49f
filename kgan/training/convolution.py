"""The DCGAN's convolutions routed where TensorFlow's kernels measured slow on the CPU.

On AMX CPUs (oneDNN, bfloat16), TensorFlow's weight gradient (`Conv2DBackpropFilter`)
runs at a fraction of its forward convolution's speed, while the forward and
input-gradient convolutions gain from bfloat16 (docs/experiments.md has the figures).
A weight gradient is itself a product: with the padded
input rearranged by space-to-depth (2×2 blocks into channels), the stride-2 4×4
convolution becomes a stride-1 2×2 one, and its weight gradient four matrix products

    ∂L/∂W[a, b] = Σ_{n, i, j}  xs[n, i + a, j + b, :]ᵀ · ∂L/∂y[n, i, j, :],   a, b ∈ {0, 1}

which oneDNN runs at its full bfloat16 speed. Likewise the transposed convolution from a 4×4 input runs as
four stride-1 2×2 convolutions, one per output phase (`_transposed_by_phases`), and the
layers whose kernel spans their input (D's score, G's projection) as one matrix product.

Three functions are closed under differentiation, so that the gradient penalty (a
gradient of D's input gradient) also takes the routes:

    y = conv(x, W)              ∂/∂x: transposed(∂y, W)         ∂/∂W: weight_gradient(x, ∂y)
    x = transposed(y, W)        ∂/∂y: conv(∂x, W)               ∂/∂W: weight_gradient(∂x, y)
    W = weight_gradient(x, y)   ∂/∂x: transposed(y, ∂W)         ∂/∂y: conv(x, ∂W)

`transposed` is also the generator's up-sampling layer. The routes sum the same terms in
another order, so float32 results agree with TensorFlow's to round-off.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

STRIDES = [1, 2, 2, 1]
KERNEL = 4
# 'same' padding of a stride-2 4×4 convolution of an even-sized input: one pixel each side.
PAD = [[0, 0], [1, 1], [1, 1], [0, 0]]
# Where each route measured faster than TensorFlow's kernel (AMX, bfloat16, batch 128).
PRODUCTS_MIN_CHANNELS = 128
PHASES_MAX_SIZE = 4


@tf.custom_gradient
def conv(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Stride-2 4×4 'same' convolution: `[B, H, W, Ci]` with `[4, 4, Ci, Co]` → `[B, H/2, W/2, Co]`."""
    y = tf.nn.conv2d(x, kernel, STRIDES, "SAME")

    def gradient(dy):
        return transposed(dy, kernel), weight_gradient(x, dy)

    return y, gradient


@tf.custom_gradient
def transposed(y: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """The transpose of `conv` (its input gradient, or the generator's up-sampling):
    `[B, h, w, Co]` with `[4, 4, Ci, Co]` → `[B, 2h, 2w, Ci]`."""
    if y.shape[1] is not None and max(y.shape[1:3]) <= PHASES_MAX_SIZE:
        x = _transposed_by_phases(y, kernel)
    else:
        shape = tf.shape(y)
        x = tf.nn.conv2d_transpose(
            y, kernel, tf.stack([shape[0], 2 * shape[1], 2 * shape[2], tf.shape(kernel)[2]]), STRIDES, "SAME"
        )

    def gradient(dx):
        return conv(dx, kernel), weight_gradient(dx, y)

    return x, gradient


def _transposed_by_phases(y: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """`transposed` as four stride-1 2×2 convolutions, one per output phase (p, q):

        x[n, 2i + p, 2j + q, c] = Σ_{t, u ∈ {0,1}} y_pad[n, i + p + t, j + q + u, :] · W[3 − p − 2t, 3 − q − 2u, c, :]

    interleaved by depth-to-space: faster than oneDNN's strided backward-data kernel from a
    4×4 input in bfloat16, and no faster above, so used only there."""
    h, w = tf.shape(y)[1], tf.shape(y)[2]
    padded = tf.pad(y, PAD)
    flipped = tf.transpose(kernel, [0, 1, 3, 2])  # [kh, kw, Co, Ci]: Co is these convolutions' input
    phases = []
    for p in (0, 1):
        for q in (0, 1):
            taps = tf.gather(tf.gather(flipped, [3 - p, 1 - p], axis=0), [3 - q, 1 - q], axis=1)
            phases.append(tf.nn.conv2d(padded[:, p : p + h + 1, q : q + w + 1, :], taps, 1, "VALID"))
    return tf.nn.depth_to_space(tf.concat(phases, axis=-1), 2)


@tf.custom_gradient
def weight_gradient(x: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    """∂L/∂W of `conv` for input `x` `[B, H, W, Ci]` and output gradient `dy` `[B, H/2, W/2, Co]`:
    `[4, 4, Ci, Co]`, as four matrix products over space-to-depth blocks (module docstring)
    when Ci is wide; TensorFlow's own kernel for the 3-channel image layers, where it measured
    faster (the products' reduction is long and their output small)."""
    channels, out_channels = x.shape[-1], dy.shape[-1]
    if channels < PRODUCTS_MIN_CHANNELS:
        shape = [KERNEL, KERNEL, channels, out_channels]
        kernel = tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=shape, out_backprop=dy, strides=STRIDES, padding="SAME"
        )
    else:
        kernel = _weight_gradient_by_products(x, dy)

    def gradient(dkernel):
        return transposed(dy, dkernel), conv(x, dkernel)

    return kernel, gradient


def _weight_gradient_by_products(x: tf.Tensor, dy: tf.Tensor) -> tf.Tensor:
    channels, out_channels = x.shape[-1], dy.shape[-1]
    blocks = tf.nn.space_to_depth(tf.pad(x, PAD), 2)  # [B, h+1, w+1, 4·Ci], channel = (p, q, c)
    h, w = tf.shape(dy)[1], tf.shape(dy)[2]
    outputs = tf.reshape(dy, [-1, out_channels])
    products = [
        tf.matmul(tf.reshape(blocks[:, a : a + h, b : b + w, :], [-1, 4 * channels]), outputs, transpose_a=True)
        for a in (0, 1)
        for b in (0, 1)
    ]
    # products[(a, b)][(p, q, c), o] is W[2a + p, 2b + q, c, o]
    kernel = tf.reshape(tf.stack(products), [2, 2, 2, 2, channels, out_channels])
    return tf.reshape(tf.transpose(kernel, [0, 2, 1, 3, 4, 5]), [KERNEL, KERNEL, channels, out_channels])


def _routable(layer: layers.Layer, inputs) -> bool:
    """Whether a layer is the stride-2 4×4 'same' case on an even-sized NHWC input, computed in
    bfloat16 on the CPU (in float32 TensorFlow's own weight gradient measured as fast; on a GPU
    the routes were never measured, so cuDNN keeps its own)."""
    size = inputs.shape[1:3]
    return (
        keras.backend.backend() == "tensorflow"
        and layer.compute_dtype == "bfloat16"
        and not tf.config.list_logical_devices("GPU")
        and tuple(layer.kernel_size) == (KERNEL, KERNEL)
        and tuple(layer.strides) == (2, 2)
        and layer.padding == "same"
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.data_format == "channels_last"
        and None not in size
        and all(side % 2 == 0 for side in size)
    )


def _one_product(layer: layers.Layer, inputs, size: tuple[int, int]) -> bool:
    """Whether a 'valid' stride-1 layer on an input of `size` is one matrix product: D's score
    (kernel as large as its 4×4 input) and G's projection (from a 1×1 z). For these shapes
    oneDNN's convolution kernels measured several times slower than the product."""
    return (
        keras.backend.backend() == "tensorflow"
        and layer.padding == "valid"
        and tuple(layer.strides) == (1, 1)
        and tuple(layer.dilation_rate) == (1, 1)
        and layer.data_format == "channels_last"
        and tuple(inputs.shape[1:3]) == size
    )


def _finish(layer: layers.Layer, outputs):
    """Bias and activation, as the Keras layer adds them."""
    if layer.use_bias:
        outputs = outputs + tf.cast(layer.bias, outputs.dtype)
    return layer.activation(outputs) if layer.activation is not None else outputs


def _kernel(layer: layers.Layer) -> tf.Tensor:
    return tf.cast(layer.kernel, layer.compute_dtype)


@keras.saving.register_keras_serializable(package="kgan")
class RoutedConv2D(layers.Conv2D):
    """`keras.layers.Conv2D` taking the routes: one product when the kernel spans the input,
    `conv` for the stride-2 4×4 bfloat16 case; the Keras layer's weights."""

    def call(self, inputs):
        if self.groups != 1:
            return super().call(inputs)
        if _one_product(self, inputs, tuple(self.kernel_size)):
            kernel = _kernel(self)  # [kh, kw, input channels, filters]
            flat = tf.matmul(
                tf.reshape(inputs, [-1, math.prod(kernel.shape[:3])]), tf.reshape(kernel, [-1, self.filters])
            )
            return _finish(self, tf.reshape(flat, [-1, 1, 1, self.filters]))
        if _routable(self, inputs):
            return _finish(self, conv(inputs, _kernel(self)))
        return super().call(inputs)


@keras.saving.register_keras_serializable(package="kgan")
class RoutedConv2DTranspose(layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` taking the routes: one product from a 1×1 input,
    `transposed` for the stride-2 4×4 bfloat16 case; the Keras layer's weights."""

    def call(self, inputs):
        if self.output_padding is not None:
            return super().call(inputs)
        if _one_product(self, inputs, (1, 1)):
            kernel = _kernel(self)  # [kh, kw, filters, input channels]
            flat = tf.matmul(
                tf.reshape(inputs, [-1, kernel.shape[3]]), tf.reshape(kernel, [-1, kernel.shape[3]]), transpose_b=True
            )
            return _finish(self, tf.reshape(flat, [-1, *self.kernel_size, self.filters]))
        if _routable(self, inputs):
            return _finish(self, transposed(inputs, _kernel(self)))
        return super().call(inputs)
