"""Validation FID during training: the score behind the best checkpoint and early stopping."""

from __future__ import annotations

from collections.abc import Callable

import keras

from kgan.config import TrainConfig
from kgan.data.dataset import PreparedDataset, Split
from kgan.errors import KganError
from kgan.metrics.evaluate import evaluate
from kgan.metrics.extractors import load_extractor
from kgan.metrics.features import FeatureExtractor
from kgan.metrics.reference import real_features
from kgan.metrics.shards import SINGLE, Shards


class ValidationFID:
    """Validation FID of a generator, with the real statistics computed once (and cached).

    With a cluster's `shards`, every worker calls it at the same time: each makes and
    extracts its share of the images and all of them compute the FID of the whole.
    """

    def __init__(
        self, dataset: PreparedDataset, extractor: FeatureExtractor, config: TrainConfig, shards: Shards = SINGLE
    ):
        self.dataset, self.extractor, self.config, self.shards = dataset, extractor, config, shards
        self.name = extractor.name
        real_features(dataset, Split.VAL, config.image_size, extractor, shards=shards)  # fill the cache up front

    def __call__(self, generator: keras.Model) -> float:
        result = evaluate(
            generator,
            self.dataset,
            self.extractor,
            split=Split.VAL,
            image_size=self.config.image_size,
            z_dim=self.config.z_dim,
            samples=self.config.fid_samples,
            seed=self.config.seed,
            secondary=False,
            shards=self.shards,
        )
        return result.fid


def make_validator(
    dataset: PreparedDataset, config: TrainConfig, warn: Callable[[str], None], shards: Shards = SINGLE
) -> ValidationFID | None:
    """The per-epoch validation FID, or None (with one warning) when no extractor loads."""
    if not config.fid_every:
        return None
    extractor, problem = None, ""
    try:
        extractor = load_extractor(config.features, config.inception or None, announce=warn)
    except KganError as error:
        problem = str(error)
    if not shards.everyone(extractor is not None):  # the workers of a cluster validate all or none
        problem = problem or "another worker cannot load the FID features"
        warn(f"validation FID is off, so there is no early stopping or best checkpoint: {problem}")
        return None
    return ValidationFID(dataset, extractor, config, shards)
