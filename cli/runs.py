"""`kgan runs` and `kgan report`: the runs at a glance, and one run's plots and HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.ui import console


def list_runs(
    root: Annotated[Path | None, typer.Option(help="Folder of runs (default: runs/ or $KGAN_RUNS_DIR).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """A table of runs: variant, data, epochs, best val FID and its epoch, test FID, status."""
    from rich.table import Table

    from kgan.report import list_runs as summaries

    rows = summaries(root)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print("no runs yet: start one with `kgan train`")
        return
    table = Table(title="kgan runs")
    for column in ("run", "variant", "data", "epochs", "best val FID", "test FID", "status"):
        table.add_column(column, justify="right" if "FID" in column or column == "epochs" else "left")
    for row in rows:
        best = f"{row['best_val_fid']:.3f} (ep {row['best_epoch']})" if row["best_val_fid"] is not None else "—"
        test = f"{row['test_fid']:.3f}" if row["test_fid"] is not None else "—"
        table.add_row(
            row["name"],
            str(row["variant"]),
            row["data"],
            f"{row['epochs']}/{row['epochs_planned']}",
            best,
            test,
            row["status"],
        )
    console.print(table)


def report(
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the latest run).")] = None,
) -> None:
    """PNG plots of losses and FID, and one self-contained HTML page, in <run>/report/."""
    from kgan import runs
    from kgan.report import write_report

    target = runs.resolve_run(run_dir)
    page = write_report(target)
    console.print(f"wrote {page} (plots beside it)")
