"""A run at a glance: the runs table, PNG plots of the history, and one HTML page."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from kgan import runs
from kgan.files import write_text_atomic
from kgan.training import checkpoint
from kgan.training.step_metrics import METRIC_NAMES


def run_summary(run_dir: Path) -> dict[str, Any]:
    """One row of `kgan runs`: name, variant, data, epochs, best val FID, test FID, status."""
    run_dir = Path(run_dir)
    config = runs.read_json(run_dir / "config.json", {}) or {}
    dataset = runs.read_json(run_dir / "dataset.json", {}) or {}
    status = runs.status_of(run_dir)
    rows = runs.read_metrics(run_dir)
    best = checkpoint.best(run_dir)
    test_fid = None
    evaluations = run_dir / "evaluations.jsonl"
    if evaluations.is_file():
        for line in evaluations.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("split") == "test":
                test_fid = record.get("fid")
    return {
        "name": run_dir.name,
        "path": str(run_dir),
        "variant": config.get("variant"),
        "data": Path(dataset.get("path", config.get("data", "?"))).name,
        "epochs": rows[-1]["epoch"] if rows else 0,
        "epochs_planned": config.get("epochs"),
        "best_val_fid": best["val_fid"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "test_fid": test_fid,
        "status": status,
    }


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """The summaries of the runs in `root` (default: the runs folder); `root` may be one run."""
    root = Path(root or runs.runs_root())
    if (root / "config.json").is_file():
        return [run_summary(root)]
    if not root.is_dir():
        return []
    return [run_summary(p.parent) for p in sorted(root.glob("*/config.json"))]


def plot_history(rows: list[dict[str, Any]], out_dir: Path) -> dict[Path, int]:
    """losses.png (one curve per non-zero loss/output) and, with FID, fid.png; → curves per plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[Path, int] = {}

    def save(figure, axes, title: str, name: str) -> None:
        axes.set_xlabel("epoch")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(out_dir / name)
        written[out_dir / name] = len(axes.get_lines())
        plt.close(figure)

    epochs = [r["epoch"] for r in rows]
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for key in METRIC_NAMES:
        values = [r.get(key) for r in rows]
        if any(isinstance(v, int | float) and v != 0 for v in values):
            axes.plot(epochs, values, marker="o", markersize=3, label=key)
    save(figure, axes, "losses and discriminator outputs", "losses.png")
    fids = [(r["epoch"], r["val_fid"]) for r in rows if isinstance(r.get("val_fid"), int | float)]
    if fids:
        figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
        axes.plot(*zip(*fids), marker="o", markersize=3, label="validation FID")
        best_epoch, best_value = min(fids, key=lambda item: item[1])
        label = f"best {best_value:.2f} (epoch {best_epoch})"
        axes.scatter([best_epoch], [best_value], color="red", zorder=3, label=label)
        save(figure, axes, "validation FID (lower is better)", "fid.png")
    return written


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def write_report(run_dir: Path) -> Path:
    """`<run>/report/index.html`: config, best/last numbers, plots and per-epoch grids, all inline."""
    run_dir = Path(run_dir)
    rows = runs.read_metrics(run_dir)
    out_dir = run_dir / "report"
    plots = plot_history(rows, out_dir) if rows else []
    summary = run_summary(run_dir)
    config = runs.read_json(run_dir / "config.json", {}) or {}
    last = rows[-1] if rows else {}

    def table(pairs) -> str:
        cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)
        return f"<table>{cells}</table>"

    numbers = [
        ("status", summary["status"]),
        ("epochs", f"{summary['epochs']} of {summary['epochs_planned']}"),
        (
            "best validation FID",
            f"{summary['best_val_fid']:.3f} (epoch {summary['best_epoch']})"
            if summary["best_val_fid"] is not None
            else "—",
        ),
        ("test FID", f"{summary['test_fid']:.3f}" if summary["test_fid"] is not None else "—"),
        *((f"last {key}", f"{last[key]:.4f}") for key in METRIC_NAMES if isinstance(last.get(key), int | float)),
    ]
    grids = sorted((run_dir / "samples").glob("epoch-*.png"))
    figures = "".join(
        f'<figure><img src="{_data_uri(path)}" alt="{path.stem}"><figcaption>{path.stem}</figcaption></figure>'
        for path in grids
    )
    plot_html = "".join(f'<img class="plot" src="{_data_uri(p)}" alt="{p.stem}">' for p in plots)
    warnings = [w for r in rows[-1:] for w in r.get("warnings", [])]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kgan run {html.escape(run_dir.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
figure {{ display: inline-block; margin: 6px; text-align: center; }}
figure img {{ image-rendering: pixelated; width: 256px; }}
img.plot {{ max-width: 48%; margin-right: 1%; }}
.warning {{ color: #a60; }}
</style></head><body>
<h1>kgan run {html.escape(run_dir.name)}</h1>
<h2>Results</h2>{table(numbers)}
{"".join(f'<p class="warning">⚠ {html.escape(w)}</p>' for w in warnings)}
<h2>History</h2>{plot_html or "<p>no epochs recorded yet</p>"}
<h2>Samples (fixed noise, every epoch)</h2>{figures or "<p>no sample grids</p>"}
<h2>Configuration</h2>{table(sorted(config.items()))}
</body></html>
"""
    write_text_atomic(out_dir / "index.html", page)
    return out_dir / "index.html"
