"""The GAN math against hand computations, and the train/inference mode contract."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from kgan.config import TrainConfig
from kgan.training.gan import DCGAN, GAN, WGANGP, gan_class, make_optimizers
from kgan.training.models import build_discriminator, build_generator


def linear_critic(size: int, weights: np.ndarray) -> keras.Model:
    """D(x) = <w, x>: its input gradient is w everywhere, so ‖∇D‖ = ‖w‖ exactly."""
    image = keras.Input((size, size, 3))
    flat = keras.layers.Flatten()(image)
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(image, dense(flat))
    dense.set_weights([weights.reshape(-1, 1)])
    return model


def make_gan(discriminator, loss, gp_weight=10.0):
    config = tiny_config()
    return gan_class(loss)(build_generator(config), discriminator, gp_weight=gp_weight)


def test_gradient_penalty_uses_the_norm_of_the_whole_image():
    size = 4
    w = np.random.default_rng(0).normal(size=size * size * 3).astype(np.float32) * 0.1
    gan = make_gan(linear_critic(size, w), "wasserstein")
    real = tf.random.uniform([6, size, size, 3])
    fake = tf.random.uniform([6, size, size, 3])
    alpha = tf.random.uniform([6, 1, 1, 1])
    expected = (np.linalg.norm(w) - 1.0) ** 2
    assert float(gan.gradient_penalty(real, fake, alpha)) == pytest.approx(expected, rel=1e-5)
    # A per-pixel (channels-only) norm, the reference code's bug, would give another value.
    per_pixel = np.mean((np.linalg.norm(w.reshape(size * size, 3), axis=1) - 1.0) ** 2)
    assert abs(per_pixel - expected) > 1e-2


def test_literal_table2_penalty_is_taken_on_the_sigmoid_output():
    size = 2
    w = np.full(size * size * 3, 0.3, np.float32)
    gan = make_gan(linear_critic(size, w), "bce")
    real, fake = tf.ones([1, size, size, 3]), tf.zeros([1, size, size, 3])
    alpha = tf.fill([1, 1, 1, 1], 0.5)
    mixed = 0.5 * np.ones(size * size * 3)
    s = 1.0 / (1.0 + np.exp(-(w @ mixed)))
    expected = (s * (1 - s) * np.linalg.norm(w) - 1.0) ** 2
    assert float(gan.gradient_penalty(real, fake, alpha)) == pytest.approx(expected, rel=1e-5)


def test_losses_match_their_equations():
    gan = make_gan(linear_critic(2, np.zeros(12, np.float32)), "bce", gp_weight=0)
    real_logits = tf.constant([[2.0], [-1.0]])
    fake_logits = tf.constant([[0.5], [-3.0]])

    def sig(x):
        return 1 / (1 + np.exp(-np.asarray(x)))

    bce_d = 0.5 * (np.mean(-np.log(sig([2.0, -1.0]))) + np.mean(-np.log(1 - sig([0.5, -3.0]))))
    assert float(gan.discriminator_loss(real_logits, fake_logits)) == pytest.approx(bce_d, rel=1e-6)
    assert float(gan.generator_loss(fake_logits)) == pytest.approx(np.mean(-np.log(sig([0.5, -3.0]))), rel=1e-6)
    gan = make_gan(gan.discriminator, "wasserstein", gp_weight=0)
    assert float(gan.discriminator_loss(real_logits, fake_logits)) == pytest.approx(-1.25 - 0.5)
    assert float(gan.generator_loss(fake_logits)) == pytest.approx(1.25)


def test_the_loss_picks_the_model():
    assert type(GAN.from_config_values(tiny_config(variant="dcgan"))) is DCGAN
    assert type(GAN.from_config_values(tiny_config(variant="wgangp"))) is WGANGP
    literal = GAN.from_config_values(tiny_config(variant="wgangp", loss="bce"))  # Table 2 read literally
    assert type(literal) is DCGAN and literal.gp_weight == 10.0


@pytest.mark.parametrize("variant", ["dcgan", "wgangp"])
def test_train_step_updates_both_models_and_tracks_metrics(variant):
    config = tiny_config(variant=variant, n_critic=2 if variant == "wgangp" else 1)
    gan = GAN.from_config_values(config)
    gan.compile(*make_optimizers(config))
    per_step = config.batch_size * config.n_critic
    batch = {
        "real": tf.random.uniform([per_step, 32, 32, 3], -1, 1),
        "z": tf.random.normal([per_step, config.z_dim]),
        "alpha": tf.random.uniform([per_step, 1, 1, 1]),
    }
    g_before = [w.copy() for w in gan.generator.get_weights()]
    d_before = [w.copy() for w in gan.discriminator.get_weights()]
    logs = gan.train_step(batch)
    assert set(logs) == {"d_loss", "g_loss", "penalty", "d_real", "d_fake"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert int(gan.d_optimizer.iterations) == config.n_critic and int(gan.g_optimizer.iterations) == 1
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, gan.generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, gan.discriminator.get_weights()))
    if variant == "wgangp":
        assert float(logs["penalty"]) > 0


def test_models_follow_the_dcgan_layout():
    for size in (32, 64, 128):
        config = TrainConfig(image_size=size)
        generator, discriminator = build_generator(config), build_discriminator(config)
        assert generator.output_shape == (None, size, size, 3)
        assert discriminator.output_shape == (None, 1)
    config = TrainConfig()
    assert build_generator(config).count_params() == 3_578_627  # == pytorch/examples netG + to_rgb bias
    kernel = build_discriminator(config).get_layer("down1").kernel.numpy()
    assert abs(kernel.std() - 0.02) < 0.002 and abs(kernel.mean()) < 0.002
    norms = build_discriminator(TrainConfig.for_variant("wgangp")).get_layer("down1_norm")
    assert isinstance(norms, keras.layers.GroupNormalization) and norms.groups == 128  # one group per channel


def test_sampling_uses_inference_mode():
    config = tiny_config()
    generator = build_generator(config)
    z = tf.random.normal([4, config.z_dim])
    one = generator(z[:1], training=False).numpy()
    batch = generator(z, training=False).numpy()
    np.testing.assert_allclose(one[0], batch[0], atol=1e-5)  # no batch statistics at inference
    train_mode = generator(z, training=True).numpy()
    assert not np.allclose(train_mode[0], batch[0], atol=1e-4)


def test_initial_weights_depend_on_the_seed_alone():
    # Each layer's initializer is made at build time, seeded by the run's seed, so the same
    # seed builds the same weights (in any process) and another seed builds others.
    def built(seed: int) -> list[np.ndarray]:
        keras.utils.set_random_seed(seed)
        gan = GAN.from_config_values(tiny_config())
        return gan.generator.get_weights() + gan.discriminator.get_weights()

    first, again, other = built(1), built(1), built(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
