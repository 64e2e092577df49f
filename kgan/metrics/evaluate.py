"""FID (and KID) of a generator against a split, under kgan's fixed protocol.

Protocol: the same number of real and generated images (the split's size, or fewer when
asked); generated images from fixed noise, `training=False`, never JPEG-compressed;
both sides at the model resolution, then resized once by the extractor (bilinear to 299).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kgan import runs
from kgan.data.dataset import PreparedDataset, Split
from kgan.errors import KganError, KganWarning
from kgan.metrics import image_sets
from kgan.metrics.avatar import AvatarExtractor, attribute_report, dataset_labels
from kgan.metrics.extractors import load_extractor
from kgan.metrics.features import FeatureExtractor
from kgan.metrics.fid import Statistics, fid_from_statistics
from kgan.metrics.image_sets import ImageSet
from kgan.metrics.reference import real_features
from kgan.metrics.shards import SINGLE, Shards
from kgan.metrics.stats_file import load_statistics, save_statistics
from kgan.metrics.table import secondary_figures
from kgan.runs.folder import RunFolder
from kgan.sampling import FID_NOISE_STREAM, fixed_noise, unconditioned
from kgan.training import checkpoint


@dataclasses.dataclass(frozen=True)
class FidResult:
    """An evaluation's figures (`table.METRICS`: FID, KID ± std, precision, recall) and what
    they were computed on."""

    fid: float
    n_real: int
    n_generated: int
    features: str
    comparable: bool
    split: str
    # Fewer images than feature dimensions (the paper's 2000 vs 2048): the covariances are
    # singular, so the FID depends on the sample count more than usual; compare only equal counts.
    rank_deficient: bool = False
    dimensions: int = 0  # of the feature vectors
    kid: float | None = None
    kid_std: float | None = None
    precision: float | None = None
    recall: float | None = None
    # With --features avatar on synthetic data: per attribute, TVD to the data and coverage.
    attributes: dict[str, dict] | None = None

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


def real_side(
    dataset: PreparedDataset,
    split: str,
    image_size: int,
    extractor: FeatureExtractor,
    samples: int | None = None,
    batch_size: int = 50,
    shards: Shards = SINGLE,
) -> tuple[np.ndarray, Statistics]:
    """The real features of a split and their statistics: the whole split, or its first `samples`."""
    if samples is not None and samples < 2:
        raise KganError(f"--samples must be at least 2, got {samples}")
    real, stats = real_features(dataset, split, image_size, extractor, batch_size, shards)
    if len(real) < 2:
        raise KganError(
            f"the {split} split has {len(real)} images: FID needs at least 2 (prepare with a larger --{split})"
        )
    if samples is not None and samples < len(real):
        real = real[:samples]
        stats = Statistics.of(real)
    return real, stats


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
    secondary: bool = True,
    batch_size: int = 50,
    shards: Shards = SINGLE,
    reference: Statistics | None = None,
) -> FidResult:
    """FID of `generator` against `split`, equal counts on both sides, and with `secondary`
    KID ± std, precision and recall. Against `reference` statistics (a file's) instead of
    the split, only the FID: the others need the real features themselves."""
    if reference is None:
        real, real_stats = real_side(dataset, split, image_size, extractor, samples, batch_size, shards)
        count = len(real)
    else:
        real, real_stats = None, reference
        count = samples or reference.count
        if count < 2:
            raise KganError("the reference statistics do not say their image count: give --samples")
    generated = generated_features(generator, extractor, count, z_dim, seed, batch_size, shards)
    attributes = None
    if secondary and real is not None and isinstance(extractor, AvatarExtractor):
        truth = dataset_labels(dataset, split)  # the same images as the real side: the split's first `count`
        if truth is not None:
            attributes = attribute_report(extractor.last_attributes, {k: v[:count] for k, v in truth.items()})
    return score(real, real_stats, generated, extractor, split, secondary=secondary, attributes=attributes)


def score(
    real: np.ndarray | None,
    real_stats: Statistics,
    generated: np.ndarray,
    extractor: FeatureExtractor,
    label: str,
    *,
    secondary: bool = True,
    attributes: dict[str, dict] | None = None,
) -> FidResult:
    """The figures of `generated` features against `real` ones (or only their statistics,
    which allow the FID alone); `label` names the real side in the result."""
    count, dimensions = len(generated), generated.shape[1]
    if len(real_stats.mean) != dimensions:
        raise KganError(
            f"the reference statistics are {len(real_stats.mean)}-dimensional but {extractor.name} gives "
            f"{dimensions}: use statistics of the same features (2048 for the FID Inception)"
        )
    figures = secondary_figures(real, generated) if secondary and real is not None else {}
    return FidResult(
        fid=fid_from_statistics(real_stats, Statistics.of(generated)),
        n_real=len(real) if real is not None else real_stats.count,
        n_generated=count,
        features=extractor.name,
        comparable=extractor.comparable,
        split=label,
        rank_deficient=min(count, real_stats.count or count) <= dimensions,  # n samples: covariance rank ≤ n − 1
        dimensions=dimensions,
        attributes=attributes,
        **figures,
    )


def evaluate_sets(
    first: ImageSet,
    second: ImageSet | Statistics,
    extractor: FeatureExtractor,
    *,
    samples: int | None = None,
    batch_size: int = 50,
) -> FidResult:
    """FID (and KID, precision, recall) of the images `first` against `second` — images, or
    statistics from a file (the FID alone) — on the same number of images each side: the
    smaller set's count, or `samples`."""
    available = first.count if isinstance(second, Statistics) else min(first.count, second.count)
    count = samples or available
    if count > available:
        raise KganError(f"--samples {count} is more than the {available} images each side has: lower it")
    if count < 2:
        raise KganError(f"{count} image on a side: FID needs at least 2")
    generated = extractor.extract(first.batches(count, batch_size))
    if isinstance(second, Statistics):
        return score(None, second, generated, extractor, "statistics file", secondary=False)
    real = extractor.extract(second.batches(count, batch_size))
    return score(real, Statistics.of(real), generated, extractor, second.label)


def evaluate_run(
    run_dir: Path,
    *,
    split: str = Split.TEST,
    checkpoint_choice: str = checkpoint.DEFAULT_CHOICE,
    samples: int | None = None,
    features: str | None = None,
    inception: str | None = None,
    batch_size: int = 50,
    save_stats: Path | None = None,
    ref_stats: Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> tuple[FidResult, dict[str, Any]]:
    """FID/KID/precision/recall of a run's checkpoint on a split (or against `ref_stats`, a
    statistics file); `save_stats` also writes the split's statistics in pytorch-fid's format.
    The result, with the checkpoint's record (`checkpoint.chosen`), is appended to
    evaluations.jsonl; both are returned."""
    run_dir = Path(run_dir)
    config = runs.load_config(run_dir)
    path, chosen = checkpoint.chosen(run_dir, checkpoint_choice)
    dataset = runs.run_dataset(run_dir)
    split = Split.parse(split)
    reference = None
    if ref_stats is not None:
        reference, computed_on = load_statistics(ref_stats)
        samples = samples or reference.count or dataset.manifest["split_counts"][split]  # as many as it had
    extractor = load_extractor(features or config.features, inception or config.inception or None, announce)
    if ref_stats is not None and computed_on not in (None, extractor.name):
        warnings.warn(
            f"--ref-stats {ref_stats} was computed on {computed_on}, scored here with {extractor.name}",
            KganWarning,
            stacklevel=2,
        )
    if save_stats is not None:
        _, real_stats = real_side(dataset, split, config.image_size, extractor, samples, batch_size)
        save_statistics(save_stats, real_stats, extractor.name)
    conditions = RunFolder(run_dir).conditions()  # a conditional G: attributes drawn as in training
    generator = unconditioned(checkpoint.load_generator(path, config, conditions), conditions)
    result = evaluate(
        generator,
        dataset,
        extractor,
        split=split if reference is None else str(ref_stats),
        image_size=config.image_size,
        z_dim=config.z_dim,
        samples=samples,
        seed=config.seed,
        batch_size=batch_size,
        reference=reference,
    )
    record = {**result.to_dict(), "checkpoint": chosen, "time": time.time()}
    RunFolder(run_dir).append_evaluation(record)
    return result, chosen


def evaluate_files(
    paths: list[str],
    *,
    run_dir: Path | None = None,
    ref_stats: Path | None = None,
    split: str = Split.TEST,
    samples: int | None = None,
    features: str | None = None,
    inception: str | None = None,
    batch_size: int = 50,
    announce: Callable[[str], None] | None = None,
) -> tuple[FidResult, list[str]]:
    """`evaluate_sets` of user files (`image_sets`): `paths[0]` against `paths[1]`, else against
    `ref_stats`, else against the split of the run in `run_dir` (default: the latest run),
    whose features are then the default too. Returns the result and the two sides' labels."""
    if len(paths) > 2:
        raise KganError(f"kgan fid takes at most two paths (PATH REFERENCE), got {len(paths)}")
    if len(paths) == 2 and ref_stats:
        raise KganError("give a REFERENCE path or --ref-stats, not both")
    run = None
    if len(paths) == 2:
        reference_spec = paths[1]
    elif ref_stats:
        reference_spec = str(ref_stats)
    else:
        try:
            run = runs.resolve_run(run_dir)
        except KganError:
            raise KganError(
                f"nothing to compare {paths[0]} with: give a second path (images, a prepared dataset or an .npz), "
                "--ref-stats, or --run-dir for a run's split"
            ) from None
        reference_spec = str(runs.run_dataset(run).folder)
    if image_sets.is_export(paths[0]):  # an export makes as many images as the reference has
        reference = image_sets.open_reference(reference_spec, split=split, count=samples)
        count = samples or (reference[0].count if isinstance(reference, tuple) else reference.count)
        first = image_sets.open_side(paths[0], split=split, count=count)
    else:
        first = image_sets.open_side(paths[0], split=split)
        reference = image_sets.open_reference(reference_spec, split=split, count=samples or first.count)
    extractor = load_extractor(features or (runs.load_config(run).features if run else None), inception, announce)
    if isinstance(reference, tuple):  # statistics from a file
        reference, computed_on = reference
        if computed_on not in (None, extractor.name):
            warnings.warn(
                f"{reference_spec} was computed on {computed_on}, scored here with {extractor.name}",
                KganWarning,
                stacklevel=2,
            )
        label = f"statistics {reference_spec}"
    else:
        label = reference.label
    return evaluate_sets(first, reference, extractor, samples=samples, batch_size=batch_size), [first.label, label]
