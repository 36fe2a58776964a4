"""Automatic lineage capture for Airflow task runs."""
