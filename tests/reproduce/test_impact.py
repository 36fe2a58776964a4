"""impact: everything a data set reached, and whether something deployed is affected."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.cli import main as cli
from airflow_lineage.impact import impact, resolve_datasets
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    Context,
    utcnow,
)
from tests.capture.conftest import REPO

DAG_FILE = REPO / "dags" / "ml_pipeline_local.py"


@pytest.mark.slow
def test_impact_of_the_example_raw_data_lists_model_approval_and_endpoint(
    lineage_home: Path,
    load_dag: Callable[..., Any],
    run_dag: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dr = run_dag(load_dag(DAG_FILE, "ml_pipeline_local"))
    assert dr.state == "success"
    base = lineage_home / "ml"
    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    capsys.readouterr()

    code = cli(["--store", url, "impact", f"file://{base}/raw/iris.csv", "--format", "json"])
    found = json.loads(capsys.readouterr().out)
    assert code == 3  # the run's endpoint serves a model made from it
    run = f"file://{base}/runs/{dr.run_id}"
    assert {(m["uri"], m["task"], m["run_id"]) for m in found["models"]} == {
        (f"{run}/features/scaler.json", "extract_features", dr.run_id),
        (f"{run}/models/iris/model.pkl", "train", dr.run_id),
        (f"{run}/registry/iris/1/model.pkl", "register", dr.run_id),
    }
    (approval,) = found["approvals"]
    assert approval["status"] == "Completed" and approval["dag_id"] == "ml_pipeline_local"
    registered = next(m["arn"] for m in found["models"] if m["task"] == "register")
    assert approval["models"] == [registered]
    (endpoint,) = found["endpoints"]
    assert endpoint["uri"] == f"file://{base}/serving/iris-{dr.run_id}"
    assert endpoint["serving_affected"] is True and endpoint["run_id"] == dr.run_id
    assert registered in endpoint["models"]
    assert found["deployed"] is True

    assert cli(["--store", url, "impact", f"file://{base}/raw/iris.csv"]) == 3
    table = capsys.readouterr().out
    assert "SERVING AFFECTED" in table and "Something deployed is affected." in table


def _graph(url: str) -> dict[str, Any]:
    """data → train → model → approval; model → deploy-1 → endpoint; later another
    model → deploy-2 → the same endpoint."""
    t0 = utcnow() - timedelta(hours=1)
    data = Artifact.new("s3://bucket/data.csv", "DataSet", created=t0)
    other_data = Artifact.new("s3://bucket/other.csv", "DataSet", created=t0)
    model = Artifact.new("s3://bucket/model.tar.gz", "Model", created=t0)
    newer = Artifact.new("s3://bucket/model-2.tar.gz", "Model", created=t0)

    def action(name: str, kind: str, minutes: int) -> Action:
        return Action.new(
            name,
            kind,
            f"airflow://{name}",
            status=ActionStatus.COMPLETED,
            created=t0 + timedelta(minutes=minutes),
            properties={"airflow:dag_id": "d", "airflow:run_id": name},
        )

    train, train2 = action("train", "Training", 1), action("train-2", "Training", 2)
    approve = action("approve", "Approval", 3)
    deploy1, deploy2 = (
        action("deploy-1", "ModelDeployment", 4),
        action("deploy-2", "ModelDeployment", 5),
    )
    endpoint = Context.new(
        "endpoint-prod", "Endpoint", "arn:aws:sagemaker:local:000000000000:endpoint/prod"
    )
    edges = [
        (data, train, "ContributedTo"),
        (train, model, "Produced"),
        (model, approve, "ContributedTo"),
        (approve, deploy1, "AssociatedWith"),
        (model, deploy1, "ContributedTo"),
        (deploy1, endpoint, "AssociatedWith"),
        (other_data, train2, "ContributedTo"),
        (train2, newer, "Produced"),
        (newer, deploy2, "ContributedTo"),
    ]
    with connect(url) as store:
        store.write(
            [data, other_data, model, newer, train, train2, approve, deploy1, deploy2, endpoint],
            [Association(s.arn, d.arn, AssociationType(k)) for s, d, k in edges],
        )
        store.write([], [Association(deploy2.arn, endpoint.arn, AssociationType.ASSOCIATED_WITH)])
    return {
        "data": data,
        "model": model,
        "endpoint": endpoint,
        "deploy1": deploy1,
        "deploy2": deploy2,
        "approve": approve,
    }


def test_an_endpoint_redeployed_since_is_not_serving_the_affected_model(store_url: str) -> None:
    g = _graph(store_url)
    with connect(store_url) as store:
        found = impact(store, resolve_datasets(store, "s3://bucket/data.csv"))
    assert [m["arn"] for m in found.models] == [g["model"].arn]
    assert [a["arn"] for a in found.approvals] == [g["approve"].arn]
    (endpoint,) = found.endpoints
    assert endpoint["deployment"] == g["deploy2"].arn and endpoint["serving_affected"] is False
    assert found.deployed is False
    assert cli(["--store", store_url, "impact", g["data"].arn]) == 0


def test_impact_edges(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    g = _graph(store_url)
    assert cli(["--store", store_url, "impact", "s3://bucket/none.csv"]) == 1
    assert "no artifact has the source URI" in capsys.readouterr().err
    assert cli(["--store", store_url, "impact", g["endpoint"].arn]) == 2
    assert "not an artifact" in capsys.readouterr().err
    # A data set nothing read reaches nothing.
    with connect(store_url) as store:
        alone = store.create_artifact("s3://bucket/alone.csv", "DataSet")
        found = impact(store, [alone])
    assert (found.models, found.approvals, found.endpoints, found.deployed) == ((), (), (), False)


def test_the_manifest_of_an_endpoint_and_of_a_dirty_tree(store_url: str) -> None:
    from airflow_lineage.reproduce import build_manifest, check_inputs

    g = _graph(store_url)
    with connect(store_url) as store:
        train = store.get(store.list_entities("Action", name="train").items[0].arn)
        store.update(train.arn, properties={"code_version": "abc123-dirty", "param:lr": "0.1"})
        manifest = build_manifest(store, store.get(g["endpoint"].arn))
    # The endpoint's newest deployment read the newer model.
    assert [m["uri"] for m in manifest["models"]] == ["s3://bucket/model-2.tar.gz"]
    with connect(store_url) as store:
        manifest = build_manifest(store, g["model"])
    assert manifest["code"] == {
        "bundle_name": None,
        "bundle_version": None,
        "version": "abc123-dirty",
        "steps": {"train": "abc123-dirty"},
        "dirty": True,
    }
    assert manifest["parameters"] == {"train.lr": "0.1"}
    assert manifest["dag"]["airflow"].startswith("unavailable:")
    # Recorded without a digest: not available as recorded.
    (data,) = check_inputs(manifest)
    assert (data.uri, data.ok, data.reason) == (
        "s3://bucket/data.csv",
        False,
        "recorded without a digest",
    )
