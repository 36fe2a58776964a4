"""Real Airflow runs for reproduce, diff and impact: the capture tests' fixtures."""

from tests.capture.conftest import airflow_db, lineage_home, load_dag, run_dag

__all__ = ["airflow_db", "lineage_home", "load_dag", "run_dag"]
