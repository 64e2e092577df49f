"""Process-wide TensorFlow settings that training and benchmarks share."""

from __future__ import annotations

import tensorflow as tf


def configure(deterministic: bool = False) -> None:
    """Apply kgan's TensorFlow settings (idempotent).

    Grappler's remapper fails on the GAN train step (the nested gradient tapes) and logs an
    error on every trace; measured on a 2-core CPU, turning it off changes step speed by
    less than the run-to-run noise (~2%), so it is off.
    """
    tf.config.optimizer.set_experimental_options({"remapping": False})
    if deterministic:
        tf.config.experimental.enable_op_determinism()
