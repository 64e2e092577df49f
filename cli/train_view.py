"""The training display: Rich bars for terminals, one plain line per epoch otherwise."""

from __future__ import annotations

import time

import keras
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cli.ui import console

LOSS_KEYS = ("d_loss", "g_loss", "penalty", "d_real", "d_fake")


def format_logs(logs: dict | None) -> str:
    parts = []
    for key in LOSS_KEYS:
        if logs and key in logs:
            parts.append(f"{key}={float(logs[key]):.4f}")
    return " ".join(parts)


class TrainingDisplay(keras.callbacks.Callback):
    """Epoch and step bars with ETA, images/s and running losses; or one plain line per epoch."""

    def __init__(self, live: bool):
        super().__init__()
        self.live = live
        self.progress: Progress | None = None
        self.plan = None

    def on_plan(self, plan, config) -> None:
        self.plan, self.config = plan, config
        if not self.live:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[speed]}"),
            TextColumn("{task.fields[losses]}"),
            console=console,
            refresh_per_second=4,
        )
        start_epoch, offset = divmod(plan.start_step, plan.steps_per_epoch)
        self.epoch_task = self.progress.add_task(
            "epochs", total=plan.epochs, completed=start_epoch, speed="", losses=""
        )
        self.step_task = self.progress.add_task(
            "steps ", total=plan.steps_per_epoch, completed=offset, speed="", losses=""
        )
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._steps = time.perf_counter(), 0
        if self.progress:
            offset = (
                self.plan.start_step % self.plan.steps_per_epoch
                if epoch == self.plan.start_step // self.plan.steps_per_epoch
                else 0
            )
            self.progress.reset(self.step_task, total=self.plan.steps_per_epoch, completed=offset)
            self.progress.update(self.step_task, description=f"epoch {epoch + 1}")

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if not self.progress:
            return
        seconds = time.perf_counter() - self._epoch_start
        speed = f"{self._steps * self.plan.images_per_step / seconds:.0f} img/s" if seconds > 0 else ""
        self.progress.update(self.step_task, advance=1, speed=speed, losses=format_logs(logs))

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._epoch_start
        speed = self._steps * self.plan.images_per_step / seconds if seconds > 0 else 0.0
        if self.progress:
            self.progress.update(
                self.epoch_task, completed=epoch + 1, speed=f"{speed:.0f} img/s", losses=format_logs(logs)
            )
        else:
            step = (epoch + 1) * self.plan.steps_per_epoch
            print(
                f"epoch {epoch + 1}/{self.plan.epochs} step {step}/{self.plan.total_steps} "
                f"{format_logs(logs)} images_per_sec={speed:.1f} seconds={seconds:.1f}",
                flush=True,
            )

    def close(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None
