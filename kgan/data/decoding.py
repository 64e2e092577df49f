"""Decoding and hashing a chunk of images, here or on worker processes (`kgan.workers`).

A request is a list of `bytes` (an image file) or `str` (why the entry is refused); its
answer, per entry, `(image, content hash)` or the reason it is skipped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from kgan.data.dataset import content_hash
from kgan.data.images import SkippedImage, decode_image

Decoded = tuple[np.ndarray, str] | str  # an image and its content hash, or why it was skipped
Request = list[bytes | str]  # per entry: its bytes, or why it is refused


def decode_chunk(decode: Callable[[bytes], np.ndarray], chunk: Request) -> list[Decoded]:
    """Each entry's image and content hash, or the reason it is skipped."""
    results: list[Decoded] = []
    for item in chunk:
        if isinstance(item, str):
            results.append(item)
            continue
        try:
            image = decode(item)
        except SkippedImage as reason:
            results.append(str(reason))
            continue
        results.append((image, content_hash(image)))
    return results


def decode_request(options: dict[str, Any], request: Request) -> list[Decoded]:
    """A worker's task (`kgan.workers`): decode one chunk with the decoding options."""
    return decode_chunk(functools.partial(decode_image, **options), request)
