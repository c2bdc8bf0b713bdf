"""Benchmarks: one command each, run from the repo root (``python -m benchmarks.NAME``)."""
