"""The training dashboard: a Rich Live layout on terminals, one plain line per epoch otherwise.

Panels: progress (epochs, steps, ETA, images/s), current losses, sparklines of each
metric's per-epoch history, the validation FID history (best marked, patience left), the
last epoch's fixed-noise grid drawn with half-block characters, and warnings.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np
from rich.console import Console, Group
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from cli.terminal_image import half_blocks
from cli.ui import console, warn
from kgan.metrics.steering import worst_read
from kgan.training.step_metrics import LABELS, METRIC_NAMES, STEERED_ONLY, reported

BARS = "▁▂▃▄▅▆▇█"
GRID_WIDTH = 48  # characters (and pixels) across the sample grid at most: two pixel rows per line
MIN_LEFT_WIDTH = 56  # the losses table with its sparklines


def format_logs(logs: dict | None) -> str:
    return " ".join(f"{key}={float(logs[key]):.4f}" for key in METRIC_NAMES if logs and key in logs)


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds + 0.5), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"


def sparkline(values: list[float], width: int = 24) -> str:
    """The last `width` values as block characters scaled between their min and max."""
    values = [v for v in values if isinstance(v, int | float) and np.isfinite(v)][-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1.0
    return "".join(BARS[min(len(BARS) - 1, int((v - low) / span * (len(BARS) - 1) + 0.5))] for v in values)


class TrainingDisplay(keras.callbacks.Callback):
    """Live dashboard (`live=True`) or plain per-epoch lines, fed by fit and the run recorder."""

    def __init__(self, live: bool, run_name: str = "", output: Console | None = None):
        super().__init__()
        self.live_mode, self.run_name = live, run_name
        self.console = output or console
        self.plan: Any = None
        self.config: Any = None
        self.history: list[dict] = []
        self.batch_logs: dict[str, float] = {}
        self.grid: np.ndarray | None = None
        self.best: dict | None = None
        self.warnings: list[str] = []  # the run's, from its records
        self.notices: list[str] = []  # the library's while it trains (a stop signal noted, say)
        self.progress: Progress | None = None
        self.live: Live | None = None
        self._epoch_start = time.perf_counter()
        self._steps = 0
        self._speed = 0.0
        self.fid_off: str | None = None  # why validation FID is off, when it is
        self._epoch_seconds: list[float] = []  # wall time of each epoch finished here, FID included

    # ---- hooks from kgan.train ------------------------------------------------------

    def on_plan(self, plan, config) -> None:
        self.plan, self.config = plan, config
        self.fid_off = None if config.fid_every else "--fid-every 0"  # known before the validator is made
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta {task.fields[eta]}"),
            console=console,
        )
        start_epoch, offset = divmod(plan.start_step, plan.steps_per_epoch)
        self.epoch_task = self.progress.add_task("epochs", total=plan.epochs, completed=start_epoch, eta="–")
        self.step_task = self.progress.add_task("steps ", total=plan.steps_per_epoch, completed=offset, eta="–")
        if self.live_mode:
            self.live = Live(self.render(), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()

    def on_validation(self, off: str | None) -> None:
        self.fid_off = off

    def on_record(self, row: dict, grid: np.ndarray | None, best: dict | None) -> None:
        self.history.append(row)
        self.grid, self.best = grid, best
        new = [w for w in row.get("warnings", []) if w not in self.warnings]
        self.warnings = row.get("warnings", [])
        if not self.live_mode:
            for message in new:
                warn(message)

    def warn(self, message: str) -> None:
        """A warning from the library while training: in the dashboard's warnings panel when
        live (a line on stderr would be drawn over), else a line on stderr. Shown at the next
        redraw, not drawn here: this may run in a signal handler, in the middle of a redraw."""
        if self.live is None:
            warn(message)
        else:
            self.notices.append(message)

    # ---- keras callbacks ------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._steps = time.perf_counter(), 0
        if self.progress and self.plan:
            first = self.plan.start_step // self.plan.steps_per_epoch
            offset = self.plan.start_step % self.plan.steps_per_epoch if epoch == first else 0
            self.progress.reset(self.step_task, total=self.plan.steps_per_epoch, completed=offset)
            self.progress.update(self.step_task, description=f"epoch {epoch + 1}")

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if not self.live_mode:
            return
        seconds = time.perf_counter() - self._epoch_start
        self._speed = self._steps * self.plan.images_per_step / seconds if seconds > 0 else 0.0
        if logs:  # the multi-worker loop passes losses only every few steps
            self.batch_logs = {k: float(v) for k, v in logs.items() if k in METRIC_NAMES}
        self.progress.update(self.step_task, advance=1)
        task = self.progress.tasks[self.step_task]
        self.progress.update(self.step_task, eta=_clock((task.total - task.completed) * seconds / self._steps))
        if self._epoch_seconds:  # the epochs' ETA: what this epoch has left, then whole epochs as measured
            epochs_after = self.plan.epochs - self.progress.tasks[self.epoch_task].completed - 1
            left = (task.total - task.completed) * seconds / self._steps
            eta = left + max(epochs_after, 0) * sum(self._epoch_seconds) / len(self._epoch_seconds)
            self.progress.update(self.epoch_task, eta=_clock(eta))
        if self.live:
            self.live.update(self.render())

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._epoch_start
        speed = self._steps * self.plan.images_per_step / seconds if seconds > 0 else 0.0
        self._epoch_seconds.append(seconds)
        if self.live_mode:
            self.progress.update(self.epoch_task, completed=epoch + 1)
            epochs_left = self.plan.epochs - (epoch + 1)
            mean = sum(self._epoch_seconds) / len(self._epoch_seconds)
            self.progress.update(self.epoch_task, eta=_clock(epochs_left * mean))
            if self.live:
                self.live.update(self.render())
            return
        row = self.history[-1] if self.history and self.history[-1].get("epoch") == epoch + 1 else {}
        fid = f" val_fid={row['val_fid']:.3f}" if isinstance(row.get("val_fid"), int | float) else ""
        if row.get("attribute_accuracy"):
            fid += " worst_attribute={}:{:.3f}".format(*worst_read(row["attribute_accuracy"]))
        step = (epoch + 1) * self.plan.steps_per_epoch
        print(
            f"epoch {epoch + 1}/{self.plan.epochs} step {step}/{self.plan.total_steps} "
            f"{format_logs(logs)}{fid} images_per_sec={speed:.1f} seconds={seconds:.1f}",
            flush=True,
        )

    def close(self) -> None:
        if self.live:
            self.live.update(self.render())
            self.live.stop()
            self.live = None

    # ---- rendering ------------------------------------------------------------------

    def metric_names(self) -> tuple[str, ...]:
        """The rows of the losses table: the attribute terms once a steered run reports them."""
        last = self.history[-1] if self.history else {}
        return reported(any(key in self.batch_logs or key in last for key in STEERED_ONLY))

    def losses_table(self) -> Table:
        table = Table(expand=True, box=None, pad_edge=False)
        for column in ("", "now", "last epoch", "history"):
            table.add_column(column, justify="left" if column in ("", "history") else "right")
        last = self.history[-1] if self.history else {}
        for key in self.metric_names():
            now = self.batch_logs.get(key)
            table.add_row(
                LABELS[key],
                f"{now:.4f}" if now is not None else "—",
                f"{last[key]:.4f}" if isinstance(last.get(key), int | float) else "—",
                sparkline([r.get(key) for r in self.history]),
            )
        return table

    def fid_panel(self, lines_available: int = 8) -> Panel:
        fids = [(r["epoch"], r["val_fid"]) for r in self.history if isinstance(r.get("val_fid"), int | float)]
        if not fids:
            return Panel(Text("waiting for the first validation FID"), title="validation FID")
        lines = Text()
        lines.append(sparkline([v for _, v in fids]) + "\n")
        shown = max(1, min(6, lines_available - 2))  # the sparkline and the patience line come first
        worst = {r["epoch"]: _worst_read(r["attribute_accuracy"]) for r in self.history if r.get("attribute_accuracy")}
        for epoch, value in fids[-shown:]:
            mark = " ★ best" if self.best and self.best.get("epoch") == epoch else ""
            lines.append(f"epoch {epoch:>4}  {value:9.3f}{worst.get(epoch, '')}{mark}\n")
        patience = getattr(self.config, "patience", 0)
        if self.best and patience:
            left = patience - (fids[-1][0] - self.best["epoch"])
            lines.append(f"patience left: {max(left, 0)} epochs")
        # A steered run's best may be chosen by its worst-read attribute: each line shows it.
        by = " · best by steering" if self.best and self.best.get("by") == "steering" else ""
        return Panel(lines, title=f"validation FID{by}")

    def render(self) -> Layout | Group:
        header = Text(
            f"kgan · {self.run_name} · {getattr(self.config, 'variant', '')} · {self._speed:.0f} img/s", style="bold"
        )
        layout = Layout()
        layout.split_column(
            Layout(Group(header, self.progress) if self.progress else header, size=3), Layout(name="body")
        )
        shown = self.notices + self.warnings
        warnings = Text("\n".join(f"⚠ {w}" for w in shown) or "no warnings", style="yellow" if shown else "dim")
        # Fit the terminal: the grid shrinks with the height and goes when the losses need the width.
        width, height = self.console.size
        warning_lines = min(len(shown) or 1, 2 if height < 30 else 4)
        left = Layout(name="left")
        rows = len(self.metric_names())
        losses = Layout(Panel(self.losses_table(), title="losses"), size=rows + 3)
        warnings_panel = Layout(Panel(warnings, title="warnings"), size=warning_lines + 2)
        if self.fid_off:  # one line saying why, instead of a panel waiting for nothing
            off = Text(f" validation FID off: {self.fid_off}", style="dim")
            left.split_column(losses, Layout(off, name="fid", size=1), warnings_panel, Layout(Text(" ")))
        else:
            fid = self.fid_panel(height - 3 - (rows + 3) - (warning_lines + 2) - 2)
            left.split_column(losses, Layout(fid, name="fid"), warnings_panel)
        grid_width = min(GRID_WIDTH, 2 * (height - 5), width - 4 - MIN_LEFT_WIDTH) // 2 * 2
        if grid_width < 24:  # narrower, an 8×8 grid of faces is a blur
            layout["body"].update(left)
            return layout
        grid = Text("samples after the first epoch")
        if self.grid is not None:
            grid = half_blocks(self.grid, width=grid_width)
        layout["body"].split_row(left, Layout(Panel(grid, title="fixed-noise samples"), size=grid_width + 4))
        return layout


def _worst_read(accuracy: dict[str, float]) -> str:
    """A steered epoch's least obeyed attribute, e.g. "  mouth 74%"."""
    name, share = worst_read(accuracy)
    return f"  {name} {100 * share:.0f}%"
