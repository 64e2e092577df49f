"""How much arithmetic a train step is, and how much this CPU can do: every throughput
figure then reads as a fraction of the machine's limit, not only as a ratio to PyTorch.

A step's FLOPs are counted on its traced graph: every convolution, its two gradients
(also those of the penalty's second-order gradient) and every matrix product, from the
static shapes (a multiply-add is two FLOPs). Element-wise work is left out: it is a few
percent of a DCGAN step. The limit is the fastest of the critic's wide convolutions timed
alone in the step's compute type: the best the convolution library reaches on this CPU in
practice.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from kgan.config import TrainConfig

CONVOLUTIONS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def _shape(tensor: tf.Tensor) -> list[int]:
    return [int(n) for n in tensor.shape]


def op_flops(op: tf.Operation) -> int:
    """FLOPs of one convolution or matrix product (0 for anything else)."""
    if op.type in CONVOLUTIONS:
        # All three are the same multiply-adds: every output-gradient element meets a
        # kh × kw × C_in window of the input.
        if op.type == "Conv2D":
            kh, kw, c_in, _ = _shape(op.inputs[1])
            out = _shape(op.outputs[0])
        elif op.type == "Conv2DBackpropInput":
            kh, kw, c_in, _ = _shape(op.inputs[1])
            out = _shape(op.inputs[2])
        else:
            kh, kw, c_in, _ = _shape(op.outputs[0])  # the kernel's gradient
            out = _shape(op.inputs[2])
        return 2 * int(np.prod(out)) * kh * kw * c_in
    if op.type in ("MatMul", "BatchMatMulV2"):
        a, b = _shape(op.inputs[0]), _shape(op.inputs[1])
        if op.get_attr("transpose_a" if op.type == "MatMul" else "adj_x"):
            a[-1], a[-2] = a[-2], a[-1]
        if op.get_attr("transpose_b" if op.type == "MatMul" else "adj_y"):
            b[-1], b[-2] = b[-2], b[-1]
        return 2 * int(np.prod(a)) * b[-1]
    return 0


def step_flops(config: TrainConfig) -> int:
    """FLOPs of one train step of `config` (one batch per D update, `n_critic` of them)."""
    from kgan.training.session import build_gan

    gan = build_gan(config)
    rows, size = config.batch_size * config.n_critic, config.image_size
    spec = {
        "real": tf.TensorSpec([rows, size, size, 3]),
        "z": tf.TensorSpec([rows, config.z_dim]),
        "alpha": tf.TensorSpec([rows, 1, 1, 1]),
    }
    graph = tf.function(gan.train_step).get_concrete_function(spec).graph
    return sum(op_flops(op) for op in live_operations(graph))


def live_operations(graph) -> list[tf.Operation]:
    """The ops whose results reach the step's outputs or a variable update; the rest (an input
    gradient nobody uses) are pruned before the step runs, so they are not counted."""
    pending = [tensor.op for tensor in graph.outputs] + [op for op in graph.get_operations() if op._is_stateful]
    live: dict[str, tf.Operation] = {}
    while pending:
        op = pending.pop()
        if op.name in live:
            continue
        live[op.name] = op
        pending.extend(tensor.op for tensor in op.inputs)
        pending.extend(op.control_inputs)
    return list(live.values())


# The critic's wide convolutions (4×4, stride 2): input side, input channels, output channels.
WIDE_CONVOLUTIONS = ((32, 64, 128), (16, 128, 256), (8, 256, 512))


def wide_convolution_rate(batch_size: int = 128, dtype: str = "float32", repeats: int = 5) -> float:
    """GFLOP/s of the fastest of the critic's wide convolutions, each timed alone in `dtype`
    (the step's compute type) at `batch_size`, after warming up. Which shape is fastest depends
    on the CPU (on an AVX-512 Xeon the 8×8 layer ran at two thirds of the 32×32 one's rate)."""
    return max(_convolution_rate(batch_size, *shape, dtype, repeats) for shape in WIDE_CONVOLUTIONS)


def _convolution_rate(batch_size: int, size: int, channels: int, out_channels: int, dtype: str, repeats: int) -> float:
    images = tf.cast(tf.random.normal([batch_size, size, size, channels]), dtype)
    kernel = tf.cast(tf.random.normal([4, 4, channels, out_channels]), dtype)
    convolve = tf.function(lambda: tf.nn.conv2d(images, kernel, 2, "SAME"))
    for _ in range(2):
        convolve().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        result = convolve()
    result.numpy()
    seconds = (time.perf_counter() - start) / repeats
    flops = 2 * batch_size * (size // 2) ** 2 * out_channels * 4 * 4 * channels
    return flops / seconds / 1e9
