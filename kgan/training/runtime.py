"""Process-wide TensorFlow settings that training and benchmarks share."""

from __future__ import annotations

import tensorflow as tf

from kgan.training import gradient_sums


def configure(deterministic: bool = False) -> None:
    """Apply kgan's TensorFlow settings (idempotent).

    Gradients are always summed in a fixed order (`gradient_sums`): with the same seed on
    the same machine, two runs give the same weights bit for bit. `deterministic` adds
    TensorFlow's op determinism, which GPU kernels (cuDNN's) need for the same guarantee.

    Grappler's remapper fails on the GAN train step (the nested gradient tapes) and logs an
    error on every trace; turning it off changes step speed by less than the run-to-run
    noise, so it is off.
    """
    tf.config.optimizer.set_experimental_options({"remapping": False})
    gradient_sums.install()
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        # Determinism is per run, not per process (tests and notebooks run several); it also
        # makes Keras refuse XLA. TensorFlow has no public switch back, hence the private one.
        from tensorflow.python.framework import config as tf_config

        if getattr(tf_config, "is_op_determinism_enabled", lambda: False)():
            tf_config.disable_op_determinism()
