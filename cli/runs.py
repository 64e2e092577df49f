"""`kgan runs` and `kgan report`: the runs at a glance, and one run's plots and HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import RUNS_DIR_ENV, Json, RunDir
from cli.ui import console

COLUMNS = ("run", "variant", "data", "epochs", "best val FID", "test FID", "status")
DROPPED_FIRST = ("data", "variant", "test FID")  # in this order, while the table is too wide


def list_runs(
    root: Annotated[
        Path | None, typer.Option(envvar=RUNS_DIR_ENV, help="Folder of runs, or one run folder (default: runs/).")
    ] = None,
    as_json: Json = False,
) -> None:
    """A table of runs: variant, data, epochs, best val FID and its epoch, test FID, status."""
    from kgan.report import list_runs as summaries

    rows = summaries(root)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print("no runs yet: start one with `kgan train`")
        return
    console.print(runs_table(rows, console.width))


def runs_table(rows: list[dict], width: int):
    """The runs as a Rich table that never cuts a run's name: other columns go first; when even
    that is too wide, each run takes two lines (its name, then its figures)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    cells = [_cells(row) for row in rows]
    columns = list(COLUMNS)

    def natural(column: str) -> int:
        return max(len(column), *(len(cell[column]) for cell in cells))

    for dropped in DROPPED_FIRST:  # a Rich table is its columns' widths + 3 per column + 1
        if sum(map(natural, columns)) + 3 * len(columns) + 1 <= width:
            break
        columns.remove(dropped)
    else:
        if sum(map(natural, columns)) + 3 * len(columns) + 1 > width:
            lines = []
            for cell in cells:
                lines.append(Text(cell["run"], style="bold"))
                lines.append(Text("  " + " · ".join(f"{c} {cell[c]}" for c in COLUMNS[1:])))
            return Group(*lines)
    table = Table(title="kgan runs")
    for column in columns:
        if column == "run":
            table.add_column(column, no_wrap=True, min_width=natural(column))
        else:
            right = "FID" in column or column == "epochs"
            table.add_column(column, justify="right" if right else "left", overflow="fold")
    for row in cells:
        table.add_row(*(row[column] for column in columns))
    return table


def _cells(row: dict) -> dict[str, str]:
    best = f"{row['best_val_fid']:.3f} (ep {row['best_epoch']})" if row["best_val_fid"] is not None else "—"
    return {
        "run": row["name"],
        "variant": str(row["variant"]),
        "data": row["data"],
        "epochs": f"{row['epochs']}/{row['epochs_planned']}",
        "best val FID": best,
        "test FID": f"{row['test_fid']:.3f}" if row["test_fid"] is not None else "—",
        "status": row["status"],
    }


def report(run_dir: RunDir = None, as_json: Json = False) -> None:
    """PNG plots of losses and FID, and one self-contained HTML page, in <run>/report/."""
    from kgan import runs
    from kgan.report import write_report

    target = runs.resolve_run(run_dir)
    page = write_report(target)
    if as_json:
        plots = sorted(str(path) for path in page.parent.glob("*.png"))
        print(json.dumps({"run": str(target), "page": str(page), "plots": plots}))
        return
    console.print(f"wrote {page} (plots beside it)")
