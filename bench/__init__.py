"""Benchmarks (not tests): each prints its figures against a baseline measured in the same run."""
