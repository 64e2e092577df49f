"""Images to score besides a run's generator: what users already have on disk.

`kgan fid A B` (as pytorch-fid's `path1 path2`) and `kgan fid A` (against a run's split)
accept, for each side:
- a folder of image files (PNG, JPEG, WebP, BMP), all of one size;
- an `.npy` array of uint8 images `[N, H, W, 3]` (or `[N, H, W]` grey);
- a prepared dataset (a folder with `manifest.json`): its `--split`;
- an exported generator (a SavedModel version folder, or its base folder): images from the
  FID noise, as many as the other side has;
- as the second side only, an `.npz` of statistics (pytorch-fid's `mu`/`sigma`).
Every side reaches the extractor as float32 in [-1, 1] at its own size; the extractor
resizes once, as for a run. Nothing is written next to the user's files.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from kgan.data.dataset import PreparedDataset, Split
from kgan.errors import KganError, first_line
from kgan.metrics.fid import Statistics
from kgan.metrics.stats_file import load_statistics
from kgan.sampling import FID_NOISE_STREAM, fixed_noise
from kgan.serving.export import version_folder

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
WHAT = "a folder of images, an .npy array, a prepared dataset, an export or (second) an .npz of statistics"


@dataclasses.dataclass
class ImageSet:
    """`count` images that `read(start, end)` returns as float32 `[n, H, W, 3]` in [-1, 1]."""

    label: str  # what reports show, e.g. "folder samples/"
    count: int
    read: Callable[[int, int], np.ndarray]

    def batches(self, count: int, batch_size: int) -> Iterator[np.ndarray]:
        for start in range(0, count, batch_size):
            yield self.read(start, min(start + batch_size, count))


def _to_model_range(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    return images.astype(np.float32) / 127.5 - 1.0


def open_side(spec: str | Path, *, split: str = Split.TEST, count: int | None = None, seed: int = 0) -> ImageSet:
    """The images `spec` names. An export makes `count` images (required for one)."""
    path = Path(spec)
    if not path.exists():
        raise KganError(f"{spec} does not exist: give {WHAT}")
    if path.suffix == ".npy":
        return _array(path)
    if path.is_dir() and (path / "manifest.json").is_file():
        return _split(path, split)
    if path.is_dir() and (version := version_folder(path)) is not None:
        if not count:
            raise KganError(f"{spec} is an export: compare it with images or a split, or give --samples")
        return _export(version, count, seed)
    if path.is_dir():
        return _folder(path)
    raise KganError(f"{spec} is not something kgan fid can score: give {WHAT}")


def open_reference(spec: str | Path, **options) -> ImageSet | tuple[Statistics, str | None]:
    """The second side: images as `open_side`, or statistics from an `.npz`."""
    if Path(spec).suffix == ".npz":
        return load_statistics(Path(spec))
    return open_side(spec, **options)


def is_export(spec: str | Path) -> bool:
    path = Path(spec)
    return path.is_dir() and not (path / "manifest.json").is_file() and version_folder(path) is not None


def _array(path: Path) -> ImageSet:
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise KganError(f"{path} is not a readable .npy array ({first_line(error)})") from None
    grey = images.ndim == 3
    if images.dtype != np.uint8 or not (grey or (images.ndim == 4 and images.shape[-1] == 3)):
        raise KganError(
            f"{path} holds {images.dtype} {list(images.shape)}: give uint8 images as [N, H, W, 3] "
            "(channels last) or [N, H, W]"
        )
    if len(images) == 0:
        raise KganError(f"{path} holds no images")
    return ImageSet(f"array {path.name}", len(images), lambda start, end: _to_model_range(images[start:end]))


def _split(path: Path, split: str) -> ImageSet:
    dataset = PreparedDataset(path)
    indices = dataset.indices(split)
    if len(indices) == 0:
        raise KganError(f"the {split} split of {path} is empty: choose another --split")
    return ImageSet(
        f"{split} split of {path}",
        len(indices),
        lambda start, end: _to_model_range(dataset.read_rows(indices[start:end])),
    )


def _export(version: Path, count: int, seed: int) -> ImageSet:
    from kgan.serving.sources import from_saved_model

    source = from_saved_model(version)
    noise = fixed_noise(seed, count, source.z_dim, stream=FID_NOISE_STREAM)
    return ImageSet(f"export {version}", count, lambda start, end: _to_model_range(source(noise[start:end])))


def _folder(path: Path) -> ImageSet:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise KganError(f"no images in {path} ({', '.join(s[1:] for s in IMAGE_SUFFIXES)} files): check the path")
    sizes = {}
    for file in files:
        try:
            with Image.open(file) as image:
                sizes[file] = image.size
        except (OSError, UnidentifiedImageError) as error:
            raise KganError(f"{file} is not a readable image ({first_line(error)}): remove it or fix it") from None
    counted = Counter(sizes.values())
    if len(counted) > 1:
        (common, many), (other, _) = counted.most_common(2)
        example = next(file for file, size in sizes.items() if size == other)
        raise KganError(
            f"images of mixed sizes in {path}: {many} at {common[0]}×{common[1]}, others such as {example.name} "
            f"at {other[0]}×{other[1]}; resize them to one size first (kgan data prepare does)"
        )

    def pixels(file: Path) -> np.ndarray:
        with Image.open(file) as image:
            return np.asarray(image.convert("RGB"))

    def read(start: int, end: int) -> np.ndarray:
        return _to_model_range(np.stack([pixels(file) for file in files[start:end]]))

    return ImageSet(f"folder {path}", len(files), read)
