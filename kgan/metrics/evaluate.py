"""FID (and KID) of a generator against a split, under kgan's fixed protocol.

Protocol: the same number of real and generated images (the split's size, or fewer when
asked); generated images from fixed noise, `training=False`, never JPEG-compressed;
both sides at the model resolution, then resized once by the extractor (bilinear to 299).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from kgan import runs
from kgan.data.dataset import PreparedDataset
from kgan.errors import KganError
from kgan.metrics.features import FeatureExtractor, load_extractor
from kgan.metrics.fid import Statistics, fid_from_statistics, kid
from kgan.metrics.reference import real_features
from kgan.metrics.shards import SINGLE, Shards
from kgan.sampling import fixed_noise
from kgan.training import checkpoint

FID_NOISE_STREAM = 0xF1D  # the noise behind FID samples, apart from the sample grids'


@dataclasses.dataclass(frozen=True)
class FidResult:
    fid: float
    kid: float | None
    kid_std: float | None
    n_real: int
    n_generated: int
    features: str
    comparable: bool
    split: str
    # Fewer images than feature dimensions (the paper's 2000 vs 2048): the covariances are
    # singular, so the FID depends on the sample count more than usual; compare only equal counts.
    rank_deficient: bool = False
    dimensions: int = 0  # of the feature vectors

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def generated_features(
    generator,
    extractor: FeatureExtractor,
    count: int,
    z_dim: int,
    seed: int,
    batch_size: int = 50,
    shards: Shards = SINGLE,
) -> np.ndarray:
    """Features of `count` generated images, made and extracted batch by batch (this
    worker's share of them when `shards` is a cluster's, gathered into the whole)."""
    noise = fixed_noise(seed, shards.size(count) * shards.count, z_dim, stream=FID_NOISE_STREAM)
    mine = noise[shards.rows(count)]
    batches = (
        np.asarray(generator(mine[start : start + batch_size], training=False), np.float32)
        for start in range(0, len(mine), batch_size)
    )
    return shards.combine(extractor.extract(batches), count)


def evaluate(
    generator,
    dataset: PreparedDataset,
    extractor: FeatureExtractor,
    *,
    split: str,
    image_size: int,
    z_dim: int,
    samples: int | None = None,
    seed: int = 0,
    with_kid: bool = True,
    batch_size: int = 50,
    shards: Shards = SINGLE,
) -> FidResult:
    """FID (and KID ± std) of `generator` against `split`, equal counts on both sides."""
    if samples is not None and samples < 2:
        raise KganError(f"--samples must be at least 2, got {samples}")
    real, real_stats = real_features(dataset, split, image_size, extractor, batch_size, shards)
    count = len(real) if samples is None else min(samples, len(real))
    if count < 2:
        raise KganError(
            f"the {split} split has {len(real)} images: FID needs at least 2 (prepare with a larger --{split})"
        )
    if count < len(real):
        real = real[:count]
        real_stats = Statistics.of(real)
    generated = generated_features(generator, extractor, count, z_dim, seed, batch_size, shards)
    value = fid_from_statistics(real_stats, Statistics.of(generated))
    kid_value, kid_std = kid(real, generated) if with_kid else (None, None)
    rank_deficient = count <= real.shape[1]  # n samples give a covariance of rank at most n − 1
    return FidResult(
        value,
        kid_value,
        kid_std,
        count,
        count,
        extractor.name,
        extractor.comparable,
        split,
        rank_deficient,
        real.shape[1],
    )


def evaluate_run(
    run_dir: Path,
    *,
    split: str = "test",
    checkpoint_choice: str = "best",
    samples: int | None = None,
    features: str | None = None,
    inception: str | None = None,
    batch_size: int = 50,
) -> tuple[FidResult, str]:
    """FID/KID of a run's checkpoint on a split; the result is appended to evaluations.jsonl."""
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir)
    path, description = checkpoint.resolve(run_dir, checkpoint_choice)
    dataset = runs.run_dataset(run_dir)
    if split not in ("val", "test", "train"):
        raise KganError(f"--split must be val or test, got {split!r}")
    extractor = load_extractor(features or config.features, inception or config.inception or None)
    generator = checkpoint.load_generator(path, config)
    result = evaluate(
        generator,
        dataset,
        extractor,
        split=split,
        image_size=config.image_size,
        z_dim=config.z_dim,
        samples=samples,
        seed=config.seed,
        batch_size=batch_size,
    )
    record = {**result.to_dict(), "checkpoint": description, "time": time.time()}
    with open(run_dir / "evaluations.jsonl", "a") as log:
        log.write(json.dumps(record) + "\n")
    return result, description
