"""The run's record of every epoch, kept by one Keras callback.

At each epoch end: validation FID, the metrics line, the fixed-noise sample grid, the
checkpoint, the best checkpoint (by --best-by) and early stopping. The run stops at the first NaN/Inf
loss. In a cluster every worker keeps the record's decisions (the same numbers reach
all of them), and only the chief writes it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kgan.config import TrainConfig
from kgan.data.attributes import Conditions
from kgan.metrics.steering import worst_read
from kgan.runs.folder import RunFolder, elapsed_by_epoch
from kgan.sampling import epoch_grid, generate, image_grid, save_png, unconditioned
from kgan.training import checkpoint
from kgan.training.health import warnings_for
from kgan.training.plan import Plan
from kgan.training.step_metrics import METRIC_NAMES
from kgan.training.tensorboard import TensorBoardWriter

CHECK_EVERY = 20  # steps between non-finite checks (each one waits for the device)


class RunRecorder(keras.callbacks.Callback):
    """Per epoch: validation FID, metrics line, fixed-noise sample grid, checkpoint, best
    checkpoint and early stopping. Stops at the first NaN/Inf loss."""

    def __init__(
        self,
        run_dir: Path,
        config: TrainConfig,
        plan: Plan,
        validator: Callable[[keras.Model], float] | None = None,
        listeners: list | tuple = (),
        writes: bool = True,
        best: dict[str, Any] | None = None,
        conditions: Conditions | None = None,
        probe: Callable[[keras.Model], dict[str, float]] | None = None,
        running_means: dict[str, Any] | None = None,
    ):
        """`running_means`: the losses' running means saved in the checkpoint resumed from
        (`GAN.running_means`), when it was taken inside an epoch."""
        super().__init__()
        self.running_means = running_means
        self.run_dir, self.config, self.plan = Path(run_dir), config, plan
        self.listeners, self.writes = listeners, writes  # writes=False: a worker other than the chief
        self.tensorboard = TensorBoardWriter(run_dir) if writes else None
        self.history = RunFolder(run_dir).metrics() if writes else []
        grid = epoch_grid(config.seed, config.sample_count, config.z_dim, conditions) if config.sample_count else None
        self.noise, self.codes, self.columns = grid or (None, None, None)
        self.conditions = conditions
        self.probe = probe  # a conditional run's attribute accuracy (`steering.AccuracyProbe`)
        self.validator = validator
        # The chief reads its own best record; the other workers are given the chief's.
        self.best = checkpoint.best(run_dir) if writes and best is None else best
        self.failed: str | None = None
        self.stopped_early: str | None = None
        self._epoch_start = time.perf_counter()
        self._epoch_first_step = plan.start_step
        self._next_step = plan.start_step + 1  # the global step the next batch ends at
        self._last_log = (plan.start_step, time.perf_counter())  # (step, time) of the last step scalars
        if self.tensorboard and plan.start_step == 0:
            self.tensorboard.write_hparams(config.to_dict(), Path(run_dir).name)

    def state(self, step: int) -> dict[str, Any]:
        """A checkpoint's state.json at `step`; inside an epoch, with the losses' running means."""
        state = {
            "step": step,
            "epoch": step // self.plan.steps_per_epoch,
            "steps_per_epoch": self.plan.steps_per_epoch,
            "seed": self.config.seed,
            "variant": self.config.variant,
        }
        means = self.model.running_means() if step % self.plan.steps_per_epoch else None
        if means:
            state["running_means"] = means
        return state

    def _step(self) -> int:
        return int(self.model.g_optimizer.iterations.numpy())

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()
        self._epoch_first_step = self._step()
        self._next_step = self._epoch_first_step + 1
        if self.running_means and self._epoch_first_step == self.plan.start_step:
            # Resumed inside an epoch: its figures go on from the steps before the stop
            # (the trackers were just reset for the epoch).
            self.model.resume_running_means(self.running_means)
        self.running_means = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # Reading the losses forces a device sync, so only every CHECK_EVERY steps; the running
        # means stay non-finite once they are, and on_epoch_end checks again before writing.
        step, self._next_step = self._next_step, self._next_step + 1
        if (batch + 1) % CHECK_EVERY == 0 and self._check_finite(logs):
            return
        every = self.config.log_every
        # At each multiple of log_every; a cluster's workers give logs only every CHECK_EVERY steps,
        # so there the first step with logs after a multiple.
        if self.tensorboard and every and logs and step // every > self._last_log[0] // every:
            self._log_step(step, logs)
        every = self.config.checkpoint_every
        within_epoch = step % self.plan.steps_per_epoch  # an epoch's end has its own checkpoint
        if self.writes and every and step % every == 0 and within_epoch and not self._check_finite(logs):
            checkpoint.save(self.run_dir, self.model, self.state(step), keep=self.config.keep_checkpoints)

    def _log_step(self, step: int, logs: dict) -> None:
        """Step scalars: the epoch's running means so far, learning rates, images/s since the last."""
        now = time.perf_counter()
        last_step, last_time = self._last_log
        rate = (step - last_step) * self.plan.images_per_step / max(now - last_time, 1e-9)
        rates = {"lr_g": self.model.g_optimizer.learning_rate, "lr_d": self.model.d_optimizer.learning_rate}
        self.tensorboard.write_step(step, logs, {k: float(np.asarray(v)) for k, v in rates.items()}, rate)
        self._last_log = (step, now)

    def _check_finite(self, logs: dict | None) -> bool:
        """Mark the run failed (and stop it) at the first NaN/Inf in `logs`; True when failed."""
        bad = _non_finite(logs)
        if bad and not self.failed:
            step = self._step()
            last = checkpoint.latest(self.run_dir) if self.writes else None
            kept = f"last good checkpoint {last.name} kept" if last else "no checkpoint was written yet"
            self.failed = (
                f"non-finite {bad} at step {step}: training stopped, {kept}; "
                "try a lower learning rate (--lr-g/--lr-d) or another --seed"
            )
            self.model.stop_training = True
        return self.failed is not None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """The epoch's record, in order: its figures, validation, grid, checkpoint, best and
        budget, then the files and listeners."""
        if self._check_finite(logs):
            return
        step = self._step()
        row = self._figures(epoch + 1, step, logs or {})
        self.model.settle_ema()  # the grid, the scores and the checkpoint see the same average
        evaluate_now = self.validator is not None and (epoch + 1) % self.config.fid_every == 0
        if evaluate_now:
            row.update(self._validate())
        if self.probe is not None:
            row["attribute_accuracy"] = self.probe(self.model.sampler)
        grid = self._sample_grid(epoch + 1)
        saved = checkpoint.checkpoint_dir(self.run_dir) / checkpoint.name_for(step)
        if self.writes:
            saved = checkpoint.save(self.run_dir, self.model, self.state(step), keep=self.config.keep_checkpoints)
        if evaluate_now:
            self._track_best(epoch + 1, step, row, saved)
        if self.best:
            row["best_val_fid"], row["best_epoch"] = self.best["val_fid"], self.best["epoch"]
        earlier = elapsed_by_epoch([r for r in self.history if r.get("epoch", 0) < epoch + 1])
        row["elapsed_seconds"] = round(max(earlier.values(), default=0.0) + self._since_epoch_start(), 3)
        self._check_budget(epoch + 1, row["elapsed_seconds"])
        if self.writes:
            self._publish(row, grid)

    def _figures(self, epoch: int, step: int, logs: dict) -> dict[str, Any]:
        """The epoch's losses and outputs, its time and its speed."""
        seconds = self._since_epoch_start()
        steps = max(step - self._epoch_first_step, 0)
        return {
            "epoch": epoch,
            "step": step,
            **{name: _to_float(logs.get(name)) for name in METRIC_NAMES if name in logs},
            "seconds": round(seconds, 3),
            "images_per_sec": round(steps * self.plan.images_per_step / seconds, 2) if seconds > 0 else None,
            "time": time.time(),
        }

    def _validate(self) -> dict[str, Any]:
        """The validation FID of the sampling generator, with its cost and its features."""
        start = time.perf_counter()
        value = self.validator(unconditioned(self.model.sampler, self.conditions))
        return {
            "val_fid": value,
            "fid_seconds": round(time.perf_counter() - start, 3),
            "fid_features": getattr(self.validator, "name", "custom validator"),
        }

    def _sample_grid(self, epoch: int) -> np.ndarray | None:
        """The fixed-noise grid, written as the epoch's PNG (by the writing worker)."""
        if self.noise is None or not self.writes:
            return None
        grid = image_grid(generate(self.model.sampler, self.noise, codes=self.codes), columns=self.columns)
        save_png(RunFolder(self.run_dir).samples / f"epoch-{epoch:04d}.png", grid)
        return grid

    def _publish(self, row: dict[str, Any], grid: np.ndarray | None) -> None:
        """The row with its warnings to metrics.jsonl, TensorBoard and every listener."""
        self.history = [r for r in self.history if r.get("epoch") != row["epoch"]] + [row]
        row["warnings"] = warnings_for(self.history)
        RunFolder(self.run_dir).append_metrics(row)
        self.tensorboard.write(row["epoch"], row, grid)
        for listener in self.listeners:
            listener.on_record(row, grid, self.best)

    def _since_epoch_start(self) -> float:
        return time.perf_counter() - self._epoch_start

    def _check_budget(self, epoch: int, elapsed: float) -> None:
        """End the run when another epoch as long as this one would overrun --time-budget."""
        budget = self.config.time_budget * 60
        last = self._since_epoch_start()
        if budget and epoch < self.plan.epochs and elapsed + last > budget and not self.stopped_early:
            self.stopped_early = (
                f"time budget reached after epoch {epoch}: {elapsed / 60:.1f} of {budget / 60:g} min used, "
                f"another epoch takes ~{last / 60:.1f}"
            )
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.tensorboard:
            self.tensorboard.writer.flush()

    def _track_best(self, epoch: int, step: int, row: dict[str, Any], saved: Path) -> None:
        """Keep the best checkpoint by --best-by; stop after `patience` epochs without a better one."""
        by = self.config.best_by
        worst = worst_read(row["attribute_accuracy"]) if by == "steering" else None
        record = checkpoint.candidate(saved.name, epoch, step, row["val_fid"], worst)
        if checkpoint.better(record, self.best, by):
            self.best = record
            if self.writes:
                checkpoint.mark_best(self.run_dir, self.best)
        elif self.config.patience and epoch - self.best["epoch"] >= self.config.patience:
            if by == "steering":
                what, best = (
                    "worst-read attribute",
                    f"best at epoch {self.best['epoch']}: {checkpoint.described(self.best)}",
                )
            else:
                what, best = "validation FID", f"best {self.best['val_fid']:.3f} at epoch {self.best['epoch']}"
            self.stopped_early = (
                f"stopped early at epoch {epoch}: no better {what} for {epoch - self.best['epoch']} epochs ({best})"
            )
            self.model.stop_training = True


def _to_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _non_finite(logs: dict | None) -> str | None:
    """The name of the first loss or output that is NaN or infinite, if any."""
    for name, value in (logs or {}).items():
        number = _to_float(value)
        if number is not None and not math.isfinite(number):
            return name
    return None
