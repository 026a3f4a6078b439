"""Benchmarks run with `nox -s bench`; each compares poolbench's code with a plain baseline."""
