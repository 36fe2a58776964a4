"""Two SQL tasks against SQLite that only the OpenLineage provider has lineage for."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.sdk import DAG

with DAG("openlineage_sql", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    create = SQLExecuteQueryOperator(
        task_id="create_tables",
        conn_id="sqlite_ol",
        sql=[
            "CREATE TABLE IF NOT EXISTS iris (sepal REAL, petal REAL, species TEXT)",
            "CREATE TABLE IF NOT EXISTS features (sepal REAL, petal REAL)",
            "INSERT INTO iris VALUES (5.1, 1.4, 'setosa')",
        ],
    )
    copy = SQLExecuteQueryOperator(
        task_id="build_features",
        conn_id="sqlite_ol",
        sql="INSERT INTO features (sepal, petal) SELECT sepal, petal FROM iris",
    )
    create >> copy
