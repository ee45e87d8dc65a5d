"""Kernel microbenchmarks and end-to-end throughput runs: `python -m benchmarks.<name> --help`."""
