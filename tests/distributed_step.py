"""Run as a script: one training step on 2 replicas vs 1 replica, same global batch and draws.

Prints one line per variant: `<variant> <max |Δweight|> <Δ d_loss>`. A separate process,
because logical devices must be configured before TensorFlow initialises.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from helpers import tiny_config  # noqa: E402

from kgan.training import distribute  # noqa: E402
from kgan.training.session import build_gan  # noqa: E402

mirrored_strategy = distribute.make_strategy("mirrored")
assert mirrored_strategy.num_replicas_in_sync == 2
for variant, ema in (("dcgan", 0.9), ("wgangp", 0.0)):
    config = tiny_config(variant=variant, batch_size=8, ema=ema, deterministic=False)
    rng = np.random.default_rng(0)
    batch = {
        "real": rng.uniform(-1, 1, (8, 32, 32, 3)).astype("float32"),
        "z": rng.normal(size=(8, config.z_dim)).astype("float32"),
        "alpha": rng.uniform(size=(8, 1, 1, 1)).astype("float32"),
    }
    data = tf.data.Dataset.from_tensors(batch)
    single = build_gan(config, tf.distribute.get_strategy())
    mirrored = build_gan(config, mirrored_strategy)
    models = ["generator", "discriminator"] + (["ema_generator"] if ema else [])
    for name in models:
        getattr(mirrored, name).set_weights(getattr(single, name).get_weights())
    one = single.fit(data, epochs=1, steps_per_epoch=1, verbose=0).history["d_loss"][0]
    two = mirrored.fit(data, epochs=1, steps_per_epoch=1, verbose=0).history["d_loss"][0]
    diff = max(
        float(np.abs(a - b).max())
        for name in models
        for a, b in zip(getattr(single, name).get_weights(), getattr(mirrored, name).get_weights())
    )
    print(variant, diff, abs(one - two), flush=True)
