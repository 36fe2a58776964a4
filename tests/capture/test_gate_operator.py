"""The gate operator in a real DAG run: a rejection stops the deployment and is itself
recorded as lineage (a Failed approval with its report)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .graph import captured

pytestmark = pytest.mark.slow


def test_a_rejection_stops_the_deployment_and_is_recorded(
    lineage_home: Path, run_dag: Callable[..., Any], tmp_path: Path
) -> None:
    import pendulum
    from airflow.sdk import DAG

    from airflow_lineage.operators.gate import LineageGateOperator
    from airflow_lineage.operators.steps import Data, ml_step

    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,0\n")
    model_uri = (tmp_path / "model.pkl").as_uri()
    deployed = tmp_path / "deployed"
    with DAG(
        "lineage_gate_rejects", start_date=pendulum.datetime(2026, 1, 1), schedule=None
    ) as dag:

        @ml_step(
            step_type="Training",
            inputs={"data": Data(data.as_uri())},
            outputs={"model": Data(model_uri, "Model")},
        )
        def train(step: Any) -> None:
            step.outputs["model"].path.write_text("weights")
            step.log_metric("accuracy", 0.7)

        gate = LineageGateOperator(
            task_id="gate",
            model_task_id="train",
            report_dir=str(tmp_path / "reports"),
            policy={"metrics": [{"step_type": "Training", "metric": "accuracy", "min": 0.9}]},
        )

        @ml_step(step_type="ModelDeployment", inputs={"model": Data(model_uri, "Model")})
        def deploy(step: Any) -> None:
            deployed.write_text("deployed")

        train() >> gate >> deploy()

    dr = run_dag(dag)
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"train": "success", "gate": "failed", "deploy": "upstream_failed"}
    assert not deployed.exists()
    gate_ti = dr.get_task_instance("gate")
    assert gate_ti.try_number == 1  # AirflowFailException: no retries burned

    report_file = next((tmp_path / "reports").rglob("gate.json"))
    report = json.loads(report_file.read_text())
    assert report["verdict"] == "rejected"
    failed = [r for r in report["rules"] if not r["passed"]]
    assert [r["rule"] for r in failed] == ["Training metric accuracy >= 0.9"]
    assert "accuracy=0.7 is outside the bound" in failed[0]["detail"]
    assert (report_file.with_suffix(".md")).read_text().startswith("# Deployment gate: REJECTED")

    graph = captured(f"sqlite:///{lineage_home / 'lineage.db'}")
    assert graph["statuses"] == {"task:train": "Completed", "task:gate": "Failed"}
    approval = next(
        e for e in graph["entities"].values() if e.properties.get("airflow:task_id") == "gate"
    )
    assert approval.type == "Approval"
    assert approval.properties["verdict"] == "rejected"
    assert (model_uri, "task:gate", "ContributedTo") in graph["edges"]
    assert ("task:gate", report_file.as_uri(), "Produced") in graph["edges"]
    assert not any(edge[1] == "task:deploy" for edge in graph["edges"])
