"""Benchmarks of trustchain_lab: ``python -m benchmarks --help``."""
