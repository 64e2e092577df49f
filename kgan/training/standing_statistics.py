"""BatchNorm statistics that belong to the generator's own weights ("standing statistics").

`--ema` averages G's weights along training. BatchNorm's moving mean and variance cannot be
averaged the same way: they describe the activations of the weights that produced them, and
the averaged weights make other activations. Measured on the average's own activations, as
BigGAN does for its averaged generator, the statistics match the weights that are sampled.

The noise and attributes come from a stream of their own, so measuring twice gives the same
statistics and consumes nothing of training's random draws (a resumed run stays bit-exact).
"""

from __future__ import annotations

import keras
import numpy as np

from kgan.data.attributes import Conditions
from kgan.sampling import fixed_noise

STANDING_STREAM = 0x57A7  # the noise these statistics are measured on, apart from grids' and FID's
BATCHES = 16  # the mean of this many batches' statistics
BATCH_SIZE = 64


def batch_norms(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def measure(
    generator: keras.Model,
    z_dim: int,
    seed: int,
    conditions: Conditions | None = None,
    batches: int = BATCHES,
    batch_size: int = BATCH_SIZE,
) -> None:
    """Set every BatchNorm's moving mean and variance of `generator` to the mean of its batch
    statistics over `batches` batches of z (and attributes drawn from the training shares)."""
    norms = batch_norms(generator)
    if not norms:
        return
    count = batches * batch_size
    z = fixed_noise(seed, count, z_dim, stream=STANDING_STREAM)
    codes = conditions.draw(count, np.random.default_rng([seed, STANDING_STREAM])) if conditions else None
    saved = [(norm.trainable, norm.momentum, norm.synchronized) for norm in norms]
    try:
        for norm in norms:
            norm.trainable = True  # a frozen BatchNorm normalises by its moving statistics and keeps them
            norm.synchronized = False  # one process measures the whole batch, outside any replica
        for k in range(batches):
            for norm in norms:  # moving ← k/(k+1)·moving + 1/(k+1)·batch: the mean of the batches so far
                norm.momentum = k / (k + 1)
            part = slice(k * batch_size, (k + 1) * batch_size)
            generator(z[part] if codes is None else [z[part], codes[part]], training=True)
    finally:
        for norm, (trainable, momentum, synchronized) in zip(norms, saved):
            norm.trainable, norm.momentum, norm.synchronized = trainable, momentum, synchronized
