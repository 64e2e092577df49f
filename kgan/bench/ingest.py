"""`kgan bench prepare`: `kgan data prepare` against a plain single-process PIL loop.

The corpora are JPEG folders made from the synthetic avatars (at their own 96×96 and
upscaled to 512×512), cached beside the synthetic dataset. The reference loop is what
dataset tools of the field do (StyleGAN2-ADA's `dataset_tool.py`): open each file with
PIL, convert to RGB, centre-crop, resize with Lanczos, keep the array. kgan's side does
more (content hashes, duplicates, the split, the manifest, a file written as it goes).
This module must not import TensorFlow: its figures are ingest's alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kgan.bench.process import in_fresh_process
from kgan.data import synthetic
from kgan.files import atomic_directory
from kgan.paths import cache_dir

JPEG_QUALITY = 90
SOURCE_SIZES = (96, 512)


def corpus_dir(count: int, size: int) -> Path:
    return cache_dir() / "bench" / f"avatars-jpeg{size}-{count}-v{synthetic.GENERATOR_VERSION}"


def make_corpus(count: int, size: int, chunk: int = 256) -> Path:
    """A folder of `count` avatar JPEGs at `size`×`size` (cached; built once, atomically)."""
    folder = corpus_dir(count, size)
    if folder.is_dir():
        return folder
    with atomic_directory(folder) as tmp:
        for start in range(0, count, chunk):
            attrs = [synthetic.draw_attributes(0, i) for i in range(start, min(start + chunk, count))]
            for offset, pixels in enumerate(synthetic.render(attrs)):
                image = Image.fromarray(pixels)
                if size != synthetic.SIZE:
                    image = image.resize((size, size), Image.Resampling.BICUBIC)
                image.save(tmp / f"avatar-{start + offset:06d}.jpg", quality=JPEG_QUALITY)
    return folder


def pil_loop(folder: Path, size: int) -> np.ndarray:
    """The reference: one process, one file at a time, every image kept in memory."""
    files = sorted(folder.iterdir())
    images = np.empty((len(files), size, size, 3), np.uint8)
    for index, path in enumerate(files):
        with Image.open(path) as image:
            image = image.convert("RGB")
            width, height = image.size
            side = min(width, height)
            left, top = (width - side) // 2, (height - side) // 2
            image = image.crop((left, top, left + side, top + side))
            if side != size:
                image = image.resize((size, size), Image.Resampling.LANCZOS)
            images[index] = np.asarray(image)
    return images


def time_part(side: str, folder: str, size: int, out: str) -> dict[str, Any]:
    """One side's images/s on `folder` (run in a fresh process: its peak RSS is its own)."""
    from kgan.data.prepare import prepare

    count = len(list(Path(folder).iterdir()))
    start = time.perf_counter()
    if side == "pil":
        pil_loop(Path(folder), size)
    else:
        prepare(folder, Path(out), size=size)
    seconds = time.perf_counter() - start
    return {"images": count, "seconds": round(seconds, 2), "images_per_sec": round(count / seconds, 1)}


def bench_prepare(
    count: int = 20_000,
    size: int = 96,
    work: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Images/s and peak RSS of both sides on both corpora, each side in a fresh process.

    `progress` hears (parts done, parts in all). The prepared datasets go to `work` (a
    temporary folder by default) and are removed afterwards.
    """
    import shutil
    import tempfile

    from kgan.system import cpu

    total, done = 3 * len(SOURCE_SIZES), 0
    report: dict[str, Any] = {**cpu.describe(), "images": count, "size": size, "sources": {}}
    scratch = Path(tempfile.mkdtemp(prefix="kgan-bench-", dir=work))
    try:
        for source_size in SOURCE_SIZES:
            folder = make_corpus(count, source_size)
            done += 1
            if progress:
                progress(done, total)
            row: dict[str, Any] = {}
            for side in ("pil", "kgan"):
                out = scratch / f"{side}-{source_size}"
                figures = in_fresh_process("prepare", side=side, folder=str(folder), size=size, out=str(out))
                row[f"{side}_images_per_sec"] = figures["images_per_sec"]
                row[f"{side}_peak_rss_mb"] = figures["peak_rss_mb"]
                shutil.rmtree(out, ignore_errors=True)
                done += 1
                if progress:
                    progress(done, total)
            row["kgan_over_pil"] = round(row["kgan_images_per_sec"] / row["pil_images_per_sec"], 2)
            report["sources"][f"{source_size}x{source_size} JPEG"] = row
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report
