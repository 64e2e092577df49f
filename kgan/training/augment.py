"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for small datasets.

The same kind of random transform is applied to every image D sees — real and generated
alike, in both D terms, the penalty's interpolates and the G update — so D cannot
memorise the few real images, and G's gradient flows back through the transform:

    color        brightness + (u − ½), saturation × 2u, contrast × (u + ½)    (per image)
    translation  shift by up to ⅛ of the size on each axis, zeros shifted in
    cutout       one square of half the size set to zero

Every random number comes from the input pipeline, drawn from (seed, step), so a resumed
run transforms exactly as an uninterrupted one.
"""

from __future__ import annotations

import tensorflow as tf

DRAWS = 7  # uniforms per image and view: 3 color, 2 translation, 2 cutout
VIEWS = ("real", "fake", "generator")  # D's real batch, D's fake batch, the fake batch of G's update
DRAWS_PER_IMAGE = DRAWS * len(VIEWS)  # what the input pipeline draws for each image
TRANSLATION, CUTOUT = 1 / 8, 1 / 2


def augment(images: tf.Tensor, draws: tf.Tensor, transforms: tuple[str, ...]) -> tf.Tensor:
    """`images` [B, H, W, C] in [-1, 1] transformed by `draws` [B, DRAWS] uniforms in [0, 1)."""
    draws = tf.cast(draws, images.dtype)
    if "color" in transforms:
        images = _color(images, draws[:, 0:3])
    if "translation" in transforms:
        images = _translation(images, draws[:, 3:5])
    if "cutout" in transforms:
        images = _cutout(images, draws[:, 5:7])
    return images


def _per_image(values: tf.Tensor) -> tf.Tensor:
    return values[:, None, None, None]


def _color(images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    images = images + _per_image(u[:, 0] - 0.5)
    mean = tf.reduce_mean(images, axis=3, keepdims=True)
    images = (images - mean) * _per_image(u[:, 1] * 2.0) + mean
    mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
    return (images - mean) * _per_image(u[:, 2] + 0.5) + mean


def _translation(images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Shift each image by whole pixels; what leaves one side is gone, zeros come in."""
    height, width = images.shape[1], images.shape[2]
    limit = tf.constant([int(height * TRANSLATION + 0.5), int(width * TRANSLATION + 0.5)], images.dtype)
    shift = tf.cast(tf.floor(u * (2.0 * limit + 1.0)) - limit, tf.int32)  # integers in [−limit, limit]
    rows = tf.range(height)[None, :] - shift[:, 0:1]  # [B, H]: the source row of each output row
    columns = tf.range(width)[None, :] - shift[:, 1:2]
    inside_rows = tf.cast((rows >= 0) & (rows < height), images.dtype)
    inside_columns = tf.cast((columns >= 0) & (columns < width), images.dtype)
    images = tf.gather(images, tf.clip_by_value(rows, 0, height - 1), axis=1, batch_dims=1)
    images = tf.gather(images, tf.clip_by_value(columns, 0, width - 1), axis=2, batch_dims=1)
    return images * inside_rows[:, :, None, None] * inside_columns[:, None, :, None]


def _cutout(images: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Zero one square of half the image's size, centred anywhere (clipped at the borders)."""
    height, width = images.shape[1], images.shape[2]
    size = tf.constant([int(height * CUTOUT + 0.5), int(width * CUTOUT + 0.5)], tf.int32)
    centre = tf.cast(tf.floor(u * tf.cast(tf.constant([height, width]) + 1 - size % 2, u.dtype)), tf.int32)
    start = centre - size // 2
    rows = tf.range(height)[None, :]
    columns = tf.range(width)[None, :]
    in_rows = (rows >= start[:, 0:1]) & (rows < start[:, 0:1] + size[0])
    in_columns = (columns >= start[:, 1:2]) & (columns < start[:, 1:2] + size[1])
    keep = 1.0 - tf.cast(in_rows[:, :, None] & in_columns[:, None, :], images.dtype)
    return images * keep[:, :, :, None]
