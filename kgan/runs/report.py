"""A run at a glance: the runs table, PNG plots of the history, and one HTML page."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from kgan import runs
from kgan.data.dataset import Split
from kgan.files import write_text_atomic
from kgan.runs.folder import RunFolder
from kgan.training import checkpoint
from kgan.training.step_metrics import METRIC_NAMES

# The look every kgan page shares: the text, tables of figures, plots side by side.
PAGE_CSS = """\
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1280px; padding: 1.5em 2em;
  color: #222; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 4px 14px 4px 0; text-align: left; font-weight: normal; }
th { color: #666; }
td { font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots img { flex: 1 1 420px; max-width: calc(50% - 0.5em); min-width: 320px; height: auto; }
"""


def run_summary(run_dir: Path) -> dict[str, Any]:
    """One row of `kgan runs`: name, variant, data, epochs, best val FID, test FID, status."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    config, dataset, rows = folder.config_values(), folder.dataset_record(), folder.metrics()
    best = checkpoint.best(run_dir)
    tests = [record for record in folder.evaluations() if record.get("split") == Split.TEST]
    test_evaluation = tests[-1] if tests else None
    test_fid = test_evaluation.get("fid") if test_evaluation else None
    return {
        "name": run_dir.name,
        "path": str(run_dir),
        "variant": config.get("variant"),
        "data": Path(dataset.get("path", config.get("data", "?"))).name,
        "epochs": rows[-1]["epoch"] if rows else 0,
        "epochs_planned": config.get("epochs"),
        "best_val_fid": best["val_fid"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "best_by": best.get("by", "fid") if best else None,
        "test_fid": test_fid,
        "status": folder.status(),
        "test_evaluation": test_evaluation,  # the newest `kgan fid` record on the test split
    }


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """The summaries of the runs in `root` (default: the runs folder); `root` may be one run."""
    return [run_summary(folder.path) for folder in runs.run_folders(root)]


def plot_history(rows: list[dict[str, Any]], out_dir: Path) -> dict[Path, int]:
    """losses.png (one curve per non-zero loss/output), with FID fid.png, with a conditional run's
    attribute accuracy attributes.png; → curves per plot."""
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
    steered = [r for r in rows if isinstance(r.get("attribute_accuracy"), dict)]
    if steered:  # a conditional run on the avatars: the classifier's reading of what was asked
        figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
        for name in steered[-1]["attribute_accuracy"]:
            shares = [r["attribute_accuracy"].get(name) for r in steered]
            axes.plot([r["epoch"] for r in steered], shares, marker="o", markersize=3, label=name)
        axes.set_ylim(0.0, 1.02)
        save(figure, axes, "attributes read back as asked (higher is better)", "attributes.png")
    return written


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


REPORT_CSS = """\
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.facts { color: #666; margin-top: 0; }
.status { display: inline-block; padding: 2px 10px; border-radius: 10px; font-size: 0.8em; vertical-align: middle;
  background: #e0e0e0; }
.status.finished, .status.stopped_early { background: #d4f0d4; }
.status.failed, .status.died { background: #f6d0d0; }
.status.interrupted, .status.running { background: #fbeec8; }
.strip { display: flex; gap: 10px; overflow-x: auto; padding-bottom: 8px; }
.strip figure { flex: 0 0 auto; margin: 0; text-align: center; border: 2px solid transparent; padding: 2px; }
.strip figure.best { border-color: #d33; }
.strip img { image-rendering: pixelated; width: 240px; height: auto; display: block; }
figcaption { font-size: 0.85em; color: #444; margin-top: 2px; }
.warning { color: #a60; }
details summary { cursor: pointer; color: #444; }
"""


def write_report(run_dir: Path) -> Path:
    """`<run>/report/index.html`: results, plots side by side, the per-epoch grids as a strip
    (best epoch marked), warnings and the folded config; images inline, so the page stands alone."""
    folder = RunFolder(run_dir)
    rows = folder.metrics()
    plots = plot_history(rows, folder.report) if rows else []
    summary = run_summary(folder.path)
    config = folder.config_values()
    test = summary["test_evaluation"] or {}
    plot_html = "".join(f'<img class="plot" src="{data_uri(p)}" alt="{p.stem} plot">' for p in plots)
    warnings = [w for r in rows[-1:] for w in r.get("warnings", [])]
    title = f"kgan run {folder.path.name}"
    status = html.escape(summary["status"])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>
{PAGE_CSS}{REPORT_CSS}</style></head><body>
<h1>{html.escape(title)} <span class="status {status}">{status}</span></h1>
<p class="facts">{_facts(config, folder.dataset_record(), summary)}</p>
<h2>Results</h2>{html_table(_results(summary, rows))}
{_attributes(test)}
{"".join(f'<p class="warning">⚠ {html.escape(w)}</p>' for w in warnings)}
<h2>History</h2><div class="plots">{plot_html or "<p>no epochs recorded yet</p>"}</div>
<h2>Samples</h2>
<p class="facts">the same fixed noise after every epoch (scroll sideways; ★ the best by validation FID)</p>
<div class="strip">{_sample_strip(folder, rows, summary["best_epoch"]) or "<p>no sample grids</p>"}</div>
<h2>Configuration</h2>
<details><summary>{len(config)} hyperparameters</summary>{html_table(sorted(config.items()))}</details>
</body></html>
"""
    write_text_atomic(folder.report / "index.html", page)
    return folder.report / "index.html"


def _results(summary: dict[str, Any], rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The figures at the top of the page: progress, FIDs, the test evaluation, the last epoch."""
    from kgan.metrics.table import shown  # here: `kgan.metrics` loads TensorFlow, which `kgan runs` never needs

    last = rows[-1] if rows else {}
    numbers = [
        ("status", summary["status"]),
        ("epochs", f"{summary['epochs']} of {summary['epochs_planned']}"),
        ("best validation FID", _best(summary)),
        ("test FID", f"{summary['test_fid']:.3f}" if summary["test_fid"] is not None else "— (run kgan fid)"),
    ]
    numbers += [(f"test {label}", value) for label, value in shown(summary["test_evaluation"] or {}) if label != "FID"]
    numbers += [(f"last {key}", f"{last[key]:.4f}") for key in METRIC_NAMES if isinstance(last.get(key), int | float)]
    if isinstance(last.get("images_per_sec"), int | float):
        numbers.append(("images/s (last epoch)", f"{last['images_per_sec']:.1f}"))
    return numbers


def _attributes(test: dict[str, Any]) -> str:
    """The attribute report of the newest test evaluation, when it has one."""
    if not test.get("attributes"):
        return ""
    rows_html = [
        (name.replace("_", " "), f"TVD {row['tvd']:.3f} · {row['covered']}/{row['values']} values present")
        for name, row in test["attributes"].items()
    ]
    return (
        "<h2>Attributes</h2><p class='facts'>the avatar classifier on generated images against the "
        f"test split's (total variation distance, coverage)</p>{html_table(rows_html)}"
    )


def _sample_strip(folder: RunFolder, rows: list[dict[str, Any]], best_epoch: int | None) -> str:
    """Each epoch's grid with its validation FID, the best one framed and starred."""
    fids = {r["epoch"]: r["val_fid"] for r in rows if isinstance(r.get("val_fid"), int | float)}
    strip = []
    for path in sorted(folder.samples.glob("epoch-*.png")):
        epoch = int(path.stem.split("-")[1])
        caption = f"epoch {epoch}" + (f" · FID {fids[epoch]:.2f}" if epoch in fids else "")
        best = ' class="best"' if epoch == best_epoch else ""
        caption += " ★" if best else ""
        strip.append(
            f'<figure{best}><img src="{data_uri(path)}" alt="samples after epoch {epoch}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    return "".join(strip)


def _facts(config: dict[str, Any], dataset: dict[str, Any], summary: dict[str, Any]) -> str:
    """The line under the title: variant, size, data and its split."""
    size = config.get("image_size")
    facts = " · ".join(
        html.escape(str(part)) for part in (config.get("variant"), f"{size}×{size}", summary["data"]) if part
    )
    if dataset.get("split_counts"):
        facts += " · " + html.escape(", ".join(f"{k} {v}" for k, v in dataset["split_counts"].items()))
    return facts


def _best(summary: dict[str, Any]) -> str:
    if summary["best_val_fid"] is None:
        return "—"
    chosen = ", chosen by steering" if summary.get("best_by") == "steering" else ""
    return f"{summary['best_val_fid']:.3f} (epoch {summary['best_epoch']}{chosen})"


def html_table(pairs) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in pairs)
    return f"<table>{cells}</table>"
