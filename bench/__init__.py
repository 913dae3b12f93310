"""Benchmarks for Back-to-Origin mirroring: `make bench` runs bench/run.py."""
