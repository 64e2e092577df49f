"""`kgan data prepare`: any folder, archive or URL of images → a prepared dataset."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

from kgan.data.dataset import ImageRows, ImageWriter, IngestReport, PreparedDataset
from kgan.data.decoding import Decoded, Request, decode_chunk
from kgan.data.download import Progress, download, is_url
from kgan.data.images import DEFAULT_MAX_PIXELS, RESIZE_FILTERS, decode_image
from kgan.data.labels import attach, read_labels, write_attributes
from kgan.data.sources import Entry, iter_entries
from kgan.errors import KganError
from kgan.files import atomic_directory
from kgan.paths import cache_dir
from kgan.system.workers import OrderedWorkers, usable_cores

ItemProgress = Callable[[int], None]  # called with the number of entries scanned so far
CHUNK = 64  # entries per task of a decoding process


def check_output(out: Path, overwrite: bool, source: Path | None = None) -> None:
    """Refuse an output that would clobber data or sit inside the source."""
    out = Path(out)
    if source is not None and source.is_dir():
        resolved_out, resolved_src = out.resolve(), source.resolve()
        if resolved_out == resolved_src or resolved_src in resolved_out.parents:
            raise KganError(f"--out {out} is inside the source {source}: choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise KganError(f"--out {out} exists and is not a folder: choose another path")
    if out.is_dir() and any(out.iterdir()):
        is_dataset = (out / "manifest.json").is_file()
        if not (overwrite and is_dataset):
            hint = "pass --overwrite to replace it" if is_dataset else "choose an empty or new folder"
            raise KganError(f"--out {out} is not empty: {hint}")


def prepare(
    source: str | Path,
    out: Path,
    *,
    size: int = 96,
    seed: int = 0,
    val: int | None = None,
    test: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    resize_filter: str = "lanczos",
    pad: bool = False,
    overwrite: bool = False,
    download_progress: Progress | None = None,
    progress: ItemProgress | None = None,
    workers: int | None = None,
    labels: Path | None = None,
    tags: bool = False,
) -> tuple[PreparedDataset, IngestReport]:
    """Ingest `source` into a prepared dataset at `out`.

    Images are decoded, converted to RGB, centre-cropped (or padded) and resized to `size`
    with `resize_filter`; exact
    duplicates (same pixels) are kept once, so no content can sit in two splits.
    The dataset appears at `out` only once it is complete. With `labels` (a CSV file, see
    `kgan.data.labels`), each image's labels go into `attributes.csv` and their vocabulary and
    report into the manifest (`labels`).
    """
    if size < 8:
        raise KganError(f"--size must be at least 8 pixels, got {size}")
    if resize_filter not in RESIZE_FILTERS:
        raise KganError(f"--resize-filter must be one of {', '.join(RESIZE_FILTERS)}, got {resize_filter!r}")
    out = Path(out)
    table = read_labels(labels, tags=tags) if labels is not None else None  # a bad file fails before any work
    if is_url(str(source)):
        check_output(out, overwrite)
        path = download(str(source), cache_dir() / "downloads", progress=download_progress)
        origin = str(source)
    else:
        path = Path(source)
        check_output(out, overwrite, path)
        origin = str(path.resolve())
    with atomic_directory(out) as tmp:
        writer = ImageWriter(tmp / "images.npy", size)
        report = writer.report
        try:
            options = {"size": size, "max_pixels": max_pixels, "resize_filter": resize_filter, "pad": pad}
            for entry, row, result in _decode_all(iter_entries(path), writer.path, options, workers):
                report.scanned += 1
                if result.skipped is not None:
                    report.skip(entry.name, result.skipped)
                else:
                    writer.place(entry.name, row, result.digest)
                if progress:
                    progress(report.scanned)
        finally:
            count = writer.close()
        if count == 0:
            reasons = ", ".join(f"{n} {r}" for r, n in report.reason_counts().items()) or "no files"
            raise KganError(f"no usable image in {source} ({reasons}); check the path")
        writer.sort_by_name()  # tar archives are read in stored order
        extra = {"resize_filter": resize_filter, "pad": pad}
        if table is not None:
            rows = attach(table, writer.names)
            write_attributes(tmp / "attributes.csv", table, writer.names, rows)
            extra["labels"] = {
                "file": str(Path(labels).resolve()),
                "attributes": list(table.attributes),
                "vocabulary": {name: list(values) for name, values in table.vocabulary.items()},
                "report": table.report.to_dict(),
            }
        writer.finish(source=origin, seed=seed, val=val, test=test, extra=extra)
    return PreparedDataset(out), report


def _decode_all(
    entries: Iterator[Entry], images: Path, options: dict, workers: int | None
) -> Iterator[tuple[Entry, int, Decoded]]:
    """Decode entries in chunks on worker processes (`kgan.system.workers`), each image written
    straight into its provisional row of `images`; yields each entry with its row and
    outcome, in source order. The first chunk is decoded here, so a handful of images never
    pays for starting processes; at most a few chunks per worker are in flight, so memory
    is bounded by a chunk, not by the dataset."""
    workers = workers or usable_cores()
    requests = _requests(_chunks(entries, CHUNK))
    first = next(requests, None)
    if first is None:
        return
    with ImageRows(images, options["size"]) as rows:
        decode = functools.partial(decode_image, **options)
        yield from _outcomes(*first, decode_chunk(decode, rows, first[1]))
        if workers <= 1:
            for chunk, request in requests:
                yield from _outcomes(chunk, request, decode_chunk(decode, rows, request))
            return
    task = "kgan.data.decoding:decode_request"
    with OrderedWorkers(task, "image-decoding", workers, {"images": str(images), **options}) as pool:
        for (chunk, request), answer in pool.map(((chunk, request), request) for chunk, request in requests):
            yield from _outcomes(chunk, request, answer)


def _requests(chunks: Iterator[list[Entry]]) -> Iterator[tuple[list[Entry], Request]]:
    """Each chunk with its request: entry k of the whole source gets provisional row k."""
    row = 0
    for chunk in chunks:
        yield chunk, (row, [entry.refused or entry.data or b"" for entry in chunk])
        row += len(chunk)


def _outcomes(chunk: list[Entry], request: Request, answer: list[Decoded]) -> Iterator[tuple[Entry, int, Decoded]]:
    return zip(chunk, range(request[0], request[0] + len(chunk)), answer)


def _chunks(entries: Iterator[Entry], size: int) -> Iterator[list[Entry]]:
    chunk: list[Entry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
