"""`kgan fid`: FID, KID, precision and recall of a run's generator, or of image files, against a split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import DEFAULT_CHECKPOINT, Checkpoint, Inception, Json, RunDir
from cli.ui import console, err_console, import_tensorflow
from kgan.data.dataset import Split


def fid(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Score files instead of a run's generator: PATH against the run's --split (or --ref-stats), "
            "or PATH REFERENCE. Each: a folder of images, an .npy array, a prepared dataset (its --split) or "
            "an export; REFERENCE may also be an .npz of statistics.",
            show_default=False,
        ),
    ] = None,
    run_dir: RunDir = None,
    split: Annotated[Split, typer.Option(help="Real images to compare with.")] = Split.TEST,
    checkpoint: Checkpoint = DEFAULT_CHECKPOINT,
    samples: Annotated[
        int | None, typer.Option(min=2, help="Images per side (default: the split's size, or the smaller side's).")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="inception, random-inception-v3, avatar, or a model path (default: the run's).")
    ] = None,
    inception: Inception = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Extraction batch size.")] = 50,
    save_stats: Annotated[
        Path | None, typer.Option(help="Also write the split's statistics here (.npz, pytorch-fid's mu/sigma).")
    ] = None,
    ref_stats: Annotated[
        Path | None,
        typer.Option(help="Score against these statistics (.npz from pytorch-fid or kgan) instead of the split."),
    ] = None,
    as_json: Json = False,
) -> None:
    """FID, KID, precision and recall of a run's generator — or of image files — against a split (TF-GAN).

    Examples:

      kgan fid                                   # the latest run's best checkpoint against its test split
      kgan fid generated/ real/                  # two folders of images, as pytorch-fid's path1 path2
      kgan fid samples.npy --run-dir runs/x      # an array against a run's test split
      kgan fid saved_models/generator data/faces --split val   # an export against a prepared split
      kgan fid generated/ stats.npz              # against pytorch-fid statistics (FID only)
    """
    import_tensorflow()

    if paths and save_stats:
        from kgan.errors import KganError

        raise KganError("--save-stats writes a run's split statistics: leave out the paths, or drop it")
    if paths:
        _fid_of_files(paths, run_dir, split.value, samples, features, inception, batch_size, ref_stats, as_json)
        return
    from kgan import runs
    from kgan.metrics.evaluate import evaluate_run
    from kgan.training.checkpoint import summary as checkpoint_summary

    target = runs.resolve_run(run_dir)
    result, chosen = evaluate_run(
        target,
        split=split.value,
        checkpoint_choice=checkpoint,
        samples=samples,
        features=features,
        inception=inception,
        batch_size=batch_size,
        save_stats=save_stats,
        ref_stats=ref_stats,
        announce=_announce,
    )
    record = {**result.to_dict(), "checkpoint": chosen, "run": str(target)}
    if as_json:
        print(json.dumps(record))
        return
    _show(result, f"kgan fid — {target.name}", {"checkpoint": checkpoint_summary(chosen)})
    if save_stats:
        console.print(f"wrote the {split.value} split's statistics to {save_stats} (pytorch-fid's format)")
    if ref_stats:
        console.print(f"scored against {ref_stats}: KID, precision and recall need the real features, not shown")
    _notes(result)


def _announce(message: str) -> None:
    err_console.print(message, markup=False)


def _fid_of_files(paths, run_dir, split, samples, features, inception, batch_size, ref_stats, as_json) -> None:
    """`kgan fid PATH [REFERENCE]`: image files against each other, a run's split or statistics."""
    from kgan.metrics.evaluate import evaluate_files

    result, sides = evaluate_files(
        paths,
        run_dir=run_dir,
        ref_stats=ref_stats,
        split=split,
        samples=samples,
        features=features,
        inception=inception,
        batch_size=batch_size,
        announce=_announce,
    )
    if as_json:
        print(json.dumps({**result.to_dict(), "checkpoint": None, "sources": sides}))
        return
    _show(result, f"kgan fid — {sides[0]} against {sides[1]}", {})
    _notes(result)


def _show(result, title: str, extra: dict[str, str]) -> None:
    from rich.table import Table

    from kgan.metrics.table import shown

    table = Table(title=title)
    table.add_column("")
    table.add_column("value", justify="right")
    record = result.to_dict()
    for label, value in shown(record):
        table.add_row(label, value)
    for name in ("n_real", "n_generated", "features", "split"):
        table.add_row(name.replace("_", " "), str(record[name]))
    for name, value in extra.items():
        table.add_row(name, value)
    console.print(table)
    if result.attributes:
        console.print(attributes_table(result.attributes))


def _notes(result) -> None:
    if result.rank_deficient:
        console.print(
            f"note: {result.n_real} images per side, fewer than the {result.dimensions} feature dimensions: the "
            "covariances are rank-deficient, so this FID is biased by the sample count; compare only FIDs "
            "computed from the same number of images"
        )
    if not result.comparable:
        console.print(
            "note: these features are not the standard FID Inception; the numbers are not comparable "
            "with published FIDs"
        )


def attributes_table(report: dict[str, dict]):
    """The attribute report: per attribute, the distance to the data and the values present."""
    from rich.table import Table

    table = Table(title="attributes of the generated images (avatar classifier) against the data's")
    for column in ("attribute", "TVD", "coverage", "most over-produced", "most missing"):
        table.add_column(column, justify="right" if column in ("TVD", "coverage") else "left")
    for name, row in report.items():
        gaps = {value: row["generated"][value] - row["data"][value] for value in row["data"]}
        over, under = max(gaps, key=gaps.get), min(gaps, key=gaps.get)
        table.add_row(
            name.replace("_", " "),
            f"{row['tvd']:.3f}",
            f"{row['covered']}/{row['values']}",
            f"{over} (+{gaps[over]:.0%})" if gaps[over] > 0 else "—",
            f"{under} ({gaps[under]:.0%})" if gaps[under] < 0 else "—",
        )
    return table
