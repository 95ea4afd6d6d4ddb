"""Benchmarks: print figures, assert nothing (run with `make bench`)."""
