"""Datasets: ingest sources, draw synthetic avatars, split, and feed tf.data."""
