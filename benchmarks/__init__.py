"""Benchmarks (`make bench`): each module's `run()` returns a dict of measured figures."""
