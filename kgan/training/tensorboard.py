"""TensorBoard logs of a run: scalars every `log_every` steps and every epoch, the
fixed-noise sample grid, and the run's hyperparameters for the HParams dashboard.

tensorboard --logdir runs        # every run, side by side (HParams: one row per run)

Tags: `train/…`, `fid/…`, `speed/…` and (a conditional run's accuracy per attribute)
`attributes/…` per epoch (x = epoch); `step/…` every `log_every`
steps (x = the global step: the running means of the epoch so far, the learning rates
and images/s since the last point), as Keras's own callback splits `epoch_` and `batch_`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from kgan.runs.folder import RunFolder
from kgan.training.step_metrics import METRIC_NAMES

SCALARS = (*METRIC_NAMES, "val_fid", "best_val_fid", "images_per_sec")
HPARAMS_METRICS = ("fid/val_fid", "fid/best_val_fid")  # the HParams table's columns: lower is better


class TensorBoardWriter:
    """Writes into `<run>/tensorboard/` (the folder `tensorboard --logdir runs` finds)."""

    def __init__(self, run_dir: Path):
        self.writer = tf.summary.create_file_writer(str(RunFolder(run_dir).tensorboard))

    def write(self, epoch: int, row: dict[str, Any], grid: np.ndarray | None) -> None:
        with self.writer.as_default(step=epoch):
            for name in SCALARS:
                value = row.get(name)
                if isinstance(value, int | float):
                    group = "fid" if "val_fid" in name else "speed" if name == "images_per_sec" else "train"
                    tf.summary.scalar(f"{group}/{name}", value)
            for name, share in (row.get("attribute_accuracy") or {}).items():  # a steered run's
                tf.summary.scalar(f"attributes/{name}", share)
            if grid is not None:
                tf.summary.image("samples/fixed_noise", grid[None], max_outputs=1)
        self.writer.flush()

    def write_step(self, step: int, logs: dict[str, Any], learning_rates: dict[str, float], images_per_sec: float):
        with self.writer.as_default(step=step):
            for name in METRIC_NAMES:
                if name in logs:
                    tf.summary.scalar(f"step/{name}", float(logs[name]))
            for name, value in learning_rates.items():
                tf.summary.scalar(f"step/{name}", value)
            tf.summary.scalar("step/images_per_sec", images_per_sec)

    def write_hparams(self, hyperparameters: dict[str, Any], run_name: str) -> None:
        """The run's hyperparameters (bool, int, float, str values) as one HParams session."""
        values = {name: value for name, value in hyperparameters.items() if isinstance(value, bool | int | float | str)}
        with self.writer.as_default(step=0):
            hparams_api.hparams_config(
                hparams=[hparams_api.HParam(name) for name in values],
                metrics=[hparams_api.Metric(tag, display_name=tag.split("/")[1]) for tag in HPARAMS_METRICS],
            )
            hparams_api.hparams(values, trial_id=run_name)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
