"""DiffAugment: differentiable, drawn from (seed, step), applied to every image D sees, and a
resumed run stays bit-exact with it on."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import final_weights, tiny_config

from kgan.config import augmentations
from kgan.data.dataset import PreparedDataset
from kgan.data.pipeline import training_dataset
from kgan.errors import KganError
from kgan.runs import create_run
from kgan.training import augment
from kgan.training.augment import DRAWS_PER_IMAGE as AUGMENT_DRAWS
from kgan.training.gan import GAN
from kgan.training.session import train

ALL = ("color", "translation", "cutout")


def test_policy_names_are_checked():
    assert augmentations("cutout, color") == ("color", "cutout") and augmentations("") == ()
    with pytest.raises(KganError, match="unknown transform"):
        augmentations("color,rotate")
    with pytest.raises(KganError, match="unknown transform"):
        tiny_config(augment="rotate")


def test_transforms_do_what_they_say():
    images = tf.random.uniform([2, 16, 16, 3], -1, 1, seed=1)
    draws = np.full([2, augment.DRAWS], 0.5, np.float32)
    draws[0, 3:5] = [0.99, 0.5]  # translation: +2 rows (⅛ of 16), no column shift
    shifted = augment.augment(images, draws, ("translation",)).numpy()
    np.testing.assert_array_equal(shifted[0, 2:], images.numpy()[0, :-2])
    assert (shifted[0, :2] == 0).all()
    np.testing.assert_array_equal(shifted[1], images.numpy()[1])  # u = ½: no shift
    cut = augment.augment(images, draws, ("cutout",)).numpy()
    assert ((cut == 0).all(axis=3).sum(axis=(1, 2)) == 8 * 8).all()  # a square of half the size, inside
    neutral = np.tile(np.asarray([[0.5, 0.5, 0.5]], np.float32), [2, 1])
    np.testing.assert_allclose(augment._color(images, neutral), images, atol=1e-6)  # u = ½: unchanged


def test_transforms_are_differentiable_and_gradients_reach_the_generator():
    images = tf.Variable(tf.random.uniform([4, 16, 16, 3], -1, 1, seed=2))
    draws = tf.random.uniform([4, augment.DRAWS], seed=3)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(tf.square(augment.augment(images, draws, ALL)))
    gradient = tape.gradient(total, images)
    assert gradient is not None and np.isfinite(gradient.numpy()).all() and np.abs(gradient.numpy()).sum() > 0

    config = tiny_config(augment="color,translation,cutout")
    gan = GAN.from_config_values(config)
    z = tf.random.normal([4, config.z_dim], seed=4)
    draws = tf.random.uniform([4, AUGMENT_DRAWS], seed=5)
    with tf.GradientTape() as tape:
        fake = gan.generator(z, training=True)
        loss = gan.generator_loss(gan.discriminator(gan._seen_by_d(fake, draws, 2), training=True))
    for variable, grad in zip(
        gan.generator.trainable_variables, tape.gradient(loss, gan.generator.trainable_variables)
    ):
        assert grad is not None and np.abs(grad.numpy()).sum() > 0, variable.path


def test_draws_depend_on_seed_and_step_only():
    images = np.random.default_rng(0).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8)

    def draws(seed: int, start: int) -> list[np.ndarray]:
        common = dict(
            image_size=32, batch_size=4, z_dim=8, seed=seed, steps_per_epoch=5, end_step=10, augment_draws=AUGMENT_DRAWS
        )
        return [element["augment"].numpy() for element in training_dataset(images, start_step=start, **common)]

    straight, resumed = draws(3, 0), draws(3, 6)
    assert straight[0].shape == (4, AUGMENT_DRAWS)
    for step in range(6, 10):
        np.testing.assert_array_equal(straight[step], resumed[step - 6])
    assert not np.array_equal(straight[0], straight[1]) and not np.array_equal(straight[0], draws(4, 0)[0])
    plain = next(
        iter(
            training_dataset(
                images, image_size=32, batch_size=4, z_dim=8, seed=3, steps_per_epoch=5, start_step=0, end_step=1
            )
        )
    )
    assert "augment" not in plain  # off: the pipeline is as before


class Spy(keras.Model):
    """A linear critic that keeps every batch it is shown."""

    def __init__(self, size: int):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.flat = keras.layers.Flatten()
        self.seen: list[np.ndarray] = []
        self.build((None, size, size, 3))

    def build(self, shape):
        self.dense.build((None, shape[1] * shape[2] * shape[3]))
        self.built = True

    def call(self, images, training=False):
        self.seen.append(np.asarray(images))
        return self.dense(self.flat(images))


def test_every_image_d_sees_is_augmented():
    config = tiny_config(augment="cutout", variant="wgangp", d_norm="none")
    gan = GAN.from_config_values(config)
    spy = Spy(config.image_size)
    gan = type(gan)(gan.generator, spy, gp_weight=config.gp_weight, augment=("cutout",))
    gan.compile(keras.optimizers.RMSprop(1e-4), keras.optimizers.RMSprop(1e-4))
    batch = 4
    data = {
        "real": tf.random.uniform([batch, 32, 32, 3], 0.2, 1.0, seed=6),  # no zeros of its own
        "z": tf.random.normal([batch, config.z_dim], seed=7),
        "alpha": tf.random.uniform([batch, 1, 1, 1], seed=8),
        "augment": tf.random.uniform([batch, AUGMENT_DRAWS], seed=9),
    }
    gan.train_step(data)
    # D's calls: real, fake, the penalty's interpolates, then G's fake.
    real, fake, mixed, for_g = spy.seen
    for seen in (real, fake, for_g):  # each with its cut-out square
        zeros = (seen == 0).all(axis=3).sum(axis=(1, 2))
        assert (zeros >= 8 * 8).all(), zeros  # a 16×16 square at most clipped to a quarter by the border
    alpha = data["alpha"].numpy()
    np.testing.assert_allclose(mixed, alpha * real + (1 - alpha) * fake, atol=1e-6)  # between what D saw
    assert not np.array_equal(fake, for_g)  # G's update draws its own transforms


def test_resume_is_bit_exact_with_augmentation(tmp_path, small_dataset):
    config = tiny_config(epochs=3, augment="color,translation,cutout")
    straight = create_run(config, PreparedDataset(small_dataset), tmp_path / "straight")
    assert train(straight).status == "finished"
    resumed = create_run(config, PreparedDataset(small_dataset), tmp_path / "resumed")
    assert train(resumed, epochs=1).status == "finished"
    assert train(resumed, epochs=3).status == "finished"
    for a, b in zip(final_weights(straight), final_weights(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    plain = create_run(tiny_config(epochs=3), PreparedDataset(small_dataset), tmp_path / "plain")
    assert train(plain).status == "finished"
    assert not all(np.array_equal(a, b) for a, b in zip(final_weights(straight), final_weights(plain)))
