"""Benchmarks for airflow-lineage (not tests): graph generator, query and ingest benchmarks."""
