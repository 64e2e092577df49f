"""`kgan data`: prepare a folder, archive or URL; fetch the paper's faces; draw synthetic avatars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.config_options import choices
from cli.options import Json, Quiet
from cli.ui import COMPILING, ByteProgress, CountProgress, console, interactive, warn

ResizeFilter = choices("ResizeFilter", ("lanczos", "box", "bilinear"))
LANCZOS = ResizeFilter("lanczos")

app = typer.Typer(no_args_is_help=True, help="Prepare, fetch or draw datasets.")


def _warn_small_splits(counts: dict[str, int]) -> None:
    from kgan.data.dataset import small_evaluation_splits

    for message in small_evaluation_splits(counts):
        warn(message)


def _report_ingest(dataset, report, as_json: bool) -> None:
    counts = dataset.manifest["split_counts"]
    _warn_small_splits(counts)
    labels = dataset.manifest.get("labels")
    if as_json:
        record = {"path": str(dataset.folder), "split_counts": counts, **report.to_dict()}
        if labels:
            record["labels"] = labels
        print(json.dumps(record))
        return
    console.print(
        f"prepared {dataset.folder}: {report.used} images "
        f"(train {counts['train']}, val {counts['val']}, test {counts['test']}), "
        f"{report.duplicates} duplicate{'' if report.duplicates == 1 else 's'} dropped, {len(report.skipped)} skipped"
    )
    for reason, count in sorted(report.reason_counts().items()):
        console.print(f"  skipped {count}: {reason}")
    if labels:
        _report_labels(labels)


def _report_labels(labels: dict) -> None:
    """The labels' vocabulary, then each kind of row or image that got no label, as a warning."""
    vocabulary = "; ".join(f"{name}: {', '.join(values)}" for name, values in labels["vocabulary"].items())
    console.print(f"labels: {labels['report']['labelled_images']} images labelled; {vocabulary}")
    for line in labels["report"]["problems"]:
        warn(line)


@app.command("prepare")
def data_prepare(
    source: Annotated[
        str,
        typer.Argument(
            help="A folder, .zip, .tar(.gz) or http(s) URL of images (downloads go to ~/.cache/kgan/downloads, "
            "or $KGAN_CACHE_DIR/downloads)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the prepared dataset.")],
    size: Annotated[int, typer.Option(min=8, max=1024, help="Stored square size in pixels.")] = 96,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random split.")] = 0,
    val: Annotated[
        int | None, typer.Option(min=0, help="Validation images (default: 2000, or 10% of small sets).")
    ] = None,
    test: Annotated[int | None, typer.Option(min=0, help="Test images (default: as --val).")] = None,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Refuse images with more pixels (decompression bombs).")
    ] = 40_000_000,
    resize_filter: Annotated[
        ResizeFilter, typer.Option(help="Resampling to --size (box: StyleGAN2-ADA's choice for its FIDs).")
    ] = LANCZOS,
    pad: Annotated[
        bool, typer.Option("--pad", help="Letterbox non-square images on white instead of cropping.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing prepared dataset at --out.")] = False,
    labels: Annotated[
        Path | None,
        typer.Option(
            help="CSV of labels: a 'file' column and one column per attribute (or a 'tags' column with --tags); "
            "stored with the images, for conditional training."
        ),
    ] = None,
    tags: Annotated[
        bool,
        typer.Option("--tags", help="--labels holds Danbooru-style tags (blue_hair red_eyes): hair, eye colour."),
    ] = False,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Ingest images into a prepared dataset with a seeded, content-disjoint train/val/test split."""
    from kgan.errors import KganError

    if tags and labels is None:
        raise KganError("--tags reads the tags column of --labels FILE: give --labels")
    from kgan.data.prepare import prepare

    live = interactive(quiet or as_json)
    with ByteProgress("download", live) as bytes_bar, CountProgress("images", live) as counter:
        dataset, report = prepare(
            source,
            out,
            size=size,
            seed=seed,
            val=val,
            test=test,
            max_pixels=max_pixels,
            resize_filter=resize_filter.value,
            pad=pad,
            overwrite=overwrite,
            download_progress=bytes_bar,
            progress=counter,
            labels=labels,
            tags=tags,
        )
    _report_ingest(dataset, report, as_json)


@app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name: anime-faces (the paper's 71,314 faces).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the prepared dataset.")],
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random split.")] = 0,
    url: Annotated[
        str | None, typer.Option(envvar="KGAN_ANIME_FACES_URL", help="A mirror of anime-faces' file to download.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing prepared dataset at --out.")] = False,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Download a known dataset (resumable), then prepare it."""
    from kgan.data.fetch import fetch

    live = interactive(quiet or as_json)
    with ByteProgress(name, live) as bytes_bar, CountProgress("images", live) as counter:
        dataset, report = fetch(
            name, out, url=url, overwrite=overwrite, download_progress=bytes_bar, progress=counter, seed=seed
        )
    _report_ingest(dataset, report, as_json)


@app.command("synthetic")
def data_synthetic(
    out: Annotated[Path, typer.Option("--out", help="Folder for the prepared dataset.")],
    count: Annotated[int, typer.Option(min=10, max=2_000_000, help="Number of avatars.")] = 12_000,
    seed: Annotated[int, typer.Option(min=0, help="Drawing and split seed.")] = 0,
    val: Annotated[int | None, typer.Option(min=0, help="Validation images (default: 10%, at most 2000).")] = None,
    test: Annotated[int | None, typer.Option(min=0, help="Test images (default: as --val).")] = None,
    quiet: Quiet = False,
    as_json: Json = False,
) -> None:
    """Draw procedural anime-style avatars (96×96) with their attributes, as a prepared dataset."""
    from kgan.data.synthetic import drawing_compiled, write_synthetic

    if not (quiet or as_json) and not drawing_compiled():
        console.print(COMPILING)
    with CountProgress("avatars", interactive(quiet or as_json), total=count) as counter:
        dataset = write_synthetic(out, count, seed, val=val, test=test, progress=counter)
    counts = dataset.manifest["split_counts"]
    _warn_small_splits(counts)
    if as_json:
        kept = dataset.manifest["count"]
        record = {"path": str(dataset.folder), "count": kept, "duplicates": count - kept, "seed": seed}
        print(json.dumps({**record, "split_counts": counts, "attributes": str(out / "attributes.csv")}))
        return
    console.print(
        f"drew {dataset.manifest['count']} avatars into {out} "
        f"(train {counts['train']}, val {counts['val']}, test {counts['test']}); "
        f"attributes in {out / 'attributes.csv'}"
    )
