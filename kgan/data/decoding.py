"""Decoding and hashing a chunk of images, here or on worker processes (`kgan.system.workers`).

A request is the provisional row of its first entry and, per entry, its `bytes` (an image
file) or a `str` (why the entry is refused). Entry k of a request owns row `first + k` of
`images.npy`: its image is written there by whoever decodes it (`ImageRows`), so only a
hash or a reason travels back, and the parent keeps or drops the row (`ImageWriter.place`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from kgan.data.dataset import ImageRows, content_hash
from kgan.data.images import SkippedImage, decode_image

Request = tuple[int, list[bytes | str]]  # first entry's row; per entry its bytes, or why it is refused


class Decoded(NamedTuple):
    """One entry's outcome: its image's content hash (the image is in its row), or why it was skipped."""

    digest: str | None
    skipped: str | None


def decode_chunk(decode: Callable[[bytes], np.ndarray], rows: ImageRows, request: Request) -> list[Decoded]:
    """Decode each entry into its row; per entry, the content hash or the reason it is skipped."""
    first, items = request
    results: list[Decoded] = []
    for row, item in enumerate(items, first):
        if isinstance(item, str):
            results.append(Decoded(None, item))
            continue
        try:
            image = decode(item)
        except SkippedImage as reason:
            results.append(Decoded(None, str(reason)))
            continue
        rows.write(row, image)
        results.append(Decoded(content_hash(image), None))
    return results


def decode_request(options: dict[str, Any], request: Request) -> list[Decoded]:
    """A worker's task (`kgan.system.workers`): decode one chunk into the file `options["images"]`
    with the other options (`decode_image`'s)."""
    options = dict(options)
    with ImageRows(options.pop("images"), options["size"]) as rows:
        return decode_chunk(functools.partial(decode_image, **options), rows, request)
