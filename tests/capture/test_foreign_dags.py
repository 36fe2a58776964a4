"""DAGs nobody wrote for this project: Airflow's own asset examples, unchanged."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .graph import captured

pytestmark = pytest.mark.slow


def test_airflow_example_asset_dags_are_captured_unchanged(
    lineage_home: Path, load_dag: Callable[..., Any], run_dag: Callable[..., Any]
) -> None:
    import airflow.example_dags

    examples = Path(airflow.example_dags.__file__).parent / "example_assets.py"
    producer = load_dag(examples, "asset_produces_1")
    consumer = load_dag(examples, "asset_consumes_1")
    assert run_dag(producer).state == "success"
    assert run_dag(consumer).state == "success"

    graph = captured(f"sqlite:///{lineage_home / 'lineage.db'}")
    assert graph["statuses"] == {
        "task:producing_task_1": "Completed",
        "task:consuming_1": "Completed",
    }
    assert ("Action", "BashOperator", "task:producing_task_1") in graph["vertices"]
    assert ("Artifact", "DataSet", "s3://dag1/output_1.txt") in graph["vertices"]
    assert ("task:producing_task_1", "s3://dag1/output_1.txt", "Produced") in graph["edges"]
    assert ("task:consuming_1", "s3://consuming_1_task/asset_other.txt", "Produced") in graph[
        "edges"
    ]
    pipelines = {v[2] for v in graph["vertices"] if v[1] == "Pipeline"}
    assert pipelines == {
        "Pipeline:airflow://dags/asset_produces_1",
        "Pipeline:airflow://dags/asset_consumes_1",
    }
