"""The page's diff and impact views through Airflow's API app, with real JWTs: they name
only what the user may see (tests/ui/auth.py: ``outsider`` may not read ``producer``).

``consumer`` trains model A (run r1) and model B (run r2, after a check step, with a new
parameter, code version, metric and inputs); r2's model is approved and deployed to an
endpoint. ``producer`` makes the shared data, trains a secret model on it and later
deploys that to the same endpoint; a producer step forges the consumer's run in its
properties and feeds model A.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.capture.lineage import ContextRef, DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.model import ActionStatus

from .conftest import register_dags
from .test_api import NOW, _get

Client = tuple[Any, str]
DATA = "s3://shared/data.csv"
EXTRA = "s3://shared/extra.csv"
NEW = "s3://shared/new.csv"
LEAK = "s3://producer/leak.csv"
MODEL_A = "s3://models/a.pkl"
MODEL_B = "s3://models/<img src=x onerror=alert(1)>/{{JS}}.pkl"
SECRET_MODEL = "s3://producer/secret-model.pkl"
ENDPOINT = "sagemaker://endpoints/consumer-ep"
D1 = (("Custom", "sha256:" + "1" * 64),)
D2 = (("Custom", "sha256:" + "2" * 64),)


def _step(where: str, minutes: int, **lineage: Any) -> Any:
    """Record a Completed step ``dag/task/run``, ``minutes`` after NOW."""
    dag, task, run = where.split("/")
    return build_record(
        TaskRun(dag, task, run),
        StepLineage(**lineage),
        ActionStatus.COMPLETED,
        now=NOW + timedelta(minutes=minutes),
    )


@pytest.fixture(scope="module")
def seeded(api_client: Client) -> dict[str, str]:
    """Record the runs; return key ARNs."""
    _, url = api_client
    register_dags("producer", "consumer")
    endpoint = ContextRef("consumer-ep", "Endpoint", ENDPOINT)
    records = {
        "make": _step(
            "producer/make/r1",
            0,
            step_type="DataPreparation",
            outputs=(DataRef(DATA, digests=D1),),
        ),
        "leak": _step(
            "producer/leak/r1",
            0,
            step_type="DataPreparation",
            outputs=(DataRef(LEAK),),
            parameters={"secret": "42"},
            properties={
                "airflow:dag_id": "consumer",
                "airflow:run_id": "r1",
                "airflow:task_id": "leak",
            },
        ),
        "train_a": _step(
            "consumer/train/r1",
            1,
            step_type="Training",
            inputs=(DataRef(DATA, digests=D1), DataRef(EXTRA), DataRef(LEAK)),
            outputs=(DataRef(MODEL_A, "Model"),),
            parameters={"max_depth": "3"},
            metrics={"accuracy": "0.9"},
            properties={"code_version": "abc"},
        ),
        "check": _step(
            "consumer/check/r2",
            2,
            step_type="Validation",
            inputs=(DataRef(NEW),),
            outputs=(DataRef("s3://consumer/r2/ok.csv"),),
        ),
        "train_b": _step(
            "consumer/train/r2",
            3,
            step_type="Training",
            inputs=(DataRef(DATA, digests=D2), DataRef(NEW), DataRef("s3://consumer/r2/ok.csv")),
            outputs=(DataRef(MODEL_B, "Model"),),
            parameters={"max_depth": "5"},
            metrics={"accuracy": "0.8"},
            properties={"code_version": "def"},
        ),
        "approve": _step(
            "consumer/approve/r2",
            4,
            step_type="Approval",
            inputs=(DataRef(MODEL_B, "Model"),),
        ),
        "deploy": _step(
            "consumer/deploy/r2",
            5,
            step_type="Deployment",
            inputs=(DataRef(MODEL_B, "Model"),),
            contexts=(endpoint,),
        ),
        "train_secret": _step(
            "producer/train/r1",
            6,
            step_type="Training",
            inputs=(DataRef(DATA, digests=D1),),
            outputs=(DataRef(SECRET_MODEL, "Model"),),
        ),
        "deploy_secret": _step(
            "producer/deploy/r1",
            7,
            step_type="Deployment",
            inputs=(DataRef(SECRET_MODEL, "Model"),),
            contexts=(endpoint,),
        ),
    }
    with connect(url) as store:
        for rec in records.values():
            store.write(rec.entities, rec.associations)
    arn = {e.source_uri: e.arn for rec in records.values() for e in rec.entities}
    out = {k: rec.action_arn for k, rec in records.items()}
    out.update(
        data_1=records["make"].outputs[0],
        data_2=records["train_b"].inputs[0],
        model_a=arn[MODEL_A],
        model_b=arn[MODEL_B],
        secret_model=arn[SECRET_MODEL],
        endpoint=arn[ENDPOINT],
    )
    return out


def _diff(client: Any, token: Callable[[str], str], user: str, a: str, b: str) -> Any:
    return _get(client, "/lineage/api/diff", user, token, params={"a": a, "b": b})


def _impact(client: Any, token: Callable[[str], str], user: str, dataset: str) -> Any:
    return _get(client, "/lineage/api/impact", user, token, params={"dataset": dataset})


def test_diff_of_two_models(
    api_client: Client, seeded: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _diff(client, token, "viewer", MODEL_A, seeded["model_b"])  # by URI and by ARN
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["same"] is False and body["truncated"] is False
    assert (body["a"]["uri"], body["a"]["run_id"]) == (MODEL_A, "r1")
    assert (body["b"]["uri"], body["b"]["run_id"]) == (MODEL_B, "r2")
    assert [i["uri"] for i in body["inputs"]["added"]] == [NEW]
    assert [i["uri"] for i in body["inputs"]["removed"]] == [EXTRA]
    (changed,) = body["inputs"]["changed"]
    assert changed["uri"] == DATA and changed["a"] != changed["b"]
    assert body["parameters"] == {
        "train.max_depth": {"a": "3", "b": "5"},
        "leak.secret": {"a": "42", "b": None},  # the forged step claims run r1
    }
    assert body["code"] == {"train": {"a": "abc", "b": "def"}}
    assert body["metrics"] == {"train.accuracy": {"a": "0.9", "b": "0.8"}}
    assert body["steps"] == {
        "check": {"a": None, "b": "Validation Completed"},
        "leak": {"a": "DataPreparation Completed", "b": None},
    }
    same = _diff(client, token, "viewer", MODEL_A, MODEL_A).json()
    assert same["same"] is True
    # By the endpoint's URI: the recipe of its newest deployment (the producer's run).
    ep = _diff(client, token, "viewer", ENDPOINT, SECRET_MODEL).json()
    assert ep["a"]["uri"] == ENDPOINT and ep["a"]["dag_id"] == "producer"


def test_diff_shows_only_what_the_user_may_see(
    api_client: Client, seeded: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _diff(client, token, "outsider", MODEL_A, MODEL_B)
    assert r.status_code == 200, r.text
    body = r.json()
    # The producer's forged step is not the outsider's: no step, parameter or ARN of it.
    assert body["steps"] == {"check": {"a": None, "b": "Validation Completed"}}
    assert body["parameters"] == {"train.max_depth": {"a": "3", "b": "5"}}
    assert "producer" not in r.text and seeded["leak"] not in r.text and "secret" not in r.text
    # A model of a DAG they may not read is answered as one that does not exist.
    hidden = _diff(client, token, "outsider", MODEL_A, SECRET_MODEL)
    missing = _diff(client, token, "outsider", MODEL_A, "s3://models/nowhere.pkl")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(SECRET_MODEL, "X") == missing.json()["detail"].replace(
        "s3://models/nowhere.pkl", "X"
    )
    by_arn = _diff(client, token, "outsider", MODEL_A, seeded["secret_model"])
    assert by_arn.status_code == 404 and "producer" not in by_arn.text
    # The endpoint is visible (the consumer deploys to it), but its newest deployment is
    # the producer's: no recipe the outsider may read, as for a model nothing produced.
    ep = _diff(client, token, "outsider", ENDPOINT, MODEL_A)
    assert ep.status_code == 404 and "you may read deployed to" in ep.json()["detail"]
    assert "producer" not in ep.text and seeded["deploy_secret"] not in ep.text
    assert _diff(client, token, "stranger", MODEL_A, MODEL_B).status_code == 403


def test_impact_of_a_data_set(
    api_client: Client, seeded: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _impact(client, token, "viewer", seeded["data_1"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert {(m["uri"], m["dag_id"], m["run_id"], m["task"]) for m in body["models"]} == {
        (MODEL_A, "consumer", "r1", "train"),
        (SECRET_MODEL, "producer", "r1", "train"),
    }
    (ep,) = body["endpoints"]
    assert ep["uri"] == ENDPOINT and ep["deployment"] == seeded["deploy_secret"]
    assert ep["serving_affected"] is True and ep["models"] == [seeded["secret_model"]]
    assert body["deployed"] is True and body["approvals"] == []
    # The newer version of the data set reached model B, its approval and the endpoint,
    # which serves the producer's model now, not B.
    body = _impact(client, token, "viewer", seeded["data_2"]).json()
    assert [m["uri"] for m in body["models"]] == [MODEL_B]
    (approval,) = body["approvals"]
    assert approval["models"] == [seeded["model_b"]] and approval["run_id"] == "r2"
    (ep,) = body["endpoints"]
    assert ep["serving_affected"] is False and body["deployed"] is False
    # By URI: every version of the data set.
    both = _impact(client, token, "viewer", DATA).json()
    assert len(both["datasets"]) == 2 and len(both["models"]) == 3


def test_impact_shows_only_what_the_user_may_see(
    api_client: Client, seeded: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _impact(client, token, "outsider", DATA)
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(m["uri"] for m in body["models"]) == sorted([MODEL_A, MODEL_B])
    (ep,) = body["endpoints"]  # reached through the consumer's deployment
    # Its current deployment is the producer's: not named, not reached through lineage
    # the outsider may see.
    assert ep["deployment"] is None and ep["dag_id"] is None and ep["models"] == []
    assert ep["serving_affected"] is False and body["deployed"] is False
    assert "producer" not in r.text and seeded["secret_model"] not in r.text
    assert seeded["deploy_secret"] not in r.text
    # An artifact of the producer's alone: hidden and missing are one answer.
    hidden = _impact(client, token, "outsider", SECRET_MODEL)
    missing = _impact(client, token, "outsider", "s3://producer/nowhere.csv")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(SECRET_MODEL, "X") == missing.json()["detail"].replace(
        "s3://producer/nowhere.csv", "X"
    )
    assert _impact(client, token, "outsider", seeded["make"]).status_code == 404
    assert _impact(client, token, "stranger", DATA).status_code == 403


def test_views_reject_bad_input(
    api_client: Client, seeded: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    cases = [
        ("/lineage/api/diff", {"a": MODEL_A}, 422),
        ("/lineage/api/diff", {"a": MODEL_A, "b": " "}, 400),
        ("/lineage/api/diff", {"a": MODEL_A, "b": "arn:not-an-arn"}, 400),
        ("/lineage/api/diff", {"a": MODEL_A, "b": DATA}, 400),  # a data set, not a model
        ("/lineage/api/diff", {"a": MODEL_A, "b": seeded["train_a"]}, 400),
        ("/lineage/api/impact", {}, 422),
        ("/lineage/api/impact", {"dataset": ""}, 400),
        ("/lineage/api/impact", {"dataset": seeded["train_a"]}, 400),  # a step
        ("/lineage/api/impact", {"dataset": "arn:aws:sagemaker:x"}, 400),
    ]
    for path, params, code in cases:
        r = _get(client, path, "admin", token, params=params)
        assert r.status_code == code, (path, params, r.text)
        assert r.json()["detail"], (path, params)
    assert "neither a model" in _diff(client, token, "admin", MODEL_A, DATA).json()["detail"]


def test_views_need_a_session(api_client: Client, seeded: dict[str, str]) -> None:
    client, _ = api_client
    for path, params in (
        ("/lineage/api/diff", {"a": MODEL_A, "b": MODEL_B}),
        ("/lineage/api/impact", {"dataset": DATA}),
    ):
        r = client.get(path, params=params)
        assert r.status_code == 401 and "arn:" not in r.text, (path, r.text)
        r = client.get(path, params=params, headers={"Authorization": "Bearer not-a-jwt"})
        assert r.status_code in (401, 403) and "arn:" not in r.text, (path, r.text)
