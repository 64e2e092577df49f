"""Several runs side by side: one table and validation-FID curves by epoch and by time.

This is how a user answers "which model is better at equal cost": each run's best
validation FID and when it came, the test FID of its best checkpoint (from `kgan fid`),
attribute coverage when scored with the avatar features, and what an epoch cost.
"""

from __future__ import annotations

import html
import statistics
from pathlib import Path
from typing import Any

from kgan.errors import KganError
from kgan.files import write_text_atomic
from kgan.runs.folder import RunFolder, elapsed_by_epoch, epoch_cost
from kgan.runs.report import PAGE_CSS, data_uri, html_table, run_summary

COLUMNS = (
    ("run", "run"),
    ("variant", "variant"),
    ("epochs", "epochs"),
    ("best_val_fid", "best val FID"),
    ("best_epoch", "at epoch"),
    ("minutes_to_best", "min to best"),
    ("test_fid", "test FID"),
    ("coverage", "attribute coverage"),
    ("seconds_per_epoch", "s / epoch"),
    ("minutes", "min in all"),
    ("status", "status"),
)


def compare_row(run_dir: Path) -> dict[str, Any]:
    """One run's figures for the comparison (None where the run has no such figure)."""
    run_dir = Path(run_dir)
    if not RunFolder(run_dir).is_run():
        raise KganError(f"{run_dir} is not a run folder (no config.json): give folders made by kgan train")
    summary = run_summary(run_dir)
    rows = RunFolder(run_dir).metrics()
    elapsed = elapsed_by_epoch(rows)
    epoch_costs = [epoch_cost(r) for r in rows]
    test = summary["test_evaluation"] or {}
    coverage = None
    if test.get("attributes"):
        values = test["attributes"].values()
        coverage = f"{sum(a['covered'] for a in values)}/{sum(a['values'] for a in values)}"
    best_epoch = summary["best_epoch"]
    return {
        "run": summary["name"],
        "path": str(run_dir),
        "variant": summary["variant"],
        "epochs": summary["epochs"],
        "best_val_fid": summary["best_val_fid"],
        "best_epoch": best_epoch,
        "minutes_to_best": round(elapsed[best_epoch] / 60, 1) if best_epoch in elapsed else None,
        "test_fid": summary["test_fid"],
        "coverage": coverage,
        "precision": test.get("precision"),
        "recall": test.get("recall"),
        "seconds_per_epoch": round(statistics.median(epoch_costs), 1) if epoch_costs else None,
        "minutes": round(max(elapsed.values()) / 60, 1) if elapsed else None,
        "features": next((r["fid_features"] for r in rows if r.get("fid_features")), None),
        "status": summary["status"],
        # (epoch, seconds since the start, validation FID) of every validated epoch
        "curve": [(r["epoch"], elapsed.get(r["epoch"]), r["val_fid"]) for r in rows if _number(r.get("val_fid"))],
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "—"
    if key in ("best_val_fid", "test_fid"):
        return f"{value:.2f}"
    return str(value)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table (for a README or a paper's notes)."""
    lines = ["| " + " | ".join(label for _, label in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row, key) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_curves(rows: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """fid_by_epoch.png and fid_by_time.png: every run's validation FID, best points marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    plots = (("fid_by_epoch.png", 0, "epoch", "by epoch"), ("fid_by_time.png", 1, "minutes of training", "by time"))
    for name, axis, label, by in plots:
        figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
        for row in rows:
            points = [(p[axis] / 60 if axis else p[axis], p[2]) for p in row["curve"] if p[axis] is not None]
            if points:
                (line,) = axes.plot(*zip(*points), marker="o", markersize=3, label=row["run"])
                axes.scatter(*min(points, key=lambda p: p[1]), color=line.get_color(), s=60, zorder=3)
        axes.set_xlabel(label)
        axes.set_ylabel("validation FID")
        axes.set_title(f"validation FID {by} (lower is better; ● best)")
        axes.grid(alpha=0.3)
        if axes.get_lines():
            axes.legend()
        figure.tight_layout()
        figure.savefig(out_dir / name)
        plt.close(figure)
        written.append(out_dir / name)
    return written


def write_comparison(run_dirs: list[Path], out_dir: Path) -> tuple[Path, list[dict[str, Any]]]:
    """`out_dir/index.html` (table and both plots inline) and the rows it shows."""
    if len(run_dirs) < 1:
        raise KganError("give at least one run folder to compare")
    rows = [compare_row(path) for path in run_dirs]
    features = {row["features"] for row in rows if row["features"]}
    out_dir = Path(out_dir)
    plots = plot_curves(rows, out_dir)
    header = "".join(f"<th>{html.escape(label)}</th>" for _, label in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(row, key))}</td>" for key, _ in COLUMNS) + "</tr>" for row in rows
    )
    note = ""
    if len(features) > 1:
        note = (
            f"<p class='warning'>⚠ the runs were validated with different features ({', '.join(sorted(features))}):"
            " their FIDs are not comparable</p>"
        )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kgan comparison</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
{PAGE_CSS}.warning {{ color: #a60; }}
</style></head><body>
<h1>kgan comparison of {len(rows)} runs</h1>
<p>validation features: {html.escape(", ".join(sorted(features)) or "none recorded")}</p>{note}
<table><tr>{header}</tr>{body}</table>
<div class="plots">{"".join(f'<img src="{data_uri(p)}" alt="{p.stem}">' for p in plots)}</div>
<h2>Runs</h2>{html_table((row["run"], row["path"]) for row in rows)}
</body></html>
"""
    write_text_atomic(out_dir / "index.html", page)
    return out_dir / "index.html", rows
