"""The tf.data input pipeline: packed uint8 images → resized float batches in [-1, 1].

Everything random in training is drawn here from (seed, epoch) or (seed, step) with
stateless ops: the image order of each epoch, the noise z for D and G, and the
interpolation weights α of the gradient penalty. So a run resumed at step s sees exactly
what an uninterrupted run saw at step s, and every replica of a distributed run gets its
slice of the same global draws.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from kgan.data.dataset import PreparedDataset

DEFAULT_CACHE_BYTES = 4 << 30  # load a split into RAM when it is at most this big


def to_model_range(images: tf.Tensor, size: int) -> tf.Tensor:
    """uint8 `[N, S, S, 3]` → float32 `[N, size, size, 3]` in [-1, 1], antialiased resize."""
    images = tf.cast(images, tf.float32)
    if images.shape[1] != size:
        images = tf.image.resize(images, [size, size], method="bilinear", antialias=True)
    return tf.clip_by_value(images / 127.5 - 1.0, -1.0, 1.0)


def load_split(
    dataset: PreparedDataset,
    split: str,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    image_size: int | None = None,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """The split's images (those where the bool mask `keep` is true, when given): in RAM when
    small enough, else read from the file batch by batch.

    With `image_size` at most half the stored size, the copy in RAM is the model's input
    itself — resized and scaled once, float32, the values `to_model_range` gives — which
    takes no more memory than the stored pixels and spares every epoch the resize."""
    indices = dataset.indices(split)
    if keep is not None:
        indices = indices[keep]
    if indices.size * dataset.image_size**2 * 3 > cache_bytes:
        return _LazySplit(dataset, indices)
    if image_size and 2 * image_size <= dataset.image_size:
        return _model_ready(dataset, indices, image_size)
    return dataset.read_rows(indices)


MODEL_READY_CHUNK = 128  # images resized at once: bounds the conversion's memory


def _model_ready(dataset: PreparedDataset, indices: np.ndarray, image_size: int) -> np.ndarray:
    """`to_model_range` of the rows at `indices`, converted a chunk at a time so that the
    stored pixels never sit in memory all at once."""
    ready = np.empty((len(indices), image_size, image_size, 3), np.float32)
    for start in range(0, len(indices), MODEL_READY_CHUNK):
        rows = dataset.read_rows(indices[start : start + MODEL_READY_CHUNK])
        ready[start : start + len(rows)] = to_model_range(tf.constant(rows), image_size).numpy()
    return ready


class _LazySplit:
    """Index a split without reading it all: `split[positions]` reads only those rows."""

    dtype = np.dtype(np.uint8)

    def __init__(self, dataset: PreparedDataset, indices: np.ndarray):
        self.dataset, self.indices = dataset, indices
        self.shape = (len(indices), *dataset.images.shape[1:])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        return self.dataset.read_rows(self.indices[positions])


def epoch_order(count: int, needed: int, seed: int, epoch: tf.Tensor) -> tf.Tensor:
    """Positions into the split for one epoch: a seeded shuffle, repeated if `needed > count`."""
    base = tf.range(max(count, needed), dtype=tf.int64) % count
    seed_pair = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(base, seed=seed_pair)[:needed]


def training_dataset(
    images: np.ndarray,
    *,
    image_size: int,
    batch_size: int,
    z_dim: int,
    seed: int,
    steps_per_epoch: int,
    start_step: int,
    end_step: int,
    n_critic: int = 1,
    augment_draws: int = 0,
    flip: bool = False,
    labels: np.ndarray | None = None,
) -> tf.data.Dataset:
    """One element per training step, for steps `start_step .. end_step - 1`, from `images`:
    uint8 `[N, S, S, 3]` (or a lazy split), or a model-ready float32 split (`load_split`).

    Each element is a dict: `real` [n_critic·B, size, size, 3] float32 in [-1, 1] (a fresh
    real batch for every critic step), `z` [n_critic·B, z_dim] (the noise of each critic
    step; the last one also feeds the G step) and `alpha` [n_critic·B, 1, 1, 1] (penalty
    interpolation weights); with `augment_draws`, also `augment` [n_critic·B, augment_draws]
    (uniforms for DiffAugment's transforms, as many as it asks for). With `flip`, each real
    image is mirrored left to right with probability ½, decided by its own draw from (seed, step).
    With `labels` (int32 `[N, attributes]`, a conditional run's), also `labels`
    [n_critic·B, attributes]: each real image's attributes, which its fake partner is asked for.
    """
    count = len(images)
    per_step = n_critic * batch_size
    per_epoch = steps_per_epoch * per_step
    first_epoch, offset = divmod(start_step, steps_per_epoch)
    last_epoch = -(-end_step // steps_per_epoch)

    positions = (
        tf.data.Dataset.range(first_epoch, last_epoch)
        .flat_map(lambda e: tf.data.Dataset.from_tensor_slices(epoch_order(count, per_epoch, seed, e)))
        .skip(offset * per_step)
        .take((end_step - start_step) * per_step)
        .batch(per_step, drop_remainder=True)
    )

    ready = images.dtype == np.float32  # a model-ready split (load_split): gather only
    if ready and images.shape[1] != image_size:
        raise ValueError(f"a model-ready split of {images.shape[1]} px fed to a {image_size}-px model")

    def gather(batch_positions: np.ndarray) -> np.ndarray:
        return np.asarray(images[batch_positions])

    def load(batch_positions: tf.Tensor) -> tf.Tensor:
        batch = tf.numpy_function(gather, [batch_positions], tf.float32 if ready else tf.uint8, stateful=False)
        batch.set_shape([per_step, *images.shape[1:]])
        return batch if ready else to_model_range(batch, image_size)

    def draws(step: tf.Tensor) -> dict[str, tf.Tensor]:
        def seeded(j: int) -> tf.Tensor:
            return tf.stack([tf.constant(seed, tf.int64), step * 4 + j])

        drawn = {
            "z": tf.random.stateless_normal([per_step, z_dim], seed=seeded(0)),
            "alpha": tf.random.stateless_uniform([per_step, 1, 1, 1], seed=seeded(1)),
        }
        if augment_draws:
            drawn["augment"] = tf.random.stateless_uniform([per_step, augment_draws], seed=seeded(2))
        if flip:
            drawn["mirror"] = tf.random.stateless_uniform([per_step], seed=seeded(3)) < 0.5
        return drawn

    table = None if labels is None else tf.constant(labels, tf.int32)
    if table is not None and len(labels) != count:
        raise ValueError(f"{len(labels)} label rows for {count} images")

    def load_labelled(batch_positions: tf.Tensor) -> dict[str, tf.Tensor]:
        loaded = {"real": load(batch_positions)}
        if table is not None:
            loaded["labels"] = tf.gather(table, batch_positions)
        return loaded

    def combine(loaded: dict[str, tf.Tensor], drawn: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        if flip:
            mirror = drawn.pop("mirror")[:, None, None, None]
            loaded["real"] = tf.where(mirror, tf.reverse(loaded["real"], axis=[2]), loaded["real"])
        return {**loaded, **drawn}

    real = positions.map(load_labelled, num_parallel_calls=tf.data.AUTOTUNE)
    noise = tf.data.Dataset.range(start_step, end_step).map(draws, num_parallel_calls=tf.data.AUTOTUNE)
    batches = (
        tf.data.Dataset.zip(real, noise).map(combine, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    )
    return batches.with_options(_released_at_once())


def _released_at_once() -> tf.data.Options:
    """Options for a pipeline whose iterator is freed as soon as it is dropped.

    tf.data's autotuning runs a model thread per iterator that sleeps up to 60 s between
    tunings; freeing the iterator wakes it before marking it cancelled, so the thread
    can sleep again and hold the freeing thread until its next tuning. At the end of
    `fit` that was a run sitting 25–63 s after its last epoch. Without the model thread,
    AUTOTUNE map parallelism is min(16, cores) and the prefetch buffer still grows on
    its own — this pipeline is far faster than the step it feeds either way."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def default_steps_per_epoch(train_count: int, batch_size: int, n_critic: int = 1) -> int:
    """One pass over the training split (drop_remainder), at least one step."""
    return max(1, train_count // (batch_size * n_critic))
