"""`kgan runs` and `kgan report`: the runs at a glance, and one run's plots and HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import Json, RunDir
from cli.ui import console
from kgan.paths import RUNS_DIR_ENV

COLUMNS = ("run", "variant", "data", "epochs", "best val FID", "test FID", "status")
DROPPED_FIRST = ("data", "variant", "test FID")  # in this order, while the table is too wide


def list_runs(
    root: Annotated[
        Path | None, typer.Option(envvar=RUNS_DIR_ENV, help="Folder of runs, or one run folder (default: runs/).")
    ] = None,
    as_json: Json = False,
) -> None:
    """A table of runs: variant, data, epochs, best val FID and its epoch, test FID, status."""
    from kgan.runs.report import list_runs as summaries

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
    right = {column for column in COLUMNS if "FID" in column or column == "epochs"}
    return fitted_table([_cells(row) for row in rows], COLUMNS, DROPPED_FIRST, width, "kgan runs", right)


def fitted_table(
    cells: list[dict[str, str]],
    columns: tuple[str, ...],
    dropped_first: tuple[str, ...],
    width: int,
    title: str | None,
    right: set[str],
):
    """A Rich table of `cells` (rows keyed by column; the first column names the row) that fits
    `width`: the `dropped_first` columns go, in order, while it is too wide; then each row
    takes two lines."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    shown, first = list(columns), columns[0]

    def natural(column: str) -> int:
        return max(len(column), *(len(cell[column]) for cell in cells))

    for dropped in dropped_first:  # a Rich table is its columns' widths + 3 per column + 1
        if sum(map(natural, shown)) + 3 * len(shown) + 1 <= width:
            break
        shown.remove(dropped)
    else:
        if sum(map(natural, shown)) + 3 * len(shown) + 1 > width:
            lines = []
            for cell in cells:
                lines.append(Text(cell[first], style="bold"))
                lines.append(Text("  " + " · ".join(f"{c} {cell[c]}" for c in columns[1:])))
            return Group(*lines)
    table = Table(title=title)
    for column in shown:
        if column == first:
            table.add_column(column, no_wrap=True, min_width=natural(column))
        else:
            table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    for row in cells:
        table.add_row(*(row[column] for column in shown))
    return table


def _cells(row: dict) -> dict[str, str]:
    chosen = ", steering" if row.get("best_by") == "steering" else ""
    best = f"{row['best_val_fid']:.3f} (ep {row['best_epoch']}{chosen})" if row["best_val_fid"] is not None else "—"
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
    from kgan.runs.report import write_report

    target = runs.resolve_run(run_dir)
    page = write_report(target)
    if as_json:
        plots = sorted(str(path) for path in page.parent.glob("*.png"))
        print(json.dumps({"run": str(target), "page": str(page), "plots": plots}))
        return
    console.print(f"wrote {page} (plots beside it)")


def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders to compare.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Folder for index.html and the two plots.")] = Path("comparison"),
    markdown: Annotated[bool, typer.Option(help="Print the table as Markdown instead.")] = False,
    as_json: Json = False,
) -> None:
    """Runs side by side: best val FID and when, test FID, attribute coverage, cost per epoch;
    validation FID curves by epoch and by minutes of training, in one HTML page.

    Example: kgan compare runs/dcgan-a runs/wgangp-b --out comparison
    """
    from kgan.runs.compare import COLUMNS, cell, markdown_table, write_comparison

    page, rows = write_comparison(run_dirs, out)
    if as_json:
        print(json.dumps({"page": str(page), "runs": rows}))
        return
    if markdown:
        print(markdown_table(rows), end="")
        return
    labels = tuple(label for _, label in COLUMNS)
    cells = [{label: cell(row, key) for key, label in COLUMNS} for row in rows]
    dropped = ("min in all", "variant", "status", "min to best", "attribute coverage")
    right = set(labels) - {"run", "variant", "status"}
    console.print(fitted_table(cells, labels, dropped, console.width, "kgan compare", right))
    console.print(f"wrote {page} (plots beside it)")
