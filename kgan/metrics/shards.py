"""How the workers of a cluster share an evaluation: each takes one equal slice of the
images, and `gather` puts the slices' features back together in order on every worker.

A single process is one shard whose gather returns its input. Slices have equal sizes
(the last is padded), because a collective gathers equal shapes; padding is dropped after
the gather, so the result equals a single process's, row for row.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np


def _alone(features: np.ndarray) -> np.ndarray:
    return features


def _everyone(flag: bool) -> bool:
    return flag


@dataclasses.dataclass(frozen=True)
class Shards:
    index: int = 0
    count: int = 1
    gather: Callable[[np.ndarray], np.ndarray] = _alone  # [n, D] here → [count·n, D] everywhere, in worker order
    everyone: Callable[[bool], bool] = _everyone  # True on every worker when it is True on every worker

    def size(self, total: int) -> int:
        """Rows per shard: the total split evenly, rounded up."""
        return math.ceil(total / self.count)

    def rows(self, total: int) -> np.ndarray:
        """This shard's row indices into `total` rows, padded with the last row to `size(total)`."""
        size = self.size(total)
        rows = np.arange(self.index * size, (self.index + 1) * size)
        return np.minimum(rows, total - 1)

    def combine(self, features: np.ndarray, total: int) -> np.ndarray:
        """Every shard's features, in row order, without the padding."""
        return self.gather(np.ascontiguousarray(features, np.float32))[:total]


SINGLE = Shards()
