"""What a training session sets out to do, and how it ended."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Plan:
    """The shape of a (possibly resumed) training session, for recorders and progress displays."""

    epochs: int
    steps_per_epoch: int
    start_step: int
    batch_size: int
    images_per_step: int

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclasses.dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    status: str  # "finished", "stopped_early", "interrupted" or "failed"
    step: int
    epoch: int
    message: str = ""
    signum: int | None = None  # the stop signal behind an "interrupted" run
