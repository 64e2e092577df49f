"""`kgan fid`: FID and KID of a run's generator against a split."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer

from cli.options import Inception, Json, RunDir
from cli.ui import console, import_tensorflow


class Split(str, Enum):
    val = "val"
    test = "test"


def fid(
    run_dir: RunDir = None,
    split: Annotated[Split, typer.Option(help="Real images to compare with.")] = Split.test,
    checkpoint: Annotated[str, typer.Option(help="best (by val FID), last, or a checkpoint folder.")] = "best",
    samples: Annotated[int | None, typer.Option(min=2, help="Images per side (default: the split's size).")] = None,
    features: Annotated[
        str | None, typer.Option(help="inception, random-inception-v3, or a model path (default: the run's).")
    ] = None,
    inception: Inception = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Extraction batch size.")] = 50,
    as_json: Json = False,
) -> None:
    """FID and KID of a run's generator against the val or test split (TF-GAN)."""
    import_tensorflow()
    from rich.table import Table

    from kgan import runs
    from kgan.metrics.evaluate import evaluate_run

    target = runs.resolve_run(run_dir)
    result, description = evaluate_run(
        target,
        split=split.value,
        checkpoint_choice=checkpoint,
        samples=samples,
        features=features,
        inception=inception,
        batch_size=batch_size,
    )
    record = {**result.to_dict(), "checkpoint": description, "run": str(target)}
    if as_json:
        print(json.dumps(record))
        return
    table = Table(title=f"kgan fid — {target.name}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("FID", f"{result.fid:.3f}")
    table.add_row("KID", f"{result.kid:.5f} ± {result.kid_std:.5f}")
    for name in ("n_real", "n_generated", "features", "split"):
        table.add_row(name.replace("_", " "), str(record[name]))
    table.add_row("checkpoint", description)
    console.print(table)
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
