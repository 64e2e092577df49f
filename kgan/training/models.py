"""DCGAN generator and discriminator (Radford et al.; pytorch/examples layout).

Generator: z → 4×4 by a 4×4 transposed conv, then stride-2 4×4 transposed convs that
halve the width while doubling the resolution, BatchNorm + ReLU between, Tanh out.
Discriminator: stride-2 4×4 convs doubling the width, LeakyReLU(0.2), a normalisation
after every conv but the first, and a 4×4 valid conv to one score. The score is a logit:
the paper's final sigmoid lives in the loss (`gan.py`), where it is numerically stable.
A conditional pair (`conditions`) is the same with the attributes joined to z and entering
G's BatchNorms, and D's projection term (`conditional.py`), optionally an AC-GAN head that
guesses them (`aux_weight`); without conditions, not one layer differs.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

from kgan.config import TrainConfig
from kgan.data.attributes import Conditions
from kgan.training.conditional import ClassAffine, MultiHot, Projection
from kgan.training.convolution import RoutedConv2D, RoutedConv2DTranspose
from kgan.training.norms import FusedBatchNormalization


def conv_init() -> keras.initializers.Initializer:
    """N(0, 0.02), as DCGAN. A new initializer per layer, made when the model is built: its
    seed then comes from the run's seeded state (`keras.utils.set_random_seed`), so a run's
    weights depend on its seed alone, not on when this module was imported."""
    return keras.initializers.RandomNormal(0.0, 0.02)


def gamma_init() -> keras.initializers.Initializer:
    """N(1, 0.02) for normalisation scales, as DCGAN; made per layer like `conv_init`."""
    return keras.initializers.RandomNormal(1.0, 0.02)


def _stages(image_size: int) -> int:
    """Stride-2 stages between 4×4 and the image: 3 for 32, 4 for 64, 5 for 128."""
    return int(math.log2(image_size)) - 2


def _synchronized() -> bool:
    """BatchNorm statistics over the global batch when training on several replicas."""
    return tf.distribute.get_strategy().num_replicas_in_sync > 1


def _norm(kind: str, name: str) -> layers.Layer:
    if kind == "batch":
        # PyTorch's BatchNorm defaults (momentum 0.1 there is 0.9 here), DCGAN γ init.
        return FusedBatchNormalization(
            momentum=0.9, epsilon=1e-5, gamma_initializer=gamma_init(), synchronized=_synchronized(), name=name
        )
    if kind == "plain_batch":  # conditional BatchNorm's normalisation; γ and β come from the codes
        return FusedBatchNormalization(
            momentum=0.9, epsilon=1e-5, center=False, scale=False, synchronized=_synchronized(), name=name
        )
    if kind == "instance":
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, gamma_initializer=gamma_init(), name=name)
    if kind == "layer":
        return layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5, gamma_initializer=gamma_init(), name=name)
    return layers.Identity(name=name)


def build_generator(config: TrainConfig, name: str = "generator", conditions: Conditions | None = None) -> keras.Model:
    """z `[B, z_dim]` → image `[B, S, S, 3]` in [-1, 1]; with `conditions`, [z, codes `[B, A]`] →
    image, the codes' multi-hot row joined to z and every BatchNorm conditional (`conditional.py`)."""
    stages = _stages(config.image_size)
    z = keras.Input((config.z_dim,), name="z")
    codes = keras.Input((len(conditions.attributes),), dtype="int32", name="labels") if conditions else None

    def norm(x, layer_name: str):
        if codes is None:
            return _norm("batch", layer_name)(x)
        x = _norm("plain_batch", layer_name)(x)
        return ClassAffine(conditions.sizes, name=f"{layer_name}_affine")([x, codes])

    x = z if codes is None else layers.Concatenate(name="z_and_attributes")([z, MultiHot(conditions.sizes)(codes)])
    x = layers.Reshape((1, 1, x.shape[-1]))(x)
    width = config.g_width * 2 ** (stages - 1)
    x = RoutedConv2DTranspose(
        width, 4, strides=1, padding="valid", use_bias=False, kernel_initializer=conv_init(), name="project"
    )(x)
    x = norm(x, "project_bn")
    x = layers.ReLU()(x)
    for stage in range(1, stages):
        width //= 2
        x = RoutedConv2DTranspose(
            width, 4, strides=2, padding="same", use_bias=False, kernel_initializer=conv_init(), name=f"up{stage}"
        )(x)
        x = norm(x, f"up{stage}_bn")
        x = layers.ReLU()(x)
    x = RoutedConv2DTranspose(3, 4, strides=2, padding="same", kernel_initializer=conv_init(), name="to_rgb")(x)
    image = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(z if codes is None else [z, codes], image, name=name)


def build_discriminator(
    config: TrainConfig, name: str = "discriminator", conditions: Conditions | None = None
) -> keras.Model:
    """image `[B, S, S, 3]` → logit `[B, 1]` (sigmoid applied by the loss when it is BCE); with
    `conditions`, [image, codes `[B, A]`] → logit plus the projection term (`conditional.Projection`)."""
    stages = _stages(config.image_size)
    image = keras.Input((config.image_size, config.image_size, 3), name="image")
    x = RoutedConv2D(config.d_width, 4, strides=2, padding="same", kernel_initializer=conv_init(), name="down0")(image)
    x = layers.LeakyReLU(0.2)(x)
    width = config.d_width
    for stage in range(1, stages):
        width *= 2
        x = RoutedConv2D(
            width,
            4,
            strides=2,
            padding="same",
            use_bias=config.d_norm == "none",
            kernel_initializer=conv_init(),
            name=f"down{stage}",
        )(x)
        x = _norm(config.d_norm, f"down{stage}_norm")(x)
        x = layers.LeakyReLU(0.2)(x)
    features = x
    x = RoutedConv2D(1, 4, strides=1, padding="valid", kernel_initializer=conv_init(), name="score")(x)
    logit = layers.Flatten(dtype="float32", name="logit")(x)
    if not conditions:
        return keras.Model(image, logit, name=name)
    codes = keras.Input((len(conditions.attributes),), dtype="int32", name="labels")
    projected = Projection(conditions.sizes, dtype="float32", name="projection")([features, codes])
    logit = layers.Add(dtype="float32", name="conditional_logit")([logit, projected])
    if not config.aux_weight:
        return keras.Model([image, codes], logit, name=name)
    pooled = layers.GlobalAveragePooling2D(dtype="float32", name="pooled")(features)
    guesses = layers.Dense(sum(conditions.sizes), kernel_initializer=conv_init(), dtype="float32", name="aux")(pooled)
    return keras.Model([image, codes], [logit, guesses], name=name)
