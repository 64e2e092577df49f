"""Evaluation: FID and KID through TF-GAN, feature extractors, cached real statistics."""

from kgan.metrics.fid import Statistics, fid, fid_from_statistics, kid

__all__ = ["Statistics", "fid", "fid_from_statistics", "kid"]
