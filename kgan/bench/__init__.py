"""Benchmarks: kgan's throughput and memory figures, and the PyTorch reference they are compared with."""
