"""The prepared dataset: packed images, a split manifest, and a report of what was skipped.

Layout of a prepared dataset directory:

    images.npy      uint8 [N, S, S, 3], RGB, square, memory-mappable
    manifest.json   image size, source, per-image name and content hash, the seeded
                    train/val/test split (index lists) and the ingest report
    attributes.csv  (synthetic data only) the drawn attributes of each image

Every command reads splits from the manifest, so they all use the same split.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from kgan.data.attributes import AttributeTable, read_table
from kgan.errors import KganError
from kgan.files import write_text_atomic

FORMAT = "kgan-dataset/1"


class Split(str, Enum):
    """A prepared dataset's splits. A `str`, so a split is its name in manifests, JSON and messages."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"

    __str__ = str.__str__  # "val", not "Split.VAL", in f-strings on every Python
    __format__ = str.__format__

    @classmethod
    def parse(cls, name: str) -> Split:
        """The split called `name`, or a one-line error listing the valid ones."""
        try:
            return cls(name)
        except ValueError:
            raise KganError(f"unknown split {name!r}: choose one of {', '.join(SPLITS)}") from None


SPLITS = tuple(split.value for split in Split)
EVALUATION_SPLITS = (Split.VAL, Split.TEST)  # held out from training, for FID
PAPER_HOLDOUT = 2000  # the paper's val and test sizes


def default_holdout(count: int) -> int:
    """Val (and test) size: the paper's 2000, or 10% of a smaller set."""
    return min(PAPER_HOLDOUT, count // 10)


FID_MIN_IMAGES = 1000  # below this FID's bias swamps the differences between models
FID_FULL_RANK = 2048  # the FID Inception's dimension: fewer images give a rank-deficient covariance


def small_evaluation_splits(counts: dict[str, int]) -> list[str]:
    """A warning for each evaluation split too small for a meaningful FID."""
    return [
        f"the {split} split has {counts[split]} images: an FID on fewer than {FID_MIN_IMAGES:,} is dominated by "
        f"its bias (and below {FID_FULL_RANK:,}, Inception's dimension, compares only with FIDs from as many "
        f"images); use more data or a larger --{split}"
        for split in EVALUATION_SPLITS
        if 0 < counts.get(split, 0) < FID_MIN_IMAGES
    ]


def make_splits(count: int, seed: int, val: int | None = None, test: int | None = None) -> dict[str, list[int]]:
    """A seeded random partition of `range(count)` into train/val/test index lists."""
    val = default_holdout(count) if val is None else val
    test = default_holdout(count) if test is None else test
    if val < 0 or test < 0:
        raise KganError("val and test counts must be >= 0")
    if val + test >= count:
        raise KganError(f"val ({val}) + test ({test}) leave no training images out of {count}: lower --val/--test")
    order = np.random.default_rng(seed).permutation(count)
    return {
        "val": sorted(order[:val].tolist()),
        "test": sorted(order[val : val + test].tolist()),
        "train": sorted(order[val + test :].tolist()),
    }


@dataclass
class IngestReport:
    """What happened to each input: used, duplicate of an earlier one, or skipped and why."""

    scanned: int = 0
    used: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append((name, reason))

    def reason_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, reason in self.skipped:
            key = reason.split(" (")[0]
            counts[key] = counts.get(key, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "scanned": self.scanned,
            "used": self.used,
            "duplicates": self.duplicates,
            "skipped": len(self.skipped),
            "skipped_by_reason": self.reason_counts(),
            "skipped_files": [list(item) for item in self.skipped],
        }


def content_hash(image: np.ndarray) -> str:
    """The manifest's hash of an image's pixels (duplicates share it)."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:32]


class ImageWriter:
    """Streams `[S, S, 3]` uint8 images into `images.npy`, dropping exact duplicates.

    The .npy header is written last (padded to a fixed length) so that any number of
    images can be streamed without holding them in memory. Images arrive either through
    `add` (appended here) or through `place` (already written into the file by whoever
    decoded them, at a provisional row: see `ImageRows`); one writer uses one of the two.
    """

    HEADER_BYTES = 128

    def __init__(self, path: Path, size: int):
        self.path = Path(path)
        self.size = size
        self.row_bytes = size * size * 3
        self.report = IngestReport()
        self.names: list[str] = []
        self.hashes: list[str] = []
        self._seen: set[str] = set()
        self._file = open(self.path, "w+b", buffering=1 << 20)  # many images per write call
        self._file.write(b"\0" * self.HEADER_BYTES)

    def add(self, name: str, image: np.ndarray, digest: str | None = None) -> bool:
        """Append one image; False (and nothing written) when its pixels were seen already.
        `digest`: its `content_hash`, when a worker computed it already."""
        if image.shape != (self.size, self.size, 3) or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 [{self.size}, {self.size}, 3], got {image.dtype} {image.shape}")
        digest = digest or content_hash(image)
        if not self._keep(name, digest):
            return False
        self._file.write(np.ascontiguousarray(image).data)
        return True

    def place(self, name: str, row: int, digest: str) -> bool:
        """Keep the image written at provisional `row` as the next one; False when its
        pixels were seen already (its row is then left as a hole).

        Call in provisional-row order: a kept image moves down over the holes before it,
        into rows whose own images were placed already, so it never overwrites one that
        is still to come (a process may still be writing those)."""
        final = len(self.names)
        if not self._keep(name, digest):
            return False
        if final != row:
            self._file.flush()
            fd = self._file.fileno()
            write_all(fd, os.pread(fd, self.row_bytes, self.offset(row)), self.offset(final))
        return True

    def offset(self, row: int) -> int:
        """Where `row` starts in the file."""
        return row_offset(row, self.row_bytes)

    def _keep(self, name: str, digest: str) -> bool:
        if digest in self._seen:
            self.report.duplicates += 1
            return False
        self._seen.add(digest)
        self.names.append(name)
        self.hashes.append(digest)
        self.report.used += 1
        return True

    def close(self) -> int:
        """Write the header, cut off rows past the kept images, and close; returns the number of images."""
        count = len(self.names)
        header = repr({"descr": "|u1", "fortran_order": False, "shape": (count, self.size, self.size, 3)}).encode(
            "latin1"
        )
        prefix = b"\x93NUMPY\x01\x00"
        room = self.HEADER_BYTES - len(prefix) - 2
        header = header + b" " * (room - len(header) - 1) + b"\n"
        self._file.seek(0)
        self._file.write(prefix + struct.pack("<H", room) + header)
        self._file.truncate(self.offset(count))
        self._file.close()
        return count

    def sort_by_name(self, chunk: int = 1024) -> None:
        """Put the closed file's rows (and names, hashes) in name order, a chunk at a time."""
        order = np.asarray(sorted(range(len(self.names)), key=self.names.__getitem__), np.int64)
        if np.array_equal(order, np.arange(len(order))):
            return
        source = np.load(self.path, mmap_mode="r")
        sorted_path = self.path.with_name(self.path.name + ".sorted")
        target = np.lib.format.open_memmap(sorted_path, mode="w+", dtype=np.uint8, shape=source.shape)
        for start in range(0, len(order), chunk):
            target[start : start + chunk] = source[order[start : start + chunk]]
        target.flush()
        del source, target
        os.replace(sorted_path, self.path)
        self.names = [self.names[i] for i in order]
        self.hashes = [self.hashes[i] for i in order]

    def finish(
        self,
        *,
        source: str,
        seed: int,
        val: int | None,
        test: int | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Split the written images and write the manifest beside them (call after close)."""
        splits = make_splits(len(self.names), seed, val, test)
        write_manifest(
            self.path.parent,
            size=self.size,
            source=source,
            seed=seed,
            names=self.names,
            hashes=self.hashes,
            splits=splits,
            report=self.report.to_dict(),
            extra=extra,
        )


class ImageRows:
    """Writes decoded images straight into the rows of an `ImageWriter`'s file, from any
    process: an image then crosses no pipe, and the writer only records it (`place`)."""

    def __init__(self, path: Path | str, size: int):
        self.fd = os.open(path, os.O_WRONLY)
        self.row_bytes = size * size * 3

    def write(self, row: int, image: np.ndarray) -> None:
        write_all(self.fd, np.ascontiguousarray(image).data, row_offset(row, self.row_bytes))

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> ImageRows:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def row_offset(row: int, row_bytes: int) -> int:
    """Where `row` starts in a streamed `images.npy` (after its fixed-length header)."""
    return ImageWriter.HEADER_BYTES + row * row_bytes


def write_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """`os.pwrite` until every byte is written (a short write means the disk filled up)."""
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        if written == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view, offset = view[written:], offset + written


def write_manifest(
    folder: Path,
    *,
    size: int,
    source: str,
    seed: int,
    names: list[str],
    hashes: list[str],
    splits: dict[str, list[int]],
    report: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    manifest = {
        "format": FORMAT,
        "image_size": size,
        "count": len(names),
        "source": source,
        "seed": seed,
        "split_counts": {name: len(splits[name]) for name in SPLITS},
        "splits": splits,
        "names": names,
        "sha256": hashes,
        "report": report,
        **(extra or {}),
    }
    write_text_atomic(Path(folder) / "manifest.json", json.dumps(manifest) + "\n")


READ_ROWS = 256  # rows per file read: bounds the read buffer


class PreparedDataset:
    """A prepared dataset directory, opened read-only."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        manifest_path = self.folder / "manifest.json"
        if not manifest_path.is_file() or not (self.folder / "images.npy").is_file():
            raise KganError(
                f"{self.folder} is not a prepared dataset (no manifest.json/images.npy): "
                "create one with `kgan data prepare SOURCE --out DIR` or `kgan data synthetic --out DIR`"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise KganError(f"cannot read {manifest_path}: {error}; prepare the dataset again") from None
        if self.manifest.get("format") != FORMAT:
            raise KganError(f"{manifest_path} has format {self.manifest.get('format')!r}, expected {FORMAT}")
        if len(self.images) != self.manifest["count"]:
            raise KganError(f"{self.folder}/images.npy does not match its manifest; prepare the dataset again")

    @cached_property
    def images(self) -> np.ndarray:
        """All images as a read-only memory map, `[N, S, S, 3]` uint8."""
        try:
            return np.load(self.folder / "images.npy", mmap_mode="r")
        except (OSError, ValueError) as error:
            raise KganError(f"cannot read {self.folder}/images.npy ({error}); prepare the dataset again") from None

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])

    def indices(self, split: str) -> np.ndarray:
        split = Split.parse(split)
        return np.asarray(self.manifest["splits"][split], dtype=np.int64)

    def split_images(self, split: str) -> np.ndarray:
        """The split's images, `[n, S, S, 3]` uint8, read into memory."""
        return self.read_rows(self.indices(split))

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """The images at `rows` (any order), read with plain file reads, in ascending runs.

        Not through the memory map: pages read through a mapping count as this process's
        memory for as long as it stays mapped (a whole training run), which doubled the
        memory of an in-RAM split; read this way they stay in the OS's cache only."""
        rows = np.asarray(rows, dtype=np.int64)
        shape = self.images.shape[1:]
        row_bytes = int(np.prod(shape))
        out = np.empty((len(rows), *shape), np.uint8)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1  # starts of runs of consecutive rows
        with open(self.folder / "images.npy", "rb") as handle:
            for run in np.split(np.arange(len(rows)), breaks):
                for start in range(0, len(run), READ_ROWS):
                    part = run[start : start + READ_ROWS]
                    handle.seek(self.images.offset + int(ordered[part[0]]) * row_bytes)
                    buffer = np.empty((len(part), *shape), np.uint8)
                    if handle.readinto(memoryview(buffer).cast("B")) != buffer.nbytes:
                        raise KganError(f"{self.folder}/images.npy is shorter than its manifest; prepare it again")
                    out[order[part]] = buffer
        return out

    @cached_property
    def split_id(self) -> str:
        """A short hash identifying the images and the split (keys caches and runs)."""
        digest = hashlib.sha256()
        for split in SPLITS:
            digest.update(split.encode())
            for index in self.manifest["splits"][split]:
                digest.update(self.manifest["sha256"][index].encode())
        return digest.hexdigest()[:16]

    def attribute_table(self) -> AttributeTable | None:
        """The images' attributes, or None when they have none."""
        return read_table(self.folder, self.manifest, self.manifest["count"])

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.folder.resolve()),
            "split_id": self.split_id,
            "image_size": self.image_size,
            "count": self.manifest["count"],
            "split_counts": self.manifest["split_counts"],
            "source": self.manifest.get("source"),
        }
