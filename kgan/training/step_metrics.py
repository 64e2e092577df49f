"""The numbers a training step reports: one name each in metrics.jsonl, TensorBoard,
the dashboard, the report and the health checks. Plain Python, so readers of a run's
records need not load TensorFlow."""

METRIC_NAMES = ("d_loss", "g_loss", "penalty", "d_real", "d_fake", "d_attributes", "g_attributes")
# Reported only by a run with an AC-GAN head: its cross-entropies, apart from the adversarial
# losses, which then read as an unconditional run's do.
STEERED_ONLY = ("d_attributes", "g_attributes")
LABELS = {
    "d_loss": "D loss",
    "g_loss": "G loss",
    "penalty": "penalty",
    "d_real": "D(x)",
    "d_fake": "D(G(z))",
    "d_attributes": "D attrs",
    "g_attributes": "G attrs",
}


def reported(steered: bool) -> tuple[str, ...]:
    """The names a run's steps report: the attribute terms only with an AC-GAN head."""
    return METRIC_NAMES if steered else tuple(name for name in METRIC_NAMES if name not in STEERED_ONLY)
