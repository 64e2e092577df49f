"""The numbers a training step reports: one name each in metrics.jsonl, TensorBoard,
the dashboard, the report and the health checks. Plain Python, so readers of a run's
records need not load TensorFlow."""

METRIC_NAMES = ("d_loss", "g_loss", "penalty", "d_real", "d_fake")
LABELS = {"d_loss": "D loss", "g_loss": "G loss", "penalty": "penalty", "d_real": "D(x)", "d_fake": "D(G(z))"}
