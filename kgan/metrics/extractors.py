"""The extractor named by `--features`: the FID Inception, random Inception weights, the
avatar attribute classifier, or any local model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kgan.metrics.avatar import NAME as AVATAR
from kgan.metrics.avatar import avatar_extractor
from kgan.metrics.features import (
    INCEPTION_HANDLE,
    RANDOM_INCEPTION,
    FeatureExtractor,
    inception_extractor,
    model_extractor,
    random_inception_extractor,
)
from kgan.paths import inception_override

CHOICES = f"inception, {RANDOM_INCEPTION}, {AVATAR}, or a model path"


def load_extractor(
    spec: str | None = None, inception: str | None = None, announce: Callable[[str], None] | None = None
) -> FeatureExtractor:
    """The extractor named by `--features`: None/"inception", "random-inception-v3", "avatar", or a path.

    The Inception comes from `inception` (a local copy or a handle), else $KGAN_INCEPTION,
    else the TF Hub handle (honouring $TFHUB_CACHE_DIR). `announce` hears of slow first
    uses (the avatar classifier trains once).
    """
    if spec in (None, "", "inception"):
        return inception_extractor(inception or inception_override() or INCEPTION_HANDLE)
    if spec == RANDOM_INCEPTION:
        return random_inception_extractor()
    if spec == AVATAR:
        return avatar_extractor(announce)
    return model_extractor(Path(spec))
