"""Run as a script: one training step on 2 replicas vs 1 replica, same global batch and draws;
the improved model's with its learning rates halfway down a linear fall (set in the step);
the losses' running means saved and given back across both replicas.

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
from kgan.training.learning_rate import LinearDecay  # noqa: E402
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
    if variant == "wgangp":  # the step's own rates: half the base ones, in both strategies
        for gan in (single, mirrored):
            gan.learning_rates = LinearDecay(config.lr_g, config.lr_d, start_step=-2, end_step=2)
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
    if variant == "wgangp":
        for gan in (single, mirrored):
            rate = float(tf.convert_to_tensor(gan.d_optimizer.learning_rate))  # a mirrored variable's value
            assert np.isclose(rate, config.lr_d / 2), "the fall's rate was not taken"
    # The losses' running means, as a checkpoint inside an epoch keeps them: both replicas'
    # shares, given back after the next epoch's reset.
    means = mirrored.running_means()
    assert all(len(totals) == len(counts) == 2 for totals, counts in means.values()), means
    mirrored.reset_metrics()
    assert mirrored.resume_running_means(means) and mirrored.running_means() == means
    assert np.isclose(float(mirrored.trackers["d_loss"].result()), two), "the running mean came back changed"
    print(variant, diff, abs(one - two), flush=True)
