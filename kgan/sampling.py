"""Images out of a generator: fixed noise, batched generation, grids and PNG files."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

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


def generate(generator, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Run the generator in inference mode (`training=False`) in batches → uint8 images."""
    chunks = [
        to_uint8(generator(z[start : start + batch_size], training=False)) for start in range(0, len(z), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, 1, 1, 3), np.uint8)


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) of the most square grid that holds `count` images."""
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


MIN_TILE = 64  # pixels: smaller tiles are enlarged in grids so that faces can be seen


def image_grid(images: np.ndarray, padding: int = 2, min_tile: int = MIN_TILE) -> np.ndarray:
    """Tile `[N, H, W, 3]` uint8 images into one image with a white border between them;
    tiles under `min_tile` pixels are enlarged by a whole factor, nearest neighbour (every
    generated pixel stays one visible block, nothing is smoothed)."""
    factor = -(-min_tile // min(images.shape[1:3])) if min(images.shape[1:3]) < min_tile else 1
    if factor > 1:
        images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    count, height, width, _ = images.shape
    rows, columns = grid_shape(count)
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
