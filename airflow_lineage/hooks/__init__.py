"""Airflow hooks of airflow-lineage."""

from airflow_lineage.hooks.lineage import LineageHook

__all__ = ["LineageHook"]
