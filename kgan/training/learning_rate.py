"""The learning rates over a run: constant, then (with --lr-decay-epochs) a linear fall to
zero over the last epochs, the linear policy of pix2pix and CycleGAN.

The rate of each update is a function of the global step alone, so a run stopped and resumed
anywhere follows the same schedule. The end is the planned last epoch (--epochs): extending a
run with `--resume --epochs` moves the fall to the new end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import tensorflow as tf

if TYPE_CHECKING:
    from kgan.config import TrainConfig


@dataclass(frozen=True)
class LinearDecay:
    """Base rates g and d until `start_step`, then falling linearly to reach zero at `end_step`."""

    g: float
    d: float
    start_step: int
    end_step: int

    @classmethod
    def planned(cls, config: TrainConfig, steps_per_epoch: int) -> LinearDecay | None:
        """The config's schedule at this many steps per epoch; None when the rates stay constant."""
        if not config.lr_decay_epochs:
            return None
        end = config.epochs * steps_per_epoch
        return cls(config.lr_g, config.lr_d, end - config.lr_decay_epochs * steps_per_epoch, end)

    def factor(self, step: tf.Variable | tf.Tensor | int) -> tf.Tensor:
        """The share of the base rates that the update at `step` (0-based) takes: 1 before the
        fall, (end − step) / span within it, so the last update still moves."""
        span = float(self.end_step - self.start_step)
        remaining = float(self.end_step) - tf.cast(step, tf.float32)
        return tf.clip_by_value(remaining / span, 0.0, 1.0)
