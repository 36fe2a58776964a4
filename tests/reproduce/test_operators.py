"""LineageQueryOperator and LineageImpactSensor in real DAG runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage.operators.query import LineageImpactSensor, LineageQueryOperator

from .test_diff import _model, _tunable_dag
from .test_impact import _graph

pytestmark = pytest.mark.slow


def _check_dag(model_uri: str) -> Any:
    import pendulum
    from airflow.sdk import DAG, task

    with DAG("retrain_check", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:
        upstream = LineageQueryOperator(
            task_id="upstream_data",
            uris="{{ dag_run.conf['model'] }}",
            direction="Ascendants",
            types=["DataSet"],
            check_digests=True,
        )

        @task.branch
        def retrain_or_skip(ti: Any = None) -> str:
            summary = ti.xcom_pull(task_ids="upstream_data")
            return "skip" if summary["unchanged"] else "retrain"

        @task
        def retrain() -> None: ...

        @task
        def skip() -> None: ...

        upstream >> retrain_or_skip() >> [retrain(), skip()]
    return dag


def test_a_dag_skips_retraining_when_no_upstream_input_changed(
    lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    base = lineage_home / "ml"
    data = base / "external" / "data.csv"
    data.parent.mkdir(parents=True)
    data.write_text("1,2\n")
    trained = run_dag(_tunable_dag(base))
    model = _model(base, trained.run_id)
    check = _check_dag(model)

    dr = run_dag(check, run_conf={"model": model})
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert (states["retrain"], states["skip"]) == ("skipped", "success")
    summary = dr.get_task_instance("upstream_data").xcom_pull(task_ids="upstream_data")
    assert summary["changed"] == [] and summary["by_type"] == {"DataSet": 1}
    assert list(summary["artifacts"]) == [f"file://{data}"]

    data.write_text("1,3\n")
    dr = run_dag(check, run_conf={"model": model})
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert (states["retrain"], states["skip"]) == ("success", "skipped")
    summary = dr.get_task_instance("upstream_data").xcom_pull(task_ids="upstream_data")
    assert summary["changed"] == [f"file://{data}"]


def test_the_query_operator_validates_when_it_runs(
    lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    import pendulum
    from airflow.sdk import DAG

    with DAG("bad_query", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:
        LineageQueryOperator(task_id="no_start")  # accepted at parse time, as house style says
        LineageQueryOperator(task_id="bad_result", start="x", result="everything")
    dr = run_dag(dag)
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()} == {
        "no_start": "failed",
        "bad_result": "failed",
    }


def test_the_impact_sensor_waits_while_something_deployed_is_affected(
    lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    import pendulum
    from airflow.sdk import DAG

    from tests.conftest import create_store

    url = create_store(f"sqlite:///{lineage_home / 'lineage.db'}")
    g = _graph(url)
    with DAG("impact_check", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:
        # deploy-2 replaced the affected model on the endpoint: nothing deployed is affected.
        LineageImpactSensor(task_id="data_ok", dataset=g["data"].arn, timeout=5, poke_interval=1)
        # The newer model's data set is what the endpoint serves now.
        LineageImpactSensor(
            task_id="other_ok",
            dataset="s3://bucket/other.csv",
            timeout=2,
            poke_interval=1,
            soft_fail=True,
        )
    dr = run_dag(dag)
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"data_ok": "success", "other_ok": "skipped"}
    pushed = dr.get_task_instance("data_ok").xcom_pull(task_ids="data_ok")
    assert pushed["deployed"] is False and pushed["models"][0]["arn"] == g["model"].arn
