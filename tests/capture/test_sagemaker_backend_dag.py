"""The SageMaker example DAG under moto, its lineage captured into the SageMaker backend.

moto has no lineage APIs, so the capture's SageMaker store talks to the in-memory fake
service behind botocore's Stubber (every request validated against the real service
model; see tests/store/sagemaker_fake.py). Every other AWS call goes to moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import Artifact, Association, LineageQuery

from ..store.test_sagemaker_contract import make_fake, make_store
from .conftest import REPO, reset_lineage_settings
from .test_sagemaker_dag import DAG_ID, TASKS, aws  # noqa: F401 - the moto fixture

pytestmark = pytest.mark.slow


@pytest.fixture
def sagemaker_lineage(lineage_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the lineage connection at the SageMaker backend, served by the fake."""
    from airflow_lineage.capture import runtime
    from dags import ml_pipeline_sagemaker as pipeline

    conn = {
        "conn_type": "lineage",
        "extra": {
            "backend": "sagemaker",
            "account": pipeline.ACCOUNT_ID,
            "region": pipeline.REGION,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__CAPTURE_TIMEOUT", "60")
    reset_lineage_settings()
    fake = make_fake(account=pipeline.ACCOUNT_ID, region=pipeline.REGION)
    store = make_store(fake)
    # The capture opens one store per connection and process; this is that store.
    runtime._stores["lineage_default"] = store
    yield store
    reset_lineage_settings()


def test_sagemaker_dag_records_into_the_sagemaker_backend(
    aws: None,  # noqa: F811
    sagemaker_lineage: Any,
    lineage_home: Path,
    load_dag: Callable[[Path, str], Any],
    run_dag: Callable[..., Any],
) -> None:
    from dags import ml_pipeline_sagemaker as pipeline

    dag = load_dag(REPO / "dags" / "ml_pipeline_sagemaker.py", DAG_ID)
    # The gate reads lineage through its own store; here the run is about capture.
    run = run_dag(dag, mark_success_pattern="^gate$")
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == dict.fromkeys(
        TASKS, "success"
    )
    assert not list((lineage_home / "outbox").glob("*.json"))

    store = sagemaker_lineage
    items = list(store.export())
    actions = {
        e.type
        for e in items
        if getattr(e, "lineage_type", None) and e.lineage_type.value == "Action"
    }
    assert {
        "ProcessingJob",
        "TrainingJob",
        "Approval",
        "CreateModel",
        "CreateEndpointConfig",
        "ModelDeployment",
    } <= actions
    artifacts = {e.source_uri for e in items if isinstance(e, Artifact)}
    assert {pipeline.RAW_URI, pipeline.FEATURES_URI} <= artifacts
    assert sum(isinstance(e, Association) for e in items) >= 25

    # One query from the endpoint walks back to the raw data, through SageMaker's API.
    (endpoint,) = [e for e in items if getattr(e, "type", None) == "Endpoint"]
    result = store.query(
        LineageQuery(start_arns=(endpoint.arn,), direction="Ascendants", max_depth=20)
    )
    reached = store.get_many([v.arn for v in result.vertices])
    uris = {e.source_uri for e in reached.values()}
    assert pipeline.RAW_URI in uris and pipeline.FEATURES_URI in uris
