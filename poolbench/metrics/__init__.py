"""Clocks, latency histograms and process sampling: the measuring instruments."""
