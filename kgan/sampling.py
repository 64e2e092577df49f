"""Images out of a generator: fixed noise, batched generation, grids and PNG files."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from kgan.data.attributes import Conditions
from kgan.errors import KganError
from kgan.files import write_bytes_atomic

MAX_SAMPLES = 100_000  # a sanity bound: generation is batched, the grid is not


GRID_STREAM = 0x5A4D
FID_NOISE_STREAM = 0xF1D  # the noise behind FID samples, apart from the sample grids'


def fixed_noise(seed: int, count: int, z_dim: int, stream: int = GRID_STREAM) -> np.ndarray:
    """Noise that a seed (and a stream, so grids and FID samples differ) always gives alike."""
    return np.random.default_rng([seed, stream]).standard_normal((count, z_dim)).astype(np.float32)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """[-1, 1] floats → uint8 [0, 255], rounding to nearest."""
    return np.clip(np.round((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def generate(generator, z: np.ndarray, batch_size: int = 256, codes: np.ndarray | None = None) -> np.ndarray:
    """Run the generator in inference mode (`training=False`) in batches → uint8 images; a
    conditional generator with each image's attribute `codes`."""

    def inputs(start: int):
        part = z[start : start + batch_size]
        return part if codes is None else [part, codes[start : start + batch_size]]

    chunks = [to_uint8(generator(inputs(start), training=False)) for start in range(0, len(z), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 1, 1, 3), np.uint8)


class WithDrawnAttributes:
    """A conditional generator called with z alone (validation FID, evaluation): each image's
    attributes are drawn from the training shares, seeded by its own noise vector, so the
    same z always gets the same attributes however the calls are batched or sharded."""

    def __init__(self, generator, conditions: Conditions):
        self.generator, self.conditions = generator, conditions

    def codes(self, z: np.ndarray) -> np.ndarray:
        rows = [
            self.conditions.draw(1, np.random.default_rng(np.frombuffer(row.tobytes(), np.uint32)))[0]
            for row in np.asarray(z, np.float32)
        ]
        return np.asarray(rows, np.int32).reshape(len(rows), len(self.conditions.attributes))

    def __call__(self, z, training: bool = False):
        return self.generator([z, self.codes(z)], training=training)


def unconditioned(generator, conditions: Conditions | None):
    """`generator` as a function of z alone: itself, or with attributes drawn (`WithDrawnAttributes`)."""
    return generator if conditions is None else WithDrawnAttributes(generator, conditions)


def epoch_grid(
    seed: int, count: int, z_dim: int, conditions: Conditions | None = None
) -> tuple[np.ndarray, np.ndarray | None, int | None]:
    """(z, codes, columns) of a run's fixed grid of about `count` images: fixed noise; for a
    conditional run, a grid by its first attribute (`attribute_grid`), one row per value."""
    if conditions is None:
        return fixed_noise(seed, count, z_dim), None, None
    return attribute_grid(conditions, conditions.attributes[0], count, seed, z_dim)


def attribute_grid(
    conditions: Conditions, attribute: str, count: int, seed: int, z_dim: int, fixed: dict[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """(z, codes, columns) of a grid of about `count` images with one row per value of
    `attribute`, row-major: each column keeps one z and its other attributes (given in `fixed`,
    else drawn once from the training shares), so only `attribute` changes down a column."""
    values = len(conditions.vocabulary[attribute])
    columns = max(1, count // values)
    codes = np.tile(conditions.draw(columns, np.random.default_rng([seed, GRID_STREAM, 1]), fixed), (values, 1))
    codes[:, conditions.attributes.index(attribute)] = np.repeat(np.arange(values), columns)
    return np.tile(fixed_noise(seed, columns, z_dim), (values, 1)), codes, columns


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) of the most square grid that holds `count` images."""
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


MIN_TILE = 64  # pixels: smaller tiles are enlarged in grids so that faces can be seen


def image_grid(
    images: np.ndarray, padding: int = 2, min_tile: int = MIN_TILE, columns: int | None = None
) -> np.ndarray:
    """Tile `[N, H, W, 3]` uint8 images into one image with a white border between them, row
    by row (`columns` per row; default: the most square grid); tiles under `min_tile` pixels
    are enlarged by a whole factor, nearest neighbour (every generated pixel stays one visible
    block, nothing is smoothed)."""
    factor = -(-min_tile // min(images.shape[1:3])) if min(images.shape[1:3]) < min_tile else 1
    if factor > 1:
        images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    count, height, width, _ = images.shape
    rows, columns = grid_shape(count) if columns is None else (-(-count // columns), columns)
    grid = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding, 3), 255, np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: Path, image: np.ndarray) -> Path:
    """Write a PNG atomically; an unwritable path is a KganError."""
    path = Path(path)
    try:
        write_bytes_atomic(path, png_bytes(image))
    except OSError as error:
        raise KganError(f"cannot write {path}: {error.strerror or error}; choose a writable path") from None
    return path


def check_count(count: int) -> int:
    if count <= 0 or count > MAX_SAMPLES:
        raise KganError(f"--n must be between 1 and {MAX_SAMPLES}, got {count}")
    return count


def save_individual(folder: Path, images: np.ndarray) -> None:
    """One PNG per image: folder/sample-0000.png, ..."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise KganError(f"cannot create {folder}: {error.strerror}; choose a writable --individual folder") from None
    for index, image in enumerate(images):
        save_png(folder / f"sample-{index:04d}.png", image)


def save_strip_or_gif(path: Path, frames: np.ndarray, frame_ms: int = 80) -> Path:
    """A latent walk: an animated GIF (looping, there and back) for .gif, else a one-row PNG strip."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        strip = np.concatenate(list(frames), axis=1)
        return save_png(path, strip)
    sequence = [Image.fromarray(frame) for frame in [*frames, *frames[-2:0:-1]]]
    buffer = io.BytesIO()
    sequence[0].save(buffer, format="GIF", save_all=True, append_images=sequence[1:], duration=frame_ms, loop=0)
    try:
        write_bytes_atomic(path, buffer.getvalue())
    except OSError as error:
        raise KganError(f"cannot write {path}: {error.strerror or error}; choose a writable path") from None
    return path
