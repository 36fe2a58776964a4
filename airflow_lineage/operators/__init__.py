"""Airflow operators of airflow-lineage."""
