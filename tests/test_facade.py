"""The boto3-shaped facade: SageMaker's lineage requests and responses on a local store.

Tests that take the shared ``store`` fixture (tests/conftest.py) run on a real SQLite
file and on PostgreSQL, each in a schema of its own. Every response the facade returns
is checked against botocore's output shape for its operation, by :func:`shape_problems`
below and by botocore's own validator.
"""

from __future__ import annotations

import copy
import itertools
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError, OperationNotPageableError, ParamValidationError
from botocore.stub import Stubber
from botocore.validate import validate_parameters

import airflow_lineage
from airflow_lineage import AssociationsExistError, EntityNotFoundError, StoreError
from airflow_lineage.apispec import service_model
from airflow_lineage.facade import Boto3Facade, RequestValidationError
from airflow_lineage.store import LineageStore

OPERATIONS = {
    xform_name(op): op
    for op in (
        "CreateArtifact",
        "DescribeArtifact",
        "ListArtifacts",
        "UpdateArtifact",
        "DeleteArtifact",
        "CreateAction",
        "DescribeAction",
        "ListActions",
        "UpdateAction",
        "DeleteAction",
        "CreateContext",
        "DescribeContext",
        "ListContexts",
        "UpdateContext",
        "DeleteContext",
        "AddAssociation",
        "DeleteAssociation",
        "ListAssociations",
        "QueryLineage",
        "ListLineageGroups",
        "DescribeLineageGroup",
        "ListTags",
    )
}

ACCOUNT_PREFIX = "arn:aws:sagemaker:local:000000000000"
MISSING_ARTIFACT = f"{ACCOUNT_PREFIX}:artifact/{'0' * 32}"


# -- response shapes -------------------------------------------------------------------


def shape_problems(value: Any, shape: Any, path: str = "") -> list[str]:
    """Return how ``value`` departs from a botocore output shape (empty when it fits).

    Checks required members, unknown members, Python types (timestamps must be
    timezone-aware datetimes) and enums, recursively.
    """
    where = path or "<response>"
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected a dict for {shape.name}, got {type(value).__name__}"]
        problems = [
            f"{where}: missing required member {name!r}"
            for name in shape.required_members
            if name not in value
        ]
        for name, item in value.items():
            if name not in shape.members:
                problems.append(f"{where}: unknown member {name!r} in {shape.name}")
            else:
                sub = f"{path}.{name}" if path else name
                problems += shape_problems(item, shape.members[name], sub)
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [
            problem
            for i, item in enumerate(value)
            for problem in shape_problems(item, shape.member, f"{path}[{i}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a dict (map), got {type(value).__name__}"]
        problems = []
        for key, item in value.items():
            problems += shape_problems(key, shape.key, f"{path} key {key!r}")
            problems += shape_problems(item, shape.value, f"{path}[{key!r}]")
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, got {type(value).__name__}"]
        enum = getattr(shape, "enum", None) or []
        return [f"{where}: {value!r} is not one of {enum}"] if enum and value not in enum else []
    if kind in ("integer", "long"):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected an int, got {type(value).__name__}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected a bool"]
    if kind in ("float", "double"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: expected a number, got {type(value).__name__}"]
    if kind == "timestamp":
        if not isinstance(value, datetime):
            return [f"{where}: expected a datetime, got {type(value).__name__}"]
        if value.utcoffset() is None:
            return [f"{where}: datetime {value} is not timezone-aware"]
        return []
    return [f"{where}: shape type {kind!r} is not expected in lineage responses"]


def check_response(operation_name: str, response: Any) -> None:
    """Assert that a facade response is what boto3 would return for the operation."""
    assert isinstance(response, dict)
    meta = response.get("ResponseMetadata")
    assert isinstance(meta, dict), "boto3 responses carry ResponseMetadata"
    assert meta["HTTPStatusCode"] == 200
    assert isinstance(meta["RequestId"], str) and meta["RequestId"]
    assert isinstance(meta["HTTPHeaders"], dict)
    assert meta["RetryAttempts"] == 0
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    output_shape = service_model().operation_model(operation_name).output_shape
    problems = shape_problems(body, output_shape)
    assert not problems, f"{operation_name} response does not fit its shape:\n" + "\n".join(
        problems
    )
    validate_parameters(body, output_shape)  # botocore's own check (min lengths too)


def body(response: dict[str, Any]) -> dict[str, Any]:
    """Return a response without its ResponseMetadata."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


class CheckedClient:
    """The facade, with every response checked against its botocore output shape."""

    def __init__(self, facade: Boto3Facade) -> None:
        self.facade = facade
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.facade, name)
        if name not in OPERATIONS:
            return attr

        def call(**kwargs: Any) -> dict[str, Any]:
            response = attr(**kwargs)
            check_response(OPERATIONS[name], response)
            self.calls.append(name)
            return response  # type: ignore[no-any-return]

        return call


@pytest.fixture
def sm(store: LineageStore) -> CheckedClient:
    """Return the store's boto3-shaped client, with response-shape checks."""
    facade = store.as_boto3_client()
    assert isinstance(facade, Boto3Facade)
    return CheckedClient(facade)


def snapshot(store: LineageStore) -> list[Any]:
    """Return everything the store holds, to prove a failed request wrote nothing."""
    return [*store.export(), *store.lineage_groups()]


def code_of(error: BaseException) -> str:
    assert isinstance(error, ClientError)
    return str(error.response["Error"]["Code"])


# -- a lineage graph built through the facade --------------------------------------------

GRAPH_EDGES = [
    ("raw", "prep", "ContributedTo"),
    ("prep", "features", "Produced"),
    ("features", "train", "ContributedTo"),
    ("image", "train", "ContributedTo"),
    ("train", "model", "Produced"),
    ("model", "deploy", "ContributedTo"),
    ("approve", "deploy", "AssociatedWith"),
    ("deploy", "endpoint", "AssociatedWith"),
]


def build_graph(sm: Any) -> dict[str, str]:
    """Record a small ML pipeline with boto3 calls; return the ARNs by short name.

    raw -> prep -> features -> train -> model -> deploy -> endpoint, with image -> train
    and approve -> deploy (see GRAPH_EDGES for the association types).
    """
    arns: dict[str, str] = {}

    def artifact(key: str, uri: str, kind: str, **extra: Any) -> None:
        response = sm.create_artifact(Source={"SourceUri": uri}, ArtifactType=kind, **extra)
        arns[key] = response["ArtifactArn"]

    def action(key: str, name: str, kind: str) -> None:
        source = {"SourceUri": f"airflow://dags/churn/{name}"}
        response = sm.create_action(
            ActionName=name, Source=source, ActionType=kind, Status="Completed"
        )
        arns[key] = response["ActionArn"]

    artifact("raw", "s3://ml/raw/churn.csv", "DataSet")
    action("prep", "prep-run-1", "DataPrep")
    artifact("features", "s3://ml/features.parquet", "DataSet", Properties={"stage": "ft"})
    artifact("image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost:1", "Image")
    action("train", "train-run-1", "TrainingJob")
    artifact("model", "s3://ml/model/model.tar.gz", "Model", Properties={"accuracy": "0.93"})
    action("approve", "approve-run-1", "Approval")
    action("deploy", "deploy-run-1", "ModelDeployment")
    arns["endpoint"] = sm.create_context(
        ContextName="churn-endpoint",
        Source={"SourceUri": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn"},
        ContextType="Endpoint",
    )["ContextArn"]
    for src, dst, kind in GRAPH_EDGES:
        sm.add_association(SourceArn=arns[src], DestinationArn=arns[dst], AssociationType=kind)
    return arns


@pytest.fixture
def graph(sm: CheckedClient) -> dict[str, str]:
    return build_graph(sm)


def names_of(response: dict[str, Any], arns: dict[str, str]) -> set[str]:
    """Return the short names of a query response's vertices."""
    name = {arn: key for key, arn in arns.items()}
    return {name[v["Arn"]] for v in response["Vertices"]}


def edges_of(response: dict[str, Any], arns: dict[str, str]) -> set[tuple[str, str, str]]:
    """Return a query response's edges as (source, destination, type) short names."""
    name = {arn: key for key, arn in arns.items()}
    return {
        (name[e["SourceArn"]], name[e["DestinationArn"]], e["AssociationType"])
        for e in response["Edges"]
    }


# -- the response validator itself ------------------------------------------------------


def test_shape_problems_catches_every_kind_of_departure() -> None:
    shape = service_model().operation_model("DescribeArtifact").output_shape
    good = {
        "ArtifactArn": f"{ACCOUNT_PREFIX}:artifact/abc",
        "Source": {
            "SourceUri": "s3://b/k",
            "SourceTypes": [{"SourceIdType": "MD5Hash", "Value": "x"}],
        },
        "Properties": {"a": "b"},
        "CreationTime": datetime.now(UTC),
    }
    assert shape_problems(good, shape) == []
    bad_cases: list[tuple[Callable[[dict[str, Any]], object], str]] = [
        (lambda b: b.update(Extra=1), "unknown member 'Extra'"),
        (lambda b: b["Source"].pop("SourceUri"), "missing required member 'SourceUri'"),
        (lambda b: b.update(CreationTime=datetime.now()), "not timezone-aware"),
        (lambda b: b.update(CreationTime="2024-01-01"), "expected a datetime"),
        (lambda b: b["Source"]["SourceTypes"][0].update(SourceIdType="SHA1"), "is not one of"),
        (lambda b: b.update(Properties={"a": 1}), "expected a string"),
        (lambda b: b.update(Properties=[]), "expected a dict (map)"),
        (lambda b: b["Source"].update(SourceTypes={}), "expected a list"),
    ]
    for mutate, expected in bad_cases:
        bad = copy.deepcopy(good)
        mutate(bad)
        problems = shape_problems(bad, shape)
        assert any(expected in p for p in problems), (expected, problems)
    query_shape = service_model().operation_model("QueryLineage").output_shape
    assert shape_problems({"Vertices": [{"Arn": "a", "LineageType": "Job"}]}, query_shape)
    assert shape_problems({"NextToken": 3}, query_shape)


# -- artifacts, actions, contexts --------------------------------------------------------


def test_artifact_create_describe_update_delete(sm: CheckedClient) -> None:
    digest = {"SourceIdType": "Custom", "Value": "sha256:" + "a" * 64}
    arn = sm.create_artifact(
        ArtifactName="churn-raw",
        Source={"SourceUri": "s3://ml/raw/churn.csv", "SourceTypes": [digest]},
        ArtifactType="DataSet",
        Properties={"rows": "1000", "owner": "ds-team"},
        MetadataProperties={"CommitId": "abc123", "Repository": "git@example.com:ml.git"},
        Tags=[{"Key": "team", "Value": "churn"}, {"Key": "env", "Value": "dev"}],
    )["ArtifactArn"]
    assert arn.startswith(f"{ACCOUNT_PREFIX}:artifact/")

    described = sm.describe_artifact(ArtifactArn=arn)
    assert described["ArtifactArn"] == arn
    assert described["ArtifactName"] == "churn-raw"
    assert described["ArtifactType"] == "DataSet"
    assert described["Source"] == {"SourceUri": "s3://ml/raw/churn.csv", "SourceTypes": [digest]}
    assert described["Properties"] == {"owner": "ds-team", "rows": "1000"}
    assert described["MetadataProperties"] == {
        "CommitId": "abc123",
        "Repository": "git@example.com:ml.git",
    }
    assert described["LineageGroupArn"] == (
        f"{ACCOUNT_PREFIX}:lineage-group/sagemaker-default-lineage-group"
    )
    assert described["CreationTime"] == described["LastModifiedTime"]
    assert abs(described["CreationTime"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"},
        {"Key": "team", "Value": "churn"},
    ]

    updated = sm.update_artifact(
        ArtifactArn=arn,
        ArtifactName="churn-raw-v2",
        Properties={"rows": "2000", "checked": "yes"},
        PropertiesToRemove=["owner"],
    )
    assert updated["ArtifactArn"] == arn
    after = sm.describe_artifact(ArtifactArn=arn)
    assert after["ArtifactName"] == "churn-raw-v2"
    assert after["Properties"] == {"checked": "yes", "rows": "2000"}
    assert after["CreationTime"] == described["CreationTime"]
    assert after["LastModifiedTime"] > after["CreationTime"]

    assert sm.delete_artifact(ArtifactArn=arn)["ArtifactArn"] == arn
    with pytest.raises(ClientError) as info:
        sm.describe_artifact(ArtifactArn=arn)
    assert code_of(info.value) == "ResourceNotFound"


def test_artifact_without_optional_fields(sm: CheckedClient) -> None:
    arn = sm.create_artifact(Source={"SourceUri": "s3://b/k"}, ArtifactType="Model")["ArtifactArn"]
    described = sm.describe_artifact(ArtifactArn=arn)
    assert "ArtifactName" not in described
    assert "MetadataProperties" not in described
    assert described["Source"] == {"SourceUri": "s3://b/k", "SourceTypes": []}
    assert described["Properties"] == {}
    assert sm.list_tags(ResourceArn=arn)["Tags"] == []


def test_action_create_describe_by_name_and_arn_update_delete(sm: CheckedClient) -> None:
    arn = sm.create_action(
        ActionName="train-churn-42",
        Source={"SourceUri": "airflow://dags/churn/train", "SourceType": "Dag", "SourceId": "42"},
        ActionType="TrainingJob",
        Description="weekly retrain",
        Status="InProgress",
        Properties={"learning_rate": "0.1"},
        MetadataProperties={"GeneratedBy": "airflow"},
        Tags=[{"Key": "dag", "Value": "churn"}],
    )["ActionArn"]
    assert arn == f"{ACCOUNT_PREFIX}:action/train-churn-42"
    by_name = sm.describe_action(ActionName="train-churn-42")
    by_arn = sm.describe_action(ActionName=arn)
    assert body(by_name) == body(by_arn)
    assert by_name["ActionName"] == "train-churn-42"
    assert by_name["ActionArn"] == arn
    assert by_name["Source"] == {
        "SourceUri": "airflow://dags/churn/train",
        "SourceType": "Dag",
        "SourceId": "42",
    }
    assert by_name["ActionType"] == "TrainingJob"
    assert by_name["Description"] == "weekly retrain"
    assert by_name["Status"] == "InProgress"
    assert by_name["Properties"] == {"learning_rate": "0.1"}
    assert by_name["MetadataProperties"] == {"GeneratedBy": "airflow"}
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "dag", "Value": "churn"}]

    updated = sm.update_action(
        ActionName="train-churn-42",
        Status="Completed",
        Description="weekly retrain, done",
        Properties={"epochs": "10"},
        PropertiesToRemove=["learning_rate"],
    )
    assert updated["ActionArn"] == arn
    after = sm.describe_action(ActionName=arn)
    assert after["Status"] == "Completed"
    assert after["Description"] == "weekly retrain, done"
    assert after["Properties"] == {"epochs": "10"}
    assert after["LastModifiedTime"] > after["CreationTime"]

    assert sm.delete_action(ActionName="train-churn-42")["ActionArn"] == arn
    with pytest.raises(ClientError) as info:
        sm.describe_action(ActionName="train-churn-42")
    assert code_of(info.value) == "ResourceNotFound"


def test_context_create_describe_update_delete(sm: CheckedClient) -> None:
    arn = sm.create_context(
        ContextName="churn_pipeline-run_7",
        Source={"SourceUri": "airflow://dags/churn/runs/7"},
        ContextType="PipelineExecution",
        Description="run 7",
        Properties={"trigger": "schedule"},
        Tags=[{"Key": "dag", "Value": "churn"}],
    )["ContextArn"]
    assert arn == f"{ACCOUNT_PREFIX}:context/churn_pipeline-run_7"
    described = sm.describe_context(ContextName="churn_pipeline-run_7")
    assert body(described) == body(sm.describe_context(ContextName=arn))
    assert described["ContextName"] == "churn_pipeline-run_7"
    assert described["ContextType"] == "PipelineExecution"
    assert described["Description"] == "run 7"
    assert described["Source"] == {"SourceUri": "airflow://dags/churn/runs/7"}
    assert described["Properties"] == {"trigger": "schedule"}
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "dag", "Value": "churn"}]

    sm.update_context(
        ContextName="churn_pipeline-run_7",
        Description="run 7 (rerun)",
        Properties={"trigger": "manual"},
    )
    after = sm.describe_context(ContextName=arn)
    assert after["Description"] == "run 7 (rerun)"
    assert after["Properties"] == {"trigger": "manual"}
    assert sm.delete_context(ContextName="churn_pipeline-run_7")["ContextArn"] == arn
    with pytest.raises(ClientError) as info:
        sm.describe_context(ContextName=arn)
    assert code_of(info.value) == "ResourceNotFound"


def test_creates_are_idempotent_and_keep_the_first_version(
    sm: CheckedClient, store: LineageStore
) -> None:
    source = {"SourceUri": "s3://ml/model.tar.gz"}
    first = sm.create_artifact(Source=source, ArtifactType="Model", Properties={"v": "1"})
    again = sm.create_artifact(Source=source, ArtifactType="Model", Properties={"v": "2"})
    assert again["ArtifactArn"] == first["ArtifactArn"]
    assert sm.describe_artifact(ArtifactArn=first["ArtifactArn"])["Properties"] == {"v": "1"}
    other_type = sm.create_artifact(Source=source, ArtifactType="ModelData")
    assert other_type["ArtifactArn"] != first["ArtifactArn"]

    action = {"ActionName": "deploy-1", "Source": {"SourceUri": "x://d"}, "ActionType": "Deploy"}
    action_arn = sm.create_action(**action)["ActionArn"]
    assert sm.create_action(**action, Status="Failed")["ActionArn"] == action_arn
    assert sm.describe_action(ActionName="deploy-1")["Status"] == "Unknown"
    context = {"ContextName": "ep", "Source": {"SourceUri": "x://e"}, "ContextType": "Endpoint"}
    assert sm.create_context(**context)["ContextArn"] == sm.create_context(**context)["ContextArn"]

    pair = {"SourceArn": first["ArtifactArn"], "DestinationArn": action_arn}
    assert body(sm.add_association(**pair, AssociationType="ContributedTo")) == pair
    assert body(sm.add_association(**pair, AssociationType="Produced")) == pair
    (summary,) = sm.list_associations()["AssociationSummaries"]
    assert summary["AssociationType"] == "ContributedTo"
    assert len(list(store.export())) == 4 + 1  # 2 artifacts, 1 action, 1 context, 1 edge


# -- validation -------------------------------------------------------------------------

ARTIFACT = {"Source": {"SourceUri": "s3://b/k"}, "ArtifactType": "DataSet"}
ACTION = {"ActionName": "a1", "Source": {"SourceUri": "x://a"}, "ActionType": "Step"}
CONTEXT = {"ContextName": "c1", "Source": {"SourceUri": "x://c"}, "ContextType": "Run"}
SEED_ARTIFACT = "seed"  # placeholders replaced by the seeded entities' ARNs
SEED_ACTION = "seed-action"

BAD_REQUESTS: list[tuple[str, dict[str, Any], str, bool]] = [
    # (method, request, field the message must name, is it botocore's client-side check)
    ("create_artifact", {"Source": {"SourceUri": "s3://b/k"}}, "ArtifactType", True),
    ("create_artifact", {**ARTIFACT, "Name": "x"}, "Name", True),
    ("create_artifact", {**ARTIFACT, "Properties": ["a"]}, "Properties", True),
    ("create_artifact", {**ARTIFACT, "ArtifactName": None}, "ArtifactName", True),
    ("create_artifact", {"Source": {"SourceUri": ""}, "ArtifactType": "D"}, "SourceUri", True),
    ("create_artifact", {**ARTIFACT, "ArtifactName": "bad name!"}, "ArtifactName", False),
    (
        "create_artifact",
        {"Source": {"SourceUri": "s3://" + "k" * 2048}, "ArtifactType": "D"},
        "Source.SourceUri",
        False,
    ),
    (
        "create_artifact",
        {
            "Source": {
                "SourceUri": "s3://b/k",
                "SourceTypes": [{"SourceIdType": "SHA1", "Value": "x"}],
            },
            "ArtifactType": "D",
        },
        "SourceIdType",
        False,
    ),
    (
        "create_artifact",
        {**ARTIFACT, "Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]},
        "Tags",
        False,
    ),
    (
        "create_artifact",
        {**ARTIFACT, "Properties": {str(i): "v" for i in range(31)}},
        "Properties",
        False,
    ),
    ("create_artifact", {**ARTIFACT, "MetadataProperties": {"Branch": "main"}}, "Branch", True),
    ("create_action", {**ACTION, "Status": "Done"}, "Status", False),
    ("create_action", {**ACTION, "ActionName": ""}, "ActionName", True),
    ("create_action", {**ACTION, "Description": "d" * 3073}, "Description", False),
    ("create_context", {**CONTEXT, "ContextName": "a b"}, "ContextName", False),
    ("create_context", {**CONTEXT, "MetadataProperties": {}}, "MetadataProperties", True),
    (
        "add_association",
        {"SourceArn": SEED_ARTIFACT, "DestinationArn": SEED_ACTION, "AssociationType": "Caused"},
        "AssociationType",
        False,
    ),
    (
        "add_association",
        {"SourceArn": "not-an-arn", "DestinationArn": SEED_ACTION},
        "SourceArn",
        False,
    ),
    (
        "add_association",
        {"SourceArn": f"{ACCOUNT_PREFIX}:endpoint/x", "DestinationArn": SEED_ACTION},
        "SourceArn",
        False,
    ),
    ("add_association", {"SourceArn": SEED_ARTIFACT}, "DestinationArn", True),
    ("describe_artifact", {"ArtifactArn": SEED_ACTION}, "ArtifactArn", False),
    ("describe_action", {"ActionName": SEED_ARTIFACT}, "ActionName", False),
    ("describe_action", {"ActionName": "a/b"}, "ActionName", False),
    ("update_action", {"ActionName": SEED_ACTION, "Status": "Completed"}, "ActionName", False),
    (
        "update_artifact",
        {"ArtifactArn": SEED_ARTIFACT, "PropertiesToRemove": "k"},
        "PropertiesToRemove",
        True,
    ),
    ("delete_artifact", {}, "ArtifactArn or Source", False),
    ("delete_action", {"ActionName": 7}, "ActionName", True),
    ("list_artifacts", {"MaxResults": 0}, "MaxResults", True),
    ("list_artifacts", {"MaxResults": 101}, "MaxResults", False),
    ("list_artifacts", {"CreatedAfter": "yesterday"}, "CreatedAfter", True),
    ("list_artifacts", {"SortBy": "Name"}, "SortBy", False),
    ("list_actions", {"SortBy": "Status"}, "SortBy", False),
    ("list_associations", {"SortOrder": "Up"}, "SortOrder", False),
    ("list_associations", {"NextToken": "bm90LWEtdG9rZW4"}, "NextToken", False),
    ("list_lineage_groups", {"MaxResults": 500}, "MaxResults", False),
    ("describe_lineage_group", {"LineageGroupName": "bad name!"}, "LineageGroupName", False),
    ("list_tags", {"ResourceArn": SEED_ARTIFACT, "MaxResults": 10}, "MaxResults", True),
    ("query_lineage", {}, "StartArns", False),
    ("query_lineage", {"StartArns": []}, "StartArns", False),
    ("query_lineage", {"StartArns": SEED_ARTIFACT}, "StartArns", True),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT], "Direction": "Sideways"}, "Direction", False),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT], "IncludeEdges": "yes"}, "IncludeEdges", True),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT], "MaxDepth": -1}, "MaxDepth", False),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT], "MaxDepth": 1001}, "MaxDepth", False),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT], "MaxResults": 0}, "MaxResults", False),
    (
        "query_lineage",
        {"StartArns": [SEED_ARTIFACT], "Filters": {"LineageTypes": ["Job"]}},
        "LineageTypes",
        False,
    ),
    (
        "query_lineage",
        {"StartArns": [SEED_ARTIFACT], "Filters": {"Types": ["T" * 41]}},
        "Filters.Types",
        False,
    ),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT], "Filters": {"Kinds": []}}, "Kinds", True),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT], "NextToken": "garbage"}, "NextToken", False),
]


@pytest.mark.parametrize(
    ("method", "request_", "field", "client_side"),
    BAD_REQUESTS,
    ids=[f"{m}-{f}-{i}" for i, (m, _, f, _) in enumerate(BAD_REQUESTS)],
)
def test_bad_requests_raise_validation_exception_and_write_nothing(
    sm: CheckedClient,
    store: LineageStore,
    method: str,
    request_: dict[str, Any],
    field: str,
    client_side: bool,
) -> None:
    seed_artifact = sm.create_artifact(**ARTIFACT)["ArtifactArn"]
    seed_action = sm.create_action(**ACTION)["ActionArn"]
    request = copy.deepcopy(request_)
    replace = {SEED_ARTIFACT: seed_artifact, SEED_ACTION: seed_action}
    for key, value in request.items():
        if isinstance(value, str):
            request[key] = replace.get(value, value)
        elif isinstance(value, list):
            request[key] = [replace.get(v, v) if isinstance(v, str) else v for v in value]
    before = snapshot(store)

    with pytest.raises(ClientError) as info:
        getattr(sm, method)(**request)

    error = info.value
    assert code_of(error) == "ValidationException"
    assert field in error.response["Error"]["Message"], error.response["Error"]["Message"]
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.operation_name == OPERATIONS[method]
    assert str(error).startswith(
        f"An error occurred (ValidationException) when calling the {OPERATIONS[method]} operation"
    )
    # botocore's client-side failures are also boto3's ParamValidationError.
    assert isinstance(error, ParamValidationError) is client_side
    assert isinstance(error, RequestValidationError) is client_side
    assert snapshot(store) == before


def test_methods_take_keyword_arguments_only(sm: CheckedClient) -> None:
    with pytest.raises(TypeError):
        sm.facade.describe_artifact(MISSING_ARTIFACT)  # type: ignore[call-arg]


def test_server_side_messages_read_like_sagemakers(sm: CheckedClient) -> None:
    with pytest.raises(ClientError) as info:
        sm.list_artifacts(MaxResults=101)
    assert info.value.response["Error"]["Message"] == (
        "1 validation error detected: Value '101' at 'MaxResults' failed to satisfy "
        "constraint: Member must have value less than or equal to 100"
    )
    with pytest.raises(ClientError) as info:
        sm.create_artifact(
            ArtifactName="-bad",
            Source={"SourceUri": "s3://b/k"},
            ArtifactType="D",
            Properties={str(i): "v" for i in range(31)},
        )
    message = info.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected: ")
    assert "at 'ArtifactName' failed to satisfy constraint: Member must satisfy regular" in message
    assert "at 'Properties' failed to satisfy constraint: Member must have length less" in message


def test_timestamps_are_accepted_as_boto3_accepts_them(sm: CheckedClient) -> None:
    arn = sm.create_artifact(**ARTIFACT)["ArtifactArn"]
    created = sm.describe_artifact(ArtifactArn=arn)["CreationTime"]
    earlier = created - timedelta(hours=1)
    for after in (
        earlier,
        earlier.replace(tzinfo=None),  # naive: boto3 takes it as UTC
        earlier.isoformat(),
        int(earlier.timestamp()),
        earlier.astimezone(timezone(timedelta(hours=2))),
    ):
        listed = sm.list_artifacts(CreatedAfter=after)["ArtifactSummaries"]
        assert [s["ArtifactArn"] for s in listed] == [arn], after
    later = (created + timedelta(hours=1)).isoformat()
    assert sm.list_artifacts(CreatedAfter=later)["ArtifactSummaries"] == []


# -- domain errors ----------------------------------------------------------------------

NOT_FOUND: list[tuple[str, dict[str, Any]]] = [
    ("describe_artifact", {"ArtifactArn": MISSING_ARTIFACT}),
    ("update_artifact", {"ArtifactArn": MISSING_ARTIFACT, "Properties": {"a": "b"}}),
    ("delete_artifact", {"ArtifactArn": MISSING_ARTIFACT}),
    ("delete_artifact", {"Source": {"SourceUri": "s3://nothing/here"}}),
    ("describe_action", {"ActionName": "no-such-action"}),
    ("describe_action", {"ActionName": f"{ACCOUNT_PREFIX}:action/no-such-action"}),
    ("update_action", {"ActionName": "no-such-action", "Status": "Completed"}),
    ("delete_action", {"ActionName": "no-such-action"}),
    ("describe_context", {"ContextName": "no_such_context"}),
    ("update_context", {"ContextName": "no_such_context", "Description": "d"}),
    ("delete_context", {"ContextName": "no_such_context"}),
    ("add_association", {"SourceArn": SEED_ARTIFACT, "DestinationArn": MISSING_ARTIFACT}),
    ("delete_association", {"SourceArn": SEED_ARTIFACT, "DestinationArn": MISSING_ARTIFACT}),
    ("query_lineage", {"StartArns": [MISSING_ARTIFACT]}),
    ("query_lineage", {"StartArns": [SEED_ARTIFACT, MISSING_ARTIFACT]}),
    ("describe_lineage_group", {"LineageGroupName": "team-share"}),
    ("list_tags", {"ResourceArn": MISSING_ARTIFACT}),
]


@pytest.mark.parametrize(
    ("method", "request_"), NOT_FOUND, ids=[f"{m}-{i}" for i, (m, _) in enumerate(NOT_FOUND)]
)
def test_missing_entities_raise_resource_not_found(
    sm: CheckedClient, store: LineageStore, method: str, request_: dict[str, Any]
) -> None:
    seed = sm.create_artifact(**ARTIFACT)["ArtifactArn"]
    request = {key: seed if value == SEED_ARTIFACT else value for key, value in request_.items()}
    if "StartArns" in request:
        request["StartArns"] = [seed if a == SEED_ARTIFACT else a for a in request["StartArns"]]
    before = snapshot(store)

    with pytest.raises(sm.exceptions.ResourceNotFound) as info:
        getattr(sm, method)(**request)

    assert code_of(info.value) == "ResourceNotFound"
    assert info.value.response["Message"] == info.value.response["Error"]["Message"]
    assert isinstance(info.value.__cause__, EntityNotFoundError)
    assert snapshot(store) == before


def test_delete_is_refused_while_associations_exist(sm: CheckedClient, store: LineageStore) -> None:
    data = sm.create_artifact(**ARTIFACT)["ArtifactArn"]
    step = sm.create_action(**ACTION)["ActionArn"]
    run = sm.create_context(**CONTEXT)["ContextArn"]
    sm.add_association(SourceArn=data, DestinationArn=step, AssociationType="ContributedTo")
    sm.add_association(SourceArn=step, DestinationArn=run, AssociationType="AssociatedWith")
    before = snapshot(store)

    refusals: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (sm.delete_artifact, {"ArtifactArn": data}),
        (sm.delete_artifact, {"Source": {"SourceUri": "s3://b/k"}}),
        (sm.delete_action, {"ActionName": "a1"}),
        (sm.delete_context, {"ContextName": "c1"}),
    ]
    for delete, request in refusals:
        with pytest.raises(sm.exceptions.ConflictException) as info:
            delete(**request)
        assert code_of(info.value) == "ConflictException"
        assert "DeleteAssociation" in info.value.response["Error"]["Message"]
        assert isinstance(info.value.__cause__, AssociationsExistError)
    assert snapshot(store) == before

    # SageMaker's clients delete the edges first; then the entities go.
    assert body(sm.delete_association(SourceArn=data, DestinationArn=step)) == {
        "SourceArn": data,
        "DestinationArn": step,
    }
    sm.delete_association(SourceArn=step, DestinationArn=run)
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.delete_association(SourceArn=step, DestinationArn=run)
    assert sm.delete_artifact(Source={"SourceUri": "s3://b/k"})["ArtifactArn"] == data
    assert sm.delete_action(ActionName="a1")["ActionArn"] == step
    assert sm.delete_context(ContextName="c1")["ContextArn"] == run
    assert list(store.export()) == []


def test_delete_artifact_by_source(sm: CheckedClient) -> None:
    etag = {"SourceIdType": "S3ETag", "Value": "etag-1"}
    source = {"SourceUri": "s3://b/data.csv", "SourceTypes": [etag]}
    dataset = sm.create_artifact(Source=source, ArtifactType="DataSet")["ArtifactArn"]

    wrong_digest = {"SourceUri": "s3://b/data.csv", "SourceTypes": [{**etag, "Value": "etag-2"}]}
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.delete_artifact(Source=wrong_digest)
    other = sm.create_artifact(Source={"SourceUri": "s3://a/b"}, ArtifactType="DataSet")
    with pytest.raises(ClientError) as info:
        sm.delete_artifact(ArtifactArn=other["ArtifactArn"], Source=source)
    assert code_of(info.value) == "ValidationException"

    # One SourceUri, two artifact types: Source alone is ambiguous, so it is refused.
    report = sm.create_artifact(Source=source, ArtifactType="Report")["ArtifactArn"]
    with pytest.raises(ClientError) as info:
        sm.delete_artifact(Source={"SourceUri": "s3://b/data.csv"})
    assert code_of(info.value) == "ValidationException"
    assert dataset in info.value.response["Error"]["Message"]

    assert sm.delete_artifact(ArtifactArn=report, Source=source)["ArtifactArn"] == report
    assert sm.delete_artifact(Source=source)["ArtifactArn"] == dataset


def test_store_failures_are_internal_failures(tmp_path: Path) -> None:
    db = tmp_path / "broken.db"
    with airflow_lineage.connect(f"sqlite:///{db}", create=True) as store:
        sm = store.as_boto3_client()
        sm.create_artifact(**ARTIFACT)
        with sqlite3.connect(db) as conn:
            conn.execute("DROP TABLE lineage_associations")
        with pytest.raises(ClientError) as info:
            sm.list_associations()
    assert code_of(info.value) == "InternalFailure"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert isinstance(info.value.__cause__, StoreError)


# -- listings ---------------------------------------------------------------------------


def _create_artifacts(sm: CheckedClient, count: int) -> list[str]:
    arns = []
    for i in range(count):
        kind = "DataSet" if i % 2 == 0 else "Model"
        response = sm.create_artifact(Source={"SourceUri": f"s3://b/{i:02d}"}, ArtifactType=kind)
        arns.append(response["ArtifactArn"])
    return arns


def _all_pages(call: Callable[..., dict[str, Any]], key: str, **request: Any) -> list[Any]:
    items: list[Any] = []
    pages = 0
    while True:
        response = call(**request)
        assert len(response[key]) <= request.get("MaxResults", 10)
        items += response[key]
        pages += 1
        if "NextToken" not in response:
            return items
        assert pages < 100
        request = {**request, "NextToken": response["NextToken"]}


def test_list_artifacts_pages_filters_and_sorts(sm: CheckedClient) -> None:
    arns = _create_artifacts(sm, 23)
    first = sm.list_artifacts()
    assert len(first["ArtifactSummaries"]) == 10  # SageMaker's default page size
    assert "NextToken" in first

    newest_first = _all_pages(sm.list_artifacts, "ArtifactSummaries")
    assert [s["ArtifactArn"] for s in newest_first] == arns[::-1]
    times = [s["CreationTime"] for s in newest_first]
    assert times == sorted(times, reverse=True)
    oldest_first = _all_pages(
        sm.list_artifacts,
        "ArtifactSummaries",
        SortBy="CreationTime",
        SortOrder="Ascending",
        MaxResults=7,
    )
    assert [s["ArtifactArn"] for s in oldest_first] == arns
    everything = sm.list_artifacts(MaxResults=100)
    assert len(everything["ArtifactSummaries"]) == 23
    assert "NextToken" not in everything

    models = _all_pages(sm.list_artifacts, "ArtifactSummaries", ArtifactType="Model")
    assert {s["ArtifactArn"] for s in models} == set(arns[1::2])
    assert all(s["ArtifactType"] == "Model" for s in models)
    (one,) = sm.list_artifacts(SourceUri="s3://b/05")["ArtifactSummaries"]
    assert one["ArtifactArn"] == arns[5]
    assert one["Source"] == {"SourceUri": "s3://b/05", "SourceTypes": []}

    pivot = sm.describe_artifact(ArtifactArn=arns[10])["CreationTime"]
    after = _all_pages(sm.list_artifacts, "ArtifactSummaries", CreatedAfter=pivot)
    before = _all_pages(sm.list_artifacts, "ArtifactSummaries", CreatedBefore=pivot)
    assert {s["ArtifactArn"] for s in after} == set(arns[10:])  # bounds are inclusive
    assert {s["ArtifactArn"] for s in before} == set(arns[:11])


def test_list_actions_and_contexts_sort_by_name(sm: CheckedClient) -> None:
    names = [f"step-{i:02d}" for i in (7, 3, 11, 0, 5, 9, 1)]
    for name in names:
        sm.create_action(
            ActionName=name,
            Source={"SourceUri": f"x://{name}"},
            ActionType="Step",
            Status="Completed",
        )
        sm.create_context(
            ContextName=name.replace("-", "_"),
            Source={"SourceUri": f"x://{name}"},
            ContextType="Run",
        )
    for call, key, field, wanted in (
        (sm.list_actions, "ActionSummaries", "ActionName", names),
        (sm.list_contexts, "ContextSummaries", "ContextName", [n.replace("-", "_") for n in names]),
    ):
        ascending = _all_pages(call, key, SortBy="Name", SortOrder="Ascending", MaxResults=3)
        assert [s[field] for s in ascending] == sorted(wanted)
        descending = _all_pages(call, key, SortBy="Name", MaxResults=2)
        assert [s[field] for s in descending] == sorted(wanted, reverse=True)
        by_time = _all_pages(call, key, MaxResults=4)
        assert [s[field] for s in by_time] == wanted[::-1]
        # A token from one listing is refused by another.
        token = call(SortBy="Name", MaxResults=2)["NextToken"]
        with pytest.raises(ClientError) as info:
            call(SortBy="Name", SortOrder="Ascending", MaxResults=2, NextToken=token)
        assert code_of(info.value) == "ValidationException"
    (summary,) = sm.list_actions(SourceUri="x://step-03")["ActionSummaries"]
    assert summary["ActionName"] == "step-03"
    assert summary["Status"] == "Completed"
    assert summary["Source"] == {"SourceUri": "x://step-03"}
    assert sm.list_contexts(ContextType="Other")["ContextSummaries"] == []


def test_list_associations_filters_sorts_and_pages(
    sm: CheckedClient, graph: dict[str, str]
) -> None:
    every = _all_pages(sm.list_associations, "AssociationSummaries", MaxResults=3)
    name = {arn: key for key, arn in graph.items()}
    assert {
        (name[s["SourceArn"]], name[s["DestinationArn"]], s["AssociationType"]) for s in every
    } == set(GRAPH_EDGES)
    assert len(every) == len(GRAPH_EDGES)
    train_to_model = next(s for s in every if s["SourceArn"] == graph["train"])
    assert train_to_model["SourceType"] == "TrainingJob"
    assert train_to_model["DestinationType"] == "Model"
    assert train_to_model["SourceName"] == "train-run-1"
    assert "DestinationName" not in train_to_model  # the artifact has no name

    def listed(**request: Any) -> list[tuple[str, str]]:
        found = _all_pages(sm.list_associations, "AssociationSummaries", **request)
        return [(name[s["SourceArn"]], name[s["DestinationArn"]]) for s in found]

    assert listed(SourceArn=graph["train"]) == [("train", "model")]
    assert sorted(listed(DestinationArn=graph["train"])) == [
        ("features", "train"),
        ("image", "train"),
    ]
    assert sorted(listed(AssociationType="AssociatedWith")) == [
        ("approve", "deploy"),
        ("deploy", "endpoint"),
    ]
    assert sorted(listed(SourceType="DataSet", MaxResults=1)) == [
        ("features", "train"),
        ("raw", "prep"),
    ]
    assert listed(SourceType="DataSet", DestinationType="TrainingJob") == [("features", "train")]
    assert listed(DestinationType="Endpoint", AssociationType="ContributedTo") == []
    in_order = [(name[s["SourceArn"]], name[s["DestinationArn"]]) for s in every]
    assert listed(SortOrder="Ascending") == in_order[::-1]

    for sort_by in ("SourceArn", "DestinationArn", "SourceType", "DestinationType", "CreationTime"):
        for order in ("Ascending", "Descending"):
            found = _all_pages(
                sm.list_associations,
                "AssociationSummaries",
                SortBy=sort_by,
                SortOrder=order,
                MaxResults=3,
            )
            keys = [s[sort_by] for s in found]
            assert keys == sorted(keys, reverse=order == "Descending"), (sort_by, order)
            assert len(found) == len(GRAPH_EDGES)

    created = [s["CreationTime"] for s in every]
    pivot = sorted(created)[4]
    assert len(listed(CreatedAfter=pivot)) == sum(1 for c in created if c >= pivot)
    assert len(listed(CreatedBefore=pivot.isoformat())) == sum(1 for c in created if c <= pivot)


def test_association_without_a_type(sm: CheckedClient) -> None:
    a = sm.create_artifact(**ARTIFACT)["ArtifactArn"]
    b = sm.create_action(**ACTION)["ActionArn"]
    sm.add_association(SourceArn=a, DestinationArn=b)
    (summary,) = sm.list_associations()["AssociationSummaries"]
    assert "AssociationType" not in summary
    result = sm.query_lineage(StartArns=[a], IncludeEdges=True)
    assert result["Edges"] == [{"SourceArn": a, "DestinationArn": b}]


def test_paginators_are_botocores(sm: CheckedClient) -> None:
    arns = _create_artifacts(sm, 12)
    for name in (
        "list_artifacts",
        "list_actions",
        "list_contexts",
        "list_associations",
        "list_lineage_groups",
        "list_tags",
        "query_lineage",
    ):
        assert sm.can_paginate(name), name
    assert not sm.can_paginate("describe_artifact")
    assert not sm.can_paginate("list_training_jobs")
    with pytest.raises(OperationNotPageableError):
        sm.get_paginator("describe_artifact")

    paginator = sm.get_paginator("list_artifacts")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["ArtifactSummaries"]) for p in pages] == [5, 5, 2]
    for page in pages:
        check_response("ListArtifacts", page)
    full = paginator.paginate(SortOrder="Ascending").build_full_result()
    assert [s["ArtifactArn"] for s in full["ArtifactSummaries"]] == arns

    first = paginator.paginate(
        SortOrder="Ascending", PaginationConfig={"MaxItems": 7, "PageSize": 3}
    ).build_full_result()
    assert [s["ArtifactArn"] for s in first["ArtifactSummaries"]] == arns[:7]
    rest = paginator.paginate(
        SortOrder="Ascending", PaginationConfig={"StartingToken": first["NextToken"], "PageSize": 3}
    ).build_full_result()
    assert [s["ArtifactArn"] for s in rest["ArtifactSummaries"]] == arns[7:]


# -- query_lineage ----------------------------------------------------------------------


def test_query_lineage_directions(sm: CheckedClient, graph: dict[str, str]) -> None:
    def query(start: str, direction: str | None = None, **extra: Any) -> set[str]:
        request: dict[str, Any] = {"StartArns": [graph[start]], **extra}
        if direction is not None:
            request["Direction"] = direction
        response = sm.query_lineage(**request)
        assert response["Edges"] == []  # IncludeEdges defaults to False
        assert "NextToken" not in response  # no MaxResults: the whole result at once
        return names_of(response, graph)

    assert query("raw", "Descendants") == {
        "prep",
        "features",
        "train",
        "model",
        "deploy",
        "endpoint",
    }
    assert query("endpoint", "Ascendants") == {
        "deploy",
        "model",
        "approve",
        "train",
        "features",
        "image",
        "prep",
        "raw",
    }
    assert query("model", "Descendants") == {"deploy", "endpoint"}
    assert query("image", "Ascendants") == set()
    # Both is an undirected walk, not the union of the two directions: from the image it
    # reaches the approval through the deployment.
    union = query("image", "Ascendants") | query("image", "Descendants")
    both = query("image", "Both")
    assert "approve" not in union
    assert both == set(graph) - {"image"}
    assert query("image") == both  # Direction defaults to Both
    assert query("image", "Both", MaxDepth=1) == {"train"}
    assert query("image", "Both", MaxDepth=2) == {"train", "features", "model"}
    assert query("image", "Both", MaxDepth=0) == set()


def test_query_lineage_filters(sm: CheckedClient, graph: dict[str, str]) -> None:
    def up_from_endpoint(**filters: Any) -> set[str]:
        response = sm.query_lineage(
            StartArns=[graph["endpoint"]], Direction="Ascendants", Filters=filters
        )
        return names_of(response, graph)

    assert up_from_endpoint(LineageTypes=["Artifact"]) == {"model", "features", "image", "raw"}
    assert up_from_endpoint(Types=["DataSet"]) == {"features", "raw"}
    assert up_from_endpoint(Types=["DataSet", "Image"]) == {"features", "raw", "image"}
    assert up_from_endpoint(Types=["DataSet"], LineageTypes=["Action"]) == set()  # AND
    assert up_from_endpoint(LineageTypes=["Action", "Context"]) == {
        "deploy",
        "approve",
        "train",
        "prep",
    }
    assert up_from_endpoint(Properties={"accuracy": "0.93", "stage": "ft"}) == {"model", "features"}
    assert up_from_endpoint(Properties={"accuracy": "0.5"}) == set()
    # Filters select; they never prune: the data sets lie behind actions.
    behind = sm.query_lineage(
        StartArns=[graph["model"]], Direction="Ascendants", Filters={"LineageTypes": ["Artifact"]}
    )
    assert {(v["Arn"], v["Type"], v["LineageType"]) for v in behind["Vertices"]} == {
        (graph["features"], "DataSet", "Artifact"),
        (graph["image"], "Image", "Artifact"),
        (graph["raw"], "DataSet", "Artifact"),
    }
    assert behind["Vertices"][-1]["Arn"] == graph["raw"]  # nearest first

    time.sleep(0.01)
    pivot = datetime.now(UTC)
    time.sleep(0.01)
    sm.update_artifact(ArtifactArn=graph["features"], Properties={"rows": "10"})
    assert up_from_endpoint(ModifiedAfter=pivot) == {"features"}
    assert up_from_endpoint(ModifiedBefore=pivot.isoformat()) == set(graph) - {
        "features",
        "endpoint",
    }
    assert up_from_endpoint(CreatedAfter=pivot) == set()
    assert up_from_endpoint(CreatedBefore=pivot) == set(graph) - {"endpoint"}


def test_query_lineage_include_edges(sm: CheckedClient, graph: dict[str, str]) -> None:
    response = sm.query_lineage(
        StartArns=[graph["endpoint"]],
        Direction="Ascendants",
        IncludeEdges=True,
        Filters={"Types": ["DataSet"]},
    )
    # The start, the matches, and everything on a path between them; not the image or
    # the approval, which lead to no data set.
    assert names_of(response, graph) == {
        "endpoint",
        "deploy",
        "model",
        "train",
        "features",
        "prep",
        "raw",
    }
    assert edges_of(response, graph) == set(GRAPH_EDGES) - {
        ("image", "train", "ContributedTo"),
        ("approve", "deploy", "AssociatedWith"),
    }
    whole = sm.query_lineage(StartArns=[graph["raw"]], Direction="Both", IncludeEdges=True)
    assert names_of(whole, graph) == set(graph)
    assert edges_of(whole, graph) == set(GRAPH_EDGES)
    without = sm.query_lineage(StartArns=[graph["raw"]], Direction="Both")
    assert graph["raw"] not in {v["Arn"] for v in without["Vertices"]}


@pytest.mark.parametrize("include_edges", [False, True])
@pytest.mark.parametrize("direction", ["Both", "Ascendants", "Descendants"])
def test_query_lineage_pages(
    sm: CheckedClient, graph: dict[str, str], direction: str, include_edges: bool
) -> None:
    start = {"Both": "train", "Ascendants": "endpoint", "Descendants": "raw"}[direction]
    request = {"StartArns": [graph[start]], "Direction": direction, "IncludeEdges": include_edges}
    whole = sm.query_lineage(**request)
    vertices: list[dict[str, str]] = []
    edges: list[dict[str, str]] = []
    token = None
    pages = 0
    while True:
        page = sm.query_lineage(**request, MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["Vertices"]) <= 2
        vertices += page["Vertices"]
        edges += page["Edges"]
        pages += 1
        token = page.get("NextToken")
        if token is None:
            break
    assert pages == -(-len(whole["Vertices"]) // 2)
    assert vertices == whole["Vertices"]  # same order, no duplicates, nothing missing
    assert len({v["Arn"] for v in vertices}) == len(vertices)
    assert sorted(map(str, edges)) == sorted(map(str, whole["Edges"]))
    assert len(edges) == len({(e["SourceArn"], e["DestinationArn"]) for e in edges})

    first = sm.query_lineage(**request, MaxResults=2)
    other = {**request, "MaxDepth": 3}
    with pytest.raises(ClientError) as info:
        sm.query_lineage(**other, MaxResults=2, NextToken=first["NextToken"])
    assert code_of(info.value) == "ValidationException"
    edited = first["NextToken"][:-3] + ("AAA" if not first["NextToken"].endswith("AAA") else "BBB")
    with pytest.raises(ClientError) as info:
        sm.query_lineage(**request, MaxResults=2, NextToken=edited)
    assert code_of(info.value) == "ValidationException"


def test_query_lineage_beyond_sagemaker_limits(sm: CheckedClient) -> None:
    chain = [
        sm.create_artifact(Source={"SourceUri": f"s3://b/v{i}"}, ArtifactType="DataSet")[
            "ArtifactArn"
        ]
        for i in range(25)
    ]
    for older, newer in itertools.pairwise(chain):
        sm.add_association(SourceArn=older, DestinationArn=newer, AssociationType="DerivedFrom")
    deep = sm.query_lineage(StartArns=[chain[0]], Direction="Descendants", MaxDepth=100)
    assert [v["Arn"] for v in deep["Vertices"]] == chain[1:]  # SageMaker stops at depth 10
    page = sm.query_lineage(
        StartArns=[chain[0]], Direction="Descendants", MaxDepth=30, MaxResults=200
    )
    assert len(page["Vertices"]) == 24 and "NextToken" not in page
    two_starts = sm.query_lineage(
        StartArns=[chain[0], chain[20]], Direction="Descendants", MaxDepth=2
    )
    assert {v["Arn"] for v in two_starts["Vertices"]} == {chain[1], chain[2], chain[21], chain[22]}
    many = sm.query_lineage(
        StartArns=[chain[0]],
        Direction="Descendants",
        Filters={"Types": ["DataSet", "A", "B", "C", "D", "E"], "LineageTypes": ["Artifact"] * 5},
    )
    assert len(many["Vertices"]) == 10


def test_query_lineage_paginator(sm: CheckedClient, graph: dict[str, str]) -> None:
    request = {"StartArns": [graph["raw"]], "Direction": "Both", "IncludeEdges": True}
    whole = sm.query_lineage(**request)
    paginator = sm.get_paginator("query_lineage")
    pages = list(paginator.paginate(**request, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    for page in pages:
        check_response("QueryLineage", page)
    full = paginator.paginate(**request, PaginationConfig={"PageSize": 4}).build_full_result()
    assert full["Vertices"] == whole["Vertices"]
    assert sorted(map(str, full["Edges"])) == sorted(map(str, whole["Edges"]))


# -- lineage groups ---------------------------------------------------------------------


def test_lineage_groups(sm: CheckedClient, store: LineageStore) -> None:
    assert sm.list_lineage_groups()["LineageGroupSummaries"] == []
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_lineage_group(LineageGroupName="sagemaker-default-lineage-group")
    arn = sm.create_artifact(**ARTIFACT)["ArtifactArn"]
    group_arn = sm.describe_artifact(ArtifactArn=arn)["LineageGroupArn"]

    (summary,) = sm.list_lineage_groups()["LineageGroupSummaries"]
    assert summary["LineageGroupArn"] == group_arn
    assert summary["LineageGroupName"] == "sagemaker-default-lineage-group"
    described = sm.describe_lineage_group(LineageGroupName="sagemaker-default-lineage-group")
    assert described["LineageGroupArn"] == group_arn
    assert described["CreationTime"] == summary["CreationTime"]
    for request in (
        {"SortBy": "Name", "SortOrder": "Ascending"},
        {"SortBy": "CreationTime", "MaxResults": 1},
        {"CreatedBefore": summary["CreationTime"]},
    ):
        assert len(sm.list_lineage_groups(**request)["LineageGroupSummaries"]) == 1
    later = summary["CreationTime"] + timedelta(seconds=1)
    assert sm.list_lineage_groups(CreatedAfter=later)["LineageGroupSummaries"] == []


# -- every operation, once, through one client --------------------------------------------


def test_every_operation_is_served(sm: CheckedClient) -> None:
    for method in OPERATIONS:
        assert callable(getattr(sm.facade, method)), method
    build_graph(sm)
    sm.list_artifacts()
    sm.list_actions()
    sm.list_contexts()
    sm.list_associations()
    arn = sm.list_artifacts(SourceUri="s3://ml/raw/churn.csv")["ArtifactSummaries"][0][
        "ArtifactArn"
    ]
    sm.describe_artifact(ArtifactArn=arn)
    sm.update_artifact(ArtifactArn=arn, Properties={"a": "b"})
    sm.describe_action(ActionName="prep-run-1")
    sm.update_action(ActionName="prep-run-1", Status="Stopped")
    sm.describe_context(ContextName="churn-endpoint")
    sm.update_context(ContextName="churn-endpoint", Description="d")
    sm.query_lineage(StartArns=[arn])
    sm.list_lineage_groups()
    sm.describe_lineage_group(LineageGroupName="sagemaker-default-lineage-group")
    sm.list_tags(ResourceArn=arn)
    prep = sm.describe_action(ActionName="prep-run-1")["ActionArn"]
    sm.delete_association(SourceArn=arn, DestinationArn=prep)
    sm.delete_artifact(ArtifactArn=arn)
    ep = sm.describe_context(ContextName="churn-endpoint")["ContextArn"]
    deploy = sm.describe_action(ActionName="deploy-run-1")["ActionArn"]
    sm.delete_association(SourceArn=deploy, DestinationArn=ep)
    sm.delete_context(ContextName="churn-endpoint")
    approve = sm.describe_action(ActionName="approve-run-1")["ActionArn"]
    sm.delete_association(SourceArn=approve, DestinationArn=deploy)
    sm.delete_action(ActionName="approve-run-1")
    assert set(sm.calls) == set(OPERATIONS)


def test_client_meta_and_exceptions(store: LineageStore) -> None:
    sm = store.as_boto3_client()
    assert sm.meta.region_name == "local"
    assert sm.meta.service_model.service_name == "sagemaker"
    assert issubclass(sm.exceptions.ResourceNotFound, ClientError)
    assert sm.exceptions.from_code("ResourceNotFound") is sm.exceptions.ResourceNotFound
    sm.close()  # like a boto3 client's; the store stays open
    assert store.lineage_groups() == []


def test_other_accounts_entities_are_described_and_associated_by_arn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    with airflow_lineage.connect(url, account="111111111111", create=True) as team_b:
        shared = team_b.as_boto3_client().create_artifact(**ARTIFACT)["ArtifactArn"]
        team_b.share("000000000000")  # shared lineage only: see tests/store/test_sharing.py
    assert ":111111111111:artifact/" in shared
    with airflow_lineage.connect(url) as team_a:
        team_a.accept("111111111111")
        ours = CheckedClient(team_a.as_boto3_client())
        assert ours.describe_artifact(ArtifactArn=shared)["ArtifactArn"] == shared
        step = ours.create_action(**ACTION)["ActionArn"]
        ours.add_association(SourceArn=shared, DestinationArn=step, AssociationType="SameAs")
        found = ours.query_lineage(StartArns=[step], Direction="Ascendants")
        assert [v["Arn"] for v in found["Vertices"]] == [shared]
        groups = ours.list_lineage_groups()["LineageGroupSummaries"]  # own and shared
        assert sorted(g["LineageGroupArn"].split(":")[4] for g in groups) == [
            "000000000000",
            "111111111111",
        ]


# -- code written for boto3, unchanged ----------------------------------------------------


def record_training(sagemaker_client: Any, data_uri: str, model_uri: str, job: str) -> str:
    """Record a training step the way SageMaker SDK code does; return the model's ARN."""

    def artifact(uri: str, kind: str) -> str:
        found = sagemaker_client.list_artifacts(SourceUri=uri)["ArtifactSummaries"]
        for summary in found:
            if summary["ArtifactType"] == kind:
                return str(summary["ArtifactArn"])
        created = sagemaker_client.create_artifact(Source={"SourceUri": uri}, ArtifactType=kind)
        return str(created["ArtifactArn"])

    data = artifact(data_uri, "DataSet")
    model = artifact(model_uri, "Model")
    try:
        action = sagemaker_client.create_action(
            ActionName=job,
            Source={"SourceUri": f"arn:aws:sagemaker:us-east-1:111122223333:training-job/{job}"},
            ActionType="TrainingJob",
            Status="Completed",
        )["ActionArn"]
    except ClientError as e:  # SageMaker's duplicate answer, as the SDK handles it
        if "already exists" not in e.response["Error"]["Message"]:
            raise
        action = sagemaker_client.describe_action(ActionName=job)["ActionArn"]
    for src, dst, kind in ((data, action, "ContributedTo"), (action, model, "Produced")):
        sagemaker_client.add_association(SourceArn=src, DestinationArn=dst, AssociationType=kind)
    return model


def training_data_of(sagemaker_client: Any, model_uri: str) -> list[str]:
    """Return the URIs of the data sets a model came from (SageMaker SDK-style code)."""
    summaries = sagemaker_client.list_artifacts(SourceUri=model_uri)["ArtifactSummaries"]
    model_arn = next(s["ArtifactArn"] for s in summaries if s["ArtifactType"] == "Model")
    try:
        response = sagemaker_client.query_lineage(
            StartArns=[model_arn],
            Direction="Ascendants",
            IncludeEdges=False,
            Filters={"Types": ["DataSet"], "LineageTypes": ["Artifact"]},
            MaxDepth=10,
        )
    except sagemaker_client.exceptions.ResourceNotFound:
        return []
    uris = []
    for vertex in response["Vertices"]:
        described = sagemaker_client.describe_artifact(ArtifactArn=vertex["Arn"])
        uris.append(described["Source"]["SourceUri"])
    return sorted(uris)


class Recorder:
    """Pass calls to a client and remember (method, request, response) for replay."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.exceptions = client.exceptions
        self.log: list[tuple[str, dict[str, Any], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**kwargs: Any) -> Any:
            response = method(**kwargs)
            self.log.append((name, copy.deepcopy(kwargs), copy.deepcopy(response)))
            return response

        return call


def test_boto3_code_runs_unchanged_against_the_facade(store: LineageStore) -> None:
    sm = store.as_boto3_client()
    model = record_training(sm, "s3://ml/train.csv", "s3://ml/out/model.tar.gz", "train-1")
    again = record_training(sm, "s3://ml/train.csv", "s3://ml/out/model.tar.gz", "train-1")
    assert again == model
    record_training(sm, "s3://ml/extra.csv", "s3://ml/out/model.tar.gz", "train-2")
    record_training(sm, "s3://ml/other.csv", "s3://ml/out/other.tar.gz", "train-3")

    recorder = Recorder(sm)
    uris = training_data_of(recorder, "s3://ml/out/model.tar.gz")
    assert uris == ["s3://ml/extra.csv", "s3://ml/train.csv"]

    # The same function against a real boto3 client, fed the facade's responses through
    # botocore's Stubber (which checks each response against the service model and each
    # request against what the facade was sent): same calls, same answer.
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        for method, request, response in recorder.log:
            stubber.add_response(method, response, request)
        assert training_data_of(client, "s3://ml/out/model.tar.gz") == uris
        stubber.assert_no_pending_responses()
