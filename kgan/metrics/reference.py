"""Real-image features of a split, cached in the prepared dataset.

The cache key is the split (by its content id), the model image size and the extractor,
so per-epoch validation FID only has to extract the generated images. Real images go
through the same path as generated ones: the training pipeline's antialiased resize to
the model size, then the extractor's resize.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from kgan.data.dataset import PreparedDataset
from kgan.data.pipeline import to_model_range
from kgan.files import write_bytes_atomic
from kgan.metrics.features import RESIZE_METHOD, FeatureExtractor, batched
from kgan.metrics.fid import Statistics
from kgan.metrics.shards import SINGLE, Shards
from kgan.paths import cache_dir


def _cache_name(dataset: PreparedDataset, split: str, image_size: int, extractor: FeatureExtractor) -> str:
    key = f"{dataset.split_id}:{split}:{image_size}:{RESIZE_METHOD}:{extractor.key}"
    return f"{split}-{image_size}px-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def cache_locations(dataset: PreparedDataset, name: str) -> list[Path]:
    """Inside the dataset when writable, else the user cache (read-only datasets)."""
    return [dataset.folder / "stats" / name, cache_dir() / "stats" / dataset.split_id / name]


def _cached(dataset: PreparedDataset, name: str) -> tuple[np.ndarray, Statistics] | None:
    for path in cache_locations(dataset, name):
        if path.is_file():
            try:
                with np.load(path) as cached:
                    return cached["activations"], Statistics(cached["mean"], cached["cov"], int(cached["count"]))
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache is recomputed
    return None


def real_features(
    dataset: PreparedDataset,
    split: str,
    image_size: int,
    extractor: FeatureExtractor,
    batch_size: int = 50,
    shards: Shards = SINGLE,
) -> tuple[np.ndarray, Statistics]:
    """Activations `[n, D]` of the split's images and their statistics, cached on disk.

    With several `shards` (the workers of a cluster), the cache is used only when every
    worker has it; otherwise each extracts its slice and all of them get the whole.
    """
    name = _cache_name(dataset, split, image_size, extractor)
    cached = _cached(dataset, name)
    if shards.everyone(cached is not None):
        return cached
    images = dataset.split_images(split)
    mine = images[shards.rows(len(images))]
    activations = extractor.extract(batched(mine, batch_size, lambda batch: to_model_range(batch, image_size).numpy()))
    activations = shards.combine(activations, len(images))
    stats = Statistics.of(activations)
    buffer = io.BytesIO()
    meta = json.dumps(
        {
            "split": split,
            "split_id": dataset.split_id,
            "image_size": image_size,
            "extractor": extractor.name,
            "resize": RESIZE_METHOD,
        }
    )
    np.savez(buffer, activations=activations, mean=stats.mean, cov=stats.cov, count=stats.count, meta=meta)
    for path in cache_locations(dataset, name):
        try:
            write_bytes_atomic(path, buffer.getvalue())
            break
        except OSError:
            continue
    return activations, stats
