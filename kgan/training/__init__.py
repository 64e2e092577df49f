"""Training: the paper's two GANs, their models, and the session that trains a run (single process or multi-worker)."""
