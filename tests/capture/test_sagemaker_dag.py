"""The SageMaker example DAG runs end to end under moto, and its lineage is captured.

The run itself is asserted always. The lineage graph is asserted only where the capture
plugin wrote a store (``lineage_home`` points it at a fresh file): until the listener is
installed, there is no store to read.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeAlias

import pytest

from tests.capture.conftest import REPO

DAG_FILE = REPO / "dags" / "ml_pipeline_sagemaker.py"
DAG_ID = "ml_pipeline_sagemaker"
TASKS = (
    "upload_iris",
    "preprocess",
    "train",
    "register_model",
    "create_model",
    "endpoint_config",
    "gate",
    "deploy",
)

Vertex: TypeAlias = tuple[str, str, str]
"""(lineage type, entity type, SourceUri for artifacts or name for actions and contexts)."""
Edge: TypeAlias = tuple[Vertex, Vertex, str]
"""(source vertex, destination vertex, association type)."""


def captured_graph(store_url: str) -> tuple[set[Vertex], set[Edge]]:
    """Export a lineage store and summarise it as vertices and typed edges."""
    from airflow_lineage import Artifact, Association, connect

    vertices: dict[str, Vertex] = {}
    associations: list[Association] = []
    store = connect(store_url)
    try:
        for item in store.export():
            if isinstance(item, Association):
                associations.append(item)
            elif isinstance(item, Artifact):
                vertices[item.arn] = (item.lineage_type.value, item.type, item.source_uri)
            else:
                vertices[item.arn] = (item.lineage_type.value, item.type, str(item.name))
    finally:
        store.close()
    edges = {
        (
            vertices[a.source_arn],
            vertices[a.destination_arn],
            a.association_type.value if a.association_type else "",
        )
        for a in associations
    }
    return set(vertices.values()), edges


@pytest.fixture
def aws() -> Iterator[None]:
    """Run under moto, with the jobs' outputs in place: moto runs no containers, so the
    processing job's features and the training job's model.tar.gz are written here, as
    SageMaker would write them (the gate verifies their S3 digests)."""
    from unittest import mock

    import boto3
    from moto import mock_aws
    from moto.sagemaker.models import SageMakerModelBackend

    from dags import ml_pipeline_sagemaker as pipeline

    create_training_job = SageMakerModelBackend.create_training_job

    def training_writes_its_model(self: Any, *args: Any, **kwargs: Any) -> Any:
        job = create_training_job(self, *args, **kwargs)
        bucket, _, key = job.model_artifacts["S3ModelArtifacts"][5:].partition("/")
        boto3.client("s3", region_name=pipeline.REGION).put_object(
            Bucket=bucket, Key=key, Body=b"a trained model"
        )
        return job

    with mock_aws(), mock.patch.object(
        SageMakerModelBackend, "create_training_job", training_writes_its_model
    ):
        s3 = boto3.client("s3", region_name=pipeline.REGION)
        s3.create_bucket(Bucket=pipeline.BUCKET)
        key = pipeline.FEATURES_URI.removeprefix(f"s3://{pipeline.BUCKET}/") + "train.csv"
        s3.put_object(Bucket=pipeline.BUCKET, Key=key, Body=b"sepal_length,species\n5.1,setosa\n")
        yield


def test_dag_parses_into_one_chain(load_dag: Callable[[Path, str], Any]) -> None:
    dag = load_dag(DAG_FILE, DAG_ID)
    assert set(dag.task_dict) == set(TASKS)
    for upstream, downstream in itertools.pairwise(TASKS):
        assert dag.task_dict[downstream].upstream_task_ids == {upstream}


def test_dag_runs_under_moto_and_lineage_is_captured(
    aws: None,
    lineage_home: Path,
    load_dag: Callable[[Path, str], Any],
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.utils.state import DagRunState, TaskInstanceState

    from dags import ml_pipeline_sagemaker as pipeline

    # A busy machine must not divert records to the outbox (read once, after lineage_home).
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__CAPTURE_TIMEOUT", "60")
    dag = load_dag(DAG_FILE, DAG_ID)
    run = run_dag(dag)

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(TASKS, TaskInstanceState.SUCCESS)
    assert run.state == DagRunState.SUCCESS

    store_file = lineage_home / "lineage.db"
    if not (store_file.exists() and store_file.stat().st_size > 0):
        return  # no capture plugin installed: nothing was recorded
    pending = sorted(p.name for p in (lineage_home / "outbox").glob("*"))
    assert not pending, f"records left in the outbox instead of the store: {pending}"
    vertices, edges = captured_graph(os.environ["AIRFLOW__ML_LINEAGE__STORE_URL"])

    slug = DAG_ID.replace("_", "-")

    def one(lineage_type: str, entity_type: str, match: Callable[[str], bool] = bool) -> Vertex:
        found = [v for v in vertices if v[:2] == (lineage_type, entity_type) and match(v[2])]
        assert len(found) == 1, (lineage_type, entity_type, found, sorted(vertices))
        return found[0]

    actions = {
        task_id: one("Action", kind, lambda name, t=task_id: name.startswith(f"{slug}-{t}-"))
        for task_id, kind in (
            ("upload-iris", "PythonDecoratedOperator"),
            ("preprocess", "ProcessingJob"),
            ("train", "TrainingJob"),
            ("register-model", "Approval"),
            ("create-model", "CreateModel"),
            ("endpoint-config", "CreateEndpointConfig"),
            ("gate", "Approval"),
            ("deploy", "ModelDeployment"),
        )
    }
    upload, processing, training, approval, create_model, create_config, gate, deployment = (
        actions.values()
    )
    report_json = one("Artifact", "Report", lambda uri: uri.endswith("/gate.json"))
    report_md = one("Artifact", "Report", lambda uri: uri.endswith("/gate.md"))
    dag_context = one("Context", "Pipeline")
    run_context = one("Context", "PipelineExecution")

    raw = ("Artifact", "DataSet", pipeline.RAW_URI)
    features = ("Artifact", "DataSet", pipeline.FEATURES_URI)
    image = ("Artifact", "Image", pipeline.IMAGE_URI)
    model_data = one("Artifact", "Model", lambda uri: uri.startswith(pipeline.MODELS_URI))
    package = one("Artifact", "Model", lambda uri: ":model-package/" in uri)
    model = one("Artifact", "Model", lambda uri: ":model/" in uri)
    config = one("Artifact", "EndpointConfig")
    group = ("Context", "ModelGroup", f"{pipeline.MODEL_PACKAGE_GROUP}-model-group")
    endpoint = ("Context", "Endpoint", f"{pipeline.ENDPOINT_NAME}-endpoint")

    assert model_data[2].endswith("/output/model.tar.gz")
    assert package[2] == (
        f"arn:aws:sagemaker:{pipeline.REGION}:{pipeline.ACCOUNT_ID}:model-package/"
        f"{pipeline.MODEL_PACKAGE_GROUP}/1"
    )
    step_edges = {
        (upload, raw, "Produced"),  # S3Hook's hook-level lineage
        (raw, processing, "ContributedTo"),
        (image, processing, "ContributedTo"),
        (processing, features, "Produced"),
        (features, training, "ContributedTo"),
        (image, training, "ContributedTo"),
        (training, model_data, "Produced"),
        (model_data, approval, "ContributedTo"),
        (image, approval, "ContributedTo"),
        (approval, package, "Produced"),
        (approval, group, "AssociatedWith"),
        (package, create_model, "ContributedTo"),
        (create_model, model, "Produced"),
        (model, create_config, "ContributedTo"),
        (create_config, config, "Produced"),
        (config, deployment, "ContributedTo"),
        (model, deployment, "ContributedTo"),
        (deployment, endpoint, "AssociatedWith"),
        (model, gate, "ContributedTo"),  # the gate checked the model ...
        (gate, report_json, "Produced"),  # ... wrote its report ...
        (gate, report_md, "Produced"),
        (gate, deployment, "AssociatedWith"),  # ... and allowed the deployment
    }
    task_runs = {v for v in vertices if v[:2] == ("Context", "TaskRun")}
    assert len(task_runs) == len(TASKS)  # one per task run, linking its tries
    run_edges = {(action, run_context, "AssociatedWith") for action in actions.values()}
    run_edges.add((run_context, dag_context, "AssociatedWith"))
    for action in actions.values():
        (task_run,) = [e[1] for e in edges if e[0] == action and e[1] in task_runs]
        run_edges.add((action, task_run, "AssociatedWith"))
    assert edges == step_edges | run_edges, (
        sorted(edges - step_edges - run_edges),
        sorted((step_edges | run_edges) - edges),
    )
    assert vertices == {
        *actions.values(),
        dag_context,
        run_context,
        raw,
        features,
        image,
        model_data,
        package,
        model,
        config,
        group,
        endpoint,
        report_json,
        report_md,
        *task_runs,
    }

    # S3 channels that name an object carry its ETag, read through the AWS connection
    # (the processing job's raw input, read before the job ran). Prefixes (the features
    # channel) have no object to read: they stay without a digest.
    import boto3

    from airflow_lineage import Artifact, connect

    head = boto3.client("s3", region_name=pipeline.REGION).head_object(
        Bucket=pipeline.BUCKET, Key=pipeline.RAW_URI.removeprefix(f"s3://{pipeline.BUCKET}/")
    )
    with connect(os.environ["AIRFLOW__ML_LINEAGE__STORE_URL"]) as store:
        artifacts = {
            e.source_uri: e
            for e in store.list_entities("Artifact").items
            if isinstance(e, Artifact)
        }
    assert [(st.id_type.value, st.value) for st in artifacts[pipeline.RAW_URI].source_types] == [
        ("S3ETag", head["ETag"].strip('"'))
    ]
    # A prefix (the processing output, the training channel) is digested by its listing:
    # every key below it and its ETag.
    from airflow_lineage.verify import s3_listing_digest

    (listing,) = artifacts[pipeline.FEATURES_URI].source_types
    assert (listing.id_type.value, listing.value) == (
        "Custom",
        s3_listing_digest(pipeline.FEATURES_URI, aws_conn_id=None),
    )
    assert listing.value.startswith("s3-listing:sha256:")
