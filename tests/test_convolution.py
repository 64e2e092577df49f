"""The routed convolutions compute what TensorFlow's do, with their gradients to the penalty's second order."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kgan.system import cpu
from kgan.training import convolution
from kgan.training.convolution import RoutedConv2D, RoutedConv2DTranspose


def _reference_conv(x, kernel):
    return tf.nn.conv2d(x, kernel, convolution.STRIDES, "SAME")


def _reference_transposed(y, kernel):
    shape = tf.shape(y)
    output = tf.stack([shape[0], 2 * shape[1], 2 * shape[2], tf.shape(kernel)[2]])
    return tf.nn.conv2d_transpose(y, kernel, output, convolution.STRIDES, "SAME")


@pytest.fixture(params=["tensorflow's kernels", "products and phases"])
def route(request, monkeypatch):
    """Each function's two ways: TensorFlow's kernel, or the rearranged products and phases."""
    rearranged = request.param == "products and phases"
    monkeypatch.setattr(convolution, "PRODUCTS_MIN_CHANNELS", 1 if rearranged else 10**9)
    monkeypatch.setattr(convolution, "PHASES_MAX_SIZE", 10**9 if rearranged else 0)
    return request.param


def _normal(shape, seed):
    return tf.random.stateless_normal(shape, seed=[seed, 7])


def _penalised(forward, x, kernel, weights):
    """A gradient-penalty shape of loss: f(x) scored, its input gradient's squared norm, then
    the gradient of that (second order) and of a first-order loss, for x and the kernel."""
    with tf.GradientTape(persistent=True) as outer:
        outer.watch([x, kernel])
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = forward(x, kernel)
            score = tf.reduce_sum(tf.tanh(y) * weights)
        input_gradient = inner.gradient(score, x)
        loss = score + tf.reduce_sum(tf.square(input_gradient))
    return [y, input_gradient, *outer.gradient(loss, [x, kernel])]


def _assert_close(got, want, tolerance):
    for g, w in zip(got, want):
        g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
        assert g.shape == w.shape
        scale = np.abs(w).max()
        assert scale > 0
        assert np.abs(g - w).max() <= tolerance * scale, np.abs(g - w).max() / scale


@pytest.mark.parametrize("shape", [(3, 8, 8, 5, 6), (2, 6, 10, 16, 3)])
def test_conv_and_its_gradients_to_second_order_equal_tensorflows(shape, route):
    batch, height, width, channels, out_channels = shape
    x = _normal([batch, height, width, channels], 1)
    kernel = _normal([4, 4, channels, out_channels], 2) * 0.3
    weights = _normal([batch, height // 2, width // 2, out_channels], 3)
    got = _penalised(convolution.conv, x, kernel, weights)
    want = _penalised(_reference_conv, x, kernel, weights)
    _assert_close(got, want, 1e-5)


@pytest.mark.parametrize("shape", [(3, 4, 4, 5, 6), (2, 3, 5, 3, 16)])
def test_transposed_and_its_gradients_to_second_order_equal_tensorflows(shape, route):
    batch, height, width, channels, in_channels = shape
    y = _normal([batch, height, width, in_channels], 4)
    kernel = _normal([4, 4, channels, in_channels], 5) * 0.3
    weights = _normal([batch, 2 * height, 2 * width, channels], 6)
    got = _penalised(convolution.transposed, y, kernel, weights)
    want = _penalised(_reference_transposed, y, kernel, weights)
    _assert_close(got, want, 1e-5)


def test_weight_gradient_is_differentiable_in_both_arguments(route):
    x, dy = _normal([2, 6, 6, 3], 8), _normal([2, 3, 3, 4], 9)
    weights = _normal([4, 4, 3, 4], 10)

    def reference(x, dy):
        return tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=[4, 4, 3, 4], out_backprop=dy, strides=convolution.STRIDES, padding="SAME"
        )

    results = []
    for function in (convolution.weight_gradient, reference):
        with tf.GradientTape() as tape:
            tape.watch([x, dy])
            kernel = function(x, dy)
            loss = tf.reduce_sum(tf.sin(kernel) * weights)
        results.append([kernel, *tape.gradient(loss, [x, dy])])
    _assert_close(results[0], results[1], 1e-5)


def _layer_pair(routed_class, keras_class, input_shape, filters, dtype, strides=2, padding="same"):
    """The routed layer at `dtype` and Keras's layer in float32, with the same weights."""
    keras.utils.set_random_seed(0)
    arguments = dict(filters=filters, kernel_size=4, strides=strides, padding=padding)
    routed, plain = routed_class(**arguments, dtype=dtype), keras_class(**arguments)
    routed.build(input_shape)
    plain.build(input_shape)
    routed.set_weights([w + np.float32(0.1) * np.sign(w) for w in plain.get_weights()])  # a non-zero bias too
    plain.set_weights(routed.get_weights())
    return routed, plain


def _layer_run(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * _normal(y.shape, 12))
    return [y, *tape.gradient(loss, [x, *layer.trainable_variables])]


@pytest.mark.parametrize(
    "routed_class, keras_class, input_shape, filters",
    [
        (RoutedConv2D, keras.layers.Conv2D, (4, 16, 16, 32), 64),
        (RoutedConv2DTranspose, keras.layers.Conv2DTranspose, (4, 8, 8, 64), 32),
    ],
)
def test_bfloat16_layers_take_the_route_and_agree_with_float32(routed_class, keras_class, input_shape, filters, route):
    routed, plain = _layer_pair(routed_class, keras_class, input_shape, filters, "mixed_bfloat16")
    x = _normal(input_shape, 11)
    assert convolution._routable(routed, x)
    got, want = _layer_run(routed, x), _layer_run(plain, x)
    assert got[0].dtype == tf.bfloat16 and all(g.dtype == tf.float32 for g in got[2:])  # float32 weights' gradients
    # bfloat16 keeps 8 bits of mantissa. Where the CPU has no bfloat16 instructions, TensorFlow's
    # own kernels emulate it and round their sums more coarsely: kgan's routes are held to the
    # tight bound everywhere, TensorFlow's kernels there to a looser one.
    emulated = route == "tensorflow's kernels" and not cpu.native_bfloat16()
    _assert_close(got, want, 5e-2 if emulated else 2e-2)


def test_float32_and_other_shapes_keep_the_keras_path():
    routed, _ = _layer_pair(RoutedConv2D, keras.layers.Conv2D, (2, 8, 8, 3), 4, "float32")
    assert not convolution._routable(routed, _normal([2, 8, 8, 3], 1))
    odd, _ = _layer_pair(RoutedConv2D, keras.layers.Conv2D, (2, 7, 7, 3), 4, "mixed_bfloat16")
    assert not convolution._routable(odd, _normal([2, 7, 7, 3], 1))
    assert convolution._routable(odd, _normal([2, 8, 8, 3], 1))


@pytest.mark.parametrize(
    "routed_class, keras_class, input_shape, filters",
    [
        (RoutedConv2D, keras.layers.Conv2D, (5, 4, 4, 16), 3),  # D's score
        (RoutedConv2DTranspose, keras.layers.Conv2DTranspose, (5, 1, 1, 8), 6),  # G's projection
    ],
)
def test_layers_spanning_their_input_are_one_product_with_keras_gradients(
    routed_class, keras_class, input_shape, filters
):
    routed, plain = _layer_pair(routed_class, keras_class, input_shape, filters, "float32", 1, "valid")
    x = _normal(input_shape, 13)
    assert convolution._one_product(routed, x, (4, 4) if routed_class is RoutedConv2D else (1, 1))

    def penalised(layer):
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                y = layer(x)
                score = tf.reduce_sum(tf.tanh(y) * _normal(y.shape, 14))
            input_gradient = inner.gradient(score, x)
            loss = score + tf.reduce_sum(tf.square(input_gradient))
        return [y, input_gradient, *outer.gradient(loss, [x, *layer.trainable_variables])]

    _assert_close(penalised(routed), penalised(plain), 1e-5)


def _losses_per_step(config, weights, batches):
    """Each step's (d_loss, g_loss), from `weights` (None: the config's own initial weights,
    returned as the second result)."""
    from kgan.training.session import build_gan

    gan = build_gan(config)
    models = [variable for variable in gan.weights if "optimizer" not in variable.path]
    initial = weights or [variable.numpy() for variable in models]
    for variable, value in zip(models, initial):
        variable.assign(value)
    step = tf.function(gan.train_step)
    losses = []
    for batch in batches:
        for tracker in gan.trackers.values():
            tracker.reset_state()  # each step's own losses, not the epoch's running mean
        result = step(batch)
        losses.append([float(result["d_loss"]), float(result["g_loss"])])
    return np.array(losses), initial


@pytest.mark.parametrize("variant", ["dcgan", "wgangp"])
def test_a_bfloat16_runs_losses_track_float32s_over_the_first_epoch(variant, route):
    from helpers import tiny_config

    config = tiny_config(variant=variant, g_width=16, d_width=16, batch_size=16, deterministic=False)
    rng = np.random.default_rng(0)
    rows = config.batch_size * config.n_critic
    batches = [
        {
            "real": tf.constant(rng.uniform(-1, 1, (rows, 32, 32, 3)), tf.float32),
            "z": tf.constant(rng.normal(size=(rows, config.z_dim)), tf.float32),
            "alpha": tf.constant(rng.uniform(size=(rows, 1, 1, 1)), tf.float32),
        }
        for _ in range(30)
    ]
    full, weights = _losses_per_step(config, None, batches)
    half, _ = _losses_per_step(config.with_overrides(precision="mixed_bfloat16"), weights, batches)
    deviation = np.abs(half - full) / (np.abs(full) + 0.1)
    # bfloat16's rounding stays well inside these bounds; a kernel whose taps are transposed
    # in the weight gradient lands far outside them on average.
    assert deviation.mean(axis=0).max() < 0.03 and deviation.max() < 0.15, deviation.mean(axis=0)
    assert not np.allclose(half, full)  # the two runs did compute in different precisions
