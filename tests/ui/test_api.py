"""The lineage page's API inside Airflow's API app: Airflow's auth decides every answer.

Two DAGs share a data set: ``producer`` writes ``s3://shared/data.csv``, ``consumer``
trains a model on it. The records are built by capture's own record builder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.model import ActionStatus

DATA = "s3://shared/data.csv"
MODEL = "s3://models/model.pkl"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

Client = tuple[Any, Path]


@pytest.fixture(scope="module")
def lineage(api_client: Client) -> dict[str, str]:
    """Record the two DAGs' runs in the store the page reads; return key ARNs."""
    _, home = api_client
    make = TaskRun("producer", "make", "r1")
    train = TaskRun("consumer", "train", "r1")
    records = [
        build_record(
            make,
            StepLineage(step_type="DataPreparation", outputs=(DataRef(DATA),)),
            ActionStatus.COMPLETED,
            now=NOW,
        ),
        build_record(
            train,
            StepLineage(
                step_type="Training",
                inputs=(DataRef(DATA),),
                outputs=(DataRef(MODEL, "Model"),),
                parameters={"max_depth": "3"},
            ),
            ActionStatus.COMPLETED,
            now=NOW,
        ),
    ]
    with connect(f"sqlite:///{home / 'lineage.db'}") as store:
        for rec in records:
            store.write(rec.entities, rec.associations)
        arn = {e.source_uri: e.arn for rec in records for e in rec.entities}
    return {
        "make": records[0].action_arn,
        "train": records[1].action_arn,
        "data": arn[DATA],
        "model": arn[MODEL],
        "producer_run": arn["airflow://dags/producer/runs/r1"],
        "consumer_run": arn["airflow://dags/consumer/runs/r1"],
    }


def _get(client: Any, url: str, user: str | None, token: Callable[[str], str], **kw: Any) -> Any:
    headers = {} if user is None else {"Authorization": f"Bearer {token(user)}"}
    return client.get(url, headers=headers, **kw)


RUN = "/lineage/api/dag-runs/consumer/r1/graph"


def test_no_token_no_data(api_client: Client, lineage: dict[str, str]) -> None:
    client, _ = api_client
    for url in (
        RUN,
        f"/lineage/api/graph?arn={lineage['model']}",
        f"/lineage/api/graph?uri={DATA}",
        f"/lineage/api/entity?arn={lineage['model']}",
    ):
        r = client.get(url)
        assert r.status_code == 401, (url, r.text)
        assert "arn:" not in r.text
        r = client.get(url, headers={"Authorization": "Bearer not-a-jwt"})
        assert r.status_code in (401, 403), (url, r.text)
        assert "arn:" not in r.text
        r = client.get(url, cookies={"_token": "forged"})
        assert r.status_code in (401, 403), (url, r.text)


def test_the_page_is_served_without_data(api_client: Client, lineage: dict[str, str]) -> None:
    client, _ = api_client
    r = client.get("/lineage/ui")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '"mode":"api"' in r.text and "arn:aws" not in r.text


def test_admin_sees_the_run_with_its_upstream(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _get(client, RUN, "admin", token)
    assert r.status_code == 200, r.text
    body = r.json()
    arns = {n["arn"] for n in body["nodes"]}
    assert {lineage[k] for k in ("train", "data", "model", "consumer_run", "make")} <= arns
    assert body["starts"] == [lineage["consumer_run"]]
    assert body["hidden"] == 0 and body["truncated"] is False
    assert body["dagId"] == "consumer" and body["runId"] == "r1"
    types = {(e["source"], e["destination"]): e["type"] for e in body["edges"]}
    assert types[(lineage["data"], lineage["train"])] == "ContributedTo"
    assert types[(lineage["train"], lineage["model"])] == "Produced"
    # Left to right: data before the training step before the model.
    x = {n["arn"]: n["x"] for n in body["nodes"]}
    assert x[lineage["make"]] < x[lineage["data"]] < x[lineage["train"]] < x[lineage["model"]]


def test_a_user_without_access_to_the_dag_is_refused(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _get(client, "/lineage/api/dag-runs/producer/r1/graph", "outsider", token)
    assert r.status_code == 403
    assert "arn:" not in r.text
    # Any entity of that DAG, as a start or for its properties.
    for url in (
        f"/lineage/api/graph?arn={lineage['make']}",
        f"/lineage/api/graph?arn={lineage['producer_run']}",
        f"/lineage/api/entity?arn={lineage['make']}",
    ):
        r = _get(client, url, "outsider", token)
        assert r.status_code == 403, (url, r.text)
        assert "arn:" not in r.text
    # The same requests by a viewer of every DAG succeed.
    assert (
        _get(client, "/lineage/api/dag-runs/producer/r1/graph", "viewer", token).status_code == 200
    )
    assert (
        _get(client, f"/lineage/api/entity?arn={lineage['make']}", "viewer", token).status_code
        == 200
    )


def test_vertices_of_unreadable_dags_are_withheld(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _get(client, RUN, "outsider", token)
    assert r.status_code == 200, r.text
    body = r.json()
    arns = {n["arn"] for n in body["nodes"]}
    assert lineage["make"] not in arns and lineage["producer_run"] not in arns
    assert {lineage["train"], lineage["data"], lineage["model"]} <= arns
    assert body["hidden"] == 1  # the producer's step
    assert all(n["dagId"] in (None, "consumer") for n in body["nodes"])
    assert all(lineage["make"] not in (e["source"], e["destination"]) for e in body["edges"])
    # The shared data set is visible through the readable DAG.
    r = _get(client, f"/lineage/api/entity?arn={lineage['data']}", "outsider", token)
    assert r.status_code == 200 and r.json()["record"]["source_uri"] == DATA


def test_a_user_who_reads_no_dag_sees_nothing(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    for url in (
        RUN,
        f"/lineage/api/graph?arn={lineage['model']}",
        f"/lineage/api/graph?uri={DATA}&direction=downstream",
        f"/lineage/api/entity?arn={lineage['data']}",
    ):
        r = _get(client, url, "stranger", token)
        assert r.status_code == 403, (url, r.text)
        assert "arn:" not in r.text


def test_entity_graph_directions_depth_and_lookup(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    up = _get(
        client, f"/lineage/api/graph?arn={lineage['model']}&direction=upstream", "viewer", token
    )
    assert up.status_code == 200, up.text
    up_arns = {n["arn"] for n in up.json()["nodes"]}
    assert {lineage["train"], lineage["data"], lineage["make"]} <= up_arns
    assert lineage["consumer_run"] not in up_arns  # the run context is downstream of steps
    assert up.json()["starts"] == [lineage["model"]]

    sm = _get(
        client, f"/lineage/api/graph?arn={lineage['model']}&direction=Ascendants", "viewer", token
    )
    assert {n["arn"] for n in sm.json()["nodes"]} == up_arns

    down = _get(
        client, f"/lineage/api/graph?uri={DATA}&direction=downstream&depth=2", "viewer", token
    )
    assert {n["arn"] for n in down.json()["nodes"]} == {
        lineage["data"],
        lineage["train"],
        lineage["model"],
        lineage["consumer_run"],
    }
    one = _get(client, f"/lineage/api/graph?uri={DATA}&direction=both&depth=1", "viewer", token)
    assert {n["arn"] for n in one.json()["nodes"]} == {
        lineage["data"],
        lineage["train"],
        lineage["make"],
    }
    cut = _get(client, f"/lineage/api/graph?uri={DATA}&limit=2", "viewer", token).json()
    assert len(cut["nodes"]) == 2 and cut["truncated"] is True

    entity = _get(client, f"/lineage/api/entity?arn={lineage['train']}", "viewer", token).json()
    assert entity["record"]["properties"]["param:max_depth"] == "3"
    assert entity["incoming"] == 1 and entity["outgoing"] == 2


def test_bad_requests(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    cases = {
        f"/lineage/api/graph?arn={lineage['model']}&direction=sideways": 422,
        f"/lineage/api/graph?arn={lineage['model']}&depth=1000": 422,
        "/lineage/api/graph": 400,
        f"/lineage/api/graph?arn={lineage['model']}&uri={DATA}": 400,
        "/lineage/api/graph?arn=not-an-arn": 400,
        "/lineage/api/graph?uri=s3://nowhere": 404,
        "/lineage/api/graph?arn=arn:aws:sagemaker:local:000000000000:action/nope": 404,
        "/lineage/api/dag-runs/consumer/no-such-run/graph": 404,
    }
    for url, code in cases.items():
        r = _get(client, url, "admin", token)
        assert r.status_code == code, (url, r.status_code, r.text)


def test_airflow_lists_the_page_and_its_links(
    api_client: Client, token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _get(client, "/api/v2/plugins", "admin", token)
    assert r.status_code == 200, r.text
    (plugin,) = [p for p in r.json()["plugins"] if p["name"] == "airflow_lineage"]
    assert plugin["fastapi_apps"] == [
        {"app": "airflow_lineage.ui.LazyApp", "url_prefix": "/lineage", "name": "ML lineage"}
    ]
    views = {v["destination"]: v for v in plugin["external_views"]}
    assert views["dag_run"]["href"] == "lineage/ui?dag_id={DAG_ID}&run_id={RUN_ID}"
    assert views["nav"]["href"] == "lineage/ui"
