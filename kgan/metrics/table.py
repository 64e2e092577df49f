"""The evaluation metrics, each registered once: its key in results and JSON, its label, how
it is shown, which way is better, and how it is computed. The `kgan fid` table, the closing
line of a run, the report page and the comparison all read this table.

The FID itself comes first and is computed from statistics (`fid.fid_from_statistics`), which
is all a statistics file holds; the others need the real features themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from kgan.metrics.fid import kid
from kgan.metrics.precision_recall import K, precision_recall

Compute = Callable[[np.ndarray, np.ndarray], dict[str, float]]


@dataclasses.dataclass(frozen=True)
class Metric:
    key: str  # its field in FidResult and its key in JSON records
    label: str
    digits: int
    lower_is_better: bool
    compute: Compute | None = None  # (real, generated) features → {key: value, …}; None: computed elsewhere
    spread: str | None = None  # the key of its ± figure, shown beside it

    def format(self, record: Mapping[str, Any]) -> str | None:
        """The metric's value in `record` as shown ("0.012 ± 0.003"), or None when it has none."""
        value = record.get(self.key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        text = f"{value:.{self.digits}f}"
        if self.spread and isinstance(record.get(self.spread), int | float):
            text += f" ± {record[self.spread]:.{self.digits}f}"
        return text


def _kid(real: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    value, std = kid(real, generated)
    return {"kid": value, "kid_std": std}


def _precision_recall(real: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    if len(generated) <= K:  # each vector needs k neighbours besides itself
        return {}
    precision, recall = precision_recall(real, generated)
    return {"precision": precision, "recall": recall}


METRICS = (
    Metric("fid", "FID", 3, lower_is_better=True),
    Metric("kid", "KID", 5, lower_is_better=True, compute=_kid, spread="kid_std"),
    # Kynkäänniemi et al. 2019: generated inside the real manifold, and real inside the generated one.
    Metric("precision", f"precision (k={K})", 3, lower_is_better=False, compute=_precision_recall),
    Metric("recall", f"recall (k={K})", 3, lower_is_better=False),  # computed with precision
)


def secondary_figures(real: np.ndarray, generated: np.ndarray) -> dict[str, float]:
    """Every metric beyond the FID, from the two sides' features."""
    values: dict[str, float] = {}
    for metric in METRICS:
        if metric.compute is not None:
            values.update(metric.compute(real, generated))
    return values


def shown(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) of each metric a result or JSON record holds, in the table's order."""
    return [(metric.label, text) for metric in METRICS if (text := metric.format(record)) is not None]
