"""Choosing the tf.distribute strategy a run trains under.

`auto` uses MirroredStrategy when more than one GPU is visible, else the default
(single-device) strategy; `mirrored` mirrors over every GPU, or over every logical CPU
device when there is no GPU (how the tests check multi-replica equality on a CPU).
Models and both optimizers are built inside the chosen strategy's scope (`train.build_gan`);
losses are averaged over the global batch (`gan.GAN._mean`), BatchNorm is synchronized
across replicas (`models._norm`), and fit splits each global batch between the replicas.
"""

from __future__ import annotations

import tensorflow as tf

from kgan.errors import KganError


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    gpus = tf.config.list_logical_devices("GPU")
    if name == "default" or (name == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    if name in ("auto", "mirrored"):
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multiworker":
        raise KganError("multi-worker runs train through kgan.multiworker.train_multiworker (kgan train does this)")
    raise KganError(f"unknown strategy {name!r}: choose auto, default, mirrored or multiworker")
