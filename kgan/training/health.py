"""Warnings that matter to GAN users, read off the per-epoch metrics history.

Each check looks at the rows of `metrics.jsonl` (oldest first) and returns a message or
None. Thresholds are deliberately conservative: a warning should mean "look at this run".
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from kgan.training.step_metrics import METRIC_NAMES

Row = dict[str, Any]

WINNING_EPOCHS = 3  # consecutive epochs of an all-winning discriminator
D_REAL_HIGH, D_FAKE_LOW = 0.95, 0.05  # D(x) → 1 and D(G(z)) → 0 (BCE: probabilities)
G_LOSS_GROWTH = 3.0  # g_loss this many times its early median, and above 5
FID_WORSE_EVALUATIONS = 3


def discriminator_winning(rows: list[Row]) -> str | None:
    """D(x) → 1 and D(G(z)) → 0 for several epochs: G gets no useful gradient (BCE runs)."""
    recent = rows[-WINNING_EPOCHS:]
    if len(recent) < WINNING_EPOCHS or any("d_real" not in r or "d_fake" not in r for r in recent):
        return None
    if all(0.0 <= r["d_real"] <= 1.0 and 0.0 <= r["d_fake"] <= 1.0 for r in recent) and all(
        r["d_real"] > D_REAL_HIGH and r["d_fake"] < D_FAKE_LOW for r in recent
    ):
        last = recent[-1]
        return (
            f"discriminator winning outright for {WINNING_EPOCHS} epochs (D(x)={last['d_real']:.3f}, "
            f"D(G(z))={last['d_fake']:.3f}): the generator may have collapsed; look at the samples, "
            "consider a lower --lr-d or the wgangp variant"
        )
    return None


def generator_loss_exploding(rows: list[Row]) -> str | None:
    """g_loss far above where it started (after the first epochs)."""
    losses = [r["g_loss"] for r in rows if isinstance(r.get("g_loss"), int | float) and math.isfinite(r["g_loss"])]
    if len(losses) < 4:
        return None
    early = sorted(losses[:3])[1]
    last = losses[-1]
    if abs(last) > 5.0 and abs(last) > G_LOSS_GROWTH * max(abs(early), 1e-3):
        return f"generator loss exploding: {last:.2f} now vs {early:.2f} in the first epochs"
    return None


def non_finite(rows: list[Row]) -> str | None:
    for row in rows[-1:]:
        for key in (*METRIC_NAMES, "val_fid"):
            value = row.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                return f"non-finite {key} at epoch {row.get('epoch')}"
    return None


def fid_getting_worse(rows: list[Row]) -> str | None:
    """The validation FID rose at each of the last few evaluations."""
    fids = [r["val_fid"] for r in rows if isinstance(r.get("val_fid"), int | float)]
    recent = fids[-(FID_WORSE_EVALUATIONS + 1) :]
    if len(recent) == FID_WORSE_EVALUATIONS + 1 and all(b > a for a, b in itertools.pairwise(recent)):
        return (
            f"validation FID worse at each of the last {FID_WORSE_EVALUATIONS} evaluations "
            f"({recent[0]:.2f} → {recent[-1]:.2f}); the best checkpoint is kept"
        )
    return None


CHECKS = (non_finite, discriminator_winning, generator_loss_exploding, fid_getting_worse)


def warnings_for(rows: list[Row]) -> list[str]:
    """Every warning that the history raises now."""
    return [message for check in CHECKS if (message := check(rows))]
