"""Benchmarks, each runnable as a module: ``python -m bench.validation`` (invoice validation throughput)."""
