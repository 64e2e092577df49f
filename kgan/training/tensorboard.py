"""TensorBoard logs of a run: per-epoch scalars and the fixed-noise sample grid.

tensorboard --logdir runs        # every run, side by side
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from kgan.training.step_metrics import METRIC_NAMES

SCALARS = (*METRIC_NAMES, "val_fid", "images_per_sec")


class TensorBoardWriter:
    """Writes into `<run>/tensorboard/` (the folder `tensorboard --logdir runs` finds)."""

    def __init__(self, run_dir: Path):
        self.writer = tf.summary.create_file_writer(str(Path(run_dir) / "tensorboard"))

    def write(self, epoch: int, row: dict[str, Any], grid: np.ndarray | None) -> None:
        with self.writer.as_default(step=epoch):
            for name in SCALARS:
                value = row.get(name)
                if isinstance(value, int | float):
                    group = "fid" if name == "val_fid" else "speed" if name == "images_per_sec" else "train"
                    tf.summary.scalar(f"{group}/{name}", value)
            if grid is not None:
                tf.summary.image("samples/fixed_noise", grid[None], max_outputs=1)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
