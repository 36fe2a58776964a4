"""The lineage page's API inside Airflow's API app: Airflow's auth decides every answer.

Real JWTs from ``POST /auth/token`` against Airflow's whole API app, with the test auth
manager (tests/ui/auth.py): ``admin`` and ``viewer`` read every DAG, ``outsider`` every
DAG but ``producer``, ``stranger`` none. On SQLite and PostgreSQL.

``producer`` writes ``s3://shared/data.csv``, ``consumer`` trains a model on it (run
``r1``) and trains another in run ``r2``. Forgeries claim the consumer through fields any
writer can set, or link a consumer step to the producer's task run; a DAG ``chain`` is a
long run for the work caps. The records are built by
capture's own record builder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    Context,
    Entity,
)

from .conftest import register_dags

DATA = "s3://shared/data.csv"
MODEL = "s3://models/model.pkl"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

Client = tuple[Any, str]


SECRET = "s3://producer/secret.csv"
HIJACKED = "s3://producer/hijack.csv"
SNEAK = "s3://consumer/sneak.csv"
CHAIN = 30  # steps of the DAG "chain": s3://chain/0.csv -> step 0 -> s3://chain/1.csv -> ...


def _forgeries(url: str, make_task_run: str) -> dict[str, str]:
    """Write lineage that claims DAGs through fields any writer can set; return its ARNs.

    - ``leak``: a producer step whose record says ``airflow:dag_id: consumer``.
    - ``hijack``: a producer step also linked to the consumer's real run context.
    - ``sneak``: a step linked only to a DAG-run context with the consumer's URI and
      properties but not the name capture gives it, and saying ``airflow:dag_id: consumer``.
    - ``claim``: a consumer step (run ``r3``) also linked to the task-run context of the
      producer's ``make`` (``make_task_run``).
    - ``fake_task``: a task-run context with the URI and properties of the consumer's
      ``train`` in ``r1`` but not the name capture gives it, linked to the ``leak`` and
      ``claim`` steps.
    """
    leak = build_record(
        TaskRun("producer", "leak", "r1"),
        StepLineage(
            step_type="DataPreparation",
            outputs=(DataRef(SECRET),),
            properties={"airflow:dag_id": "consumer"},
        ),
        ActionStatus.COMPLETED,
        now=NOW,
    )
    hijack = build_record(
        TaskRun("producer", "hijack", "r1"),
        StepLineage(step_type="DataPreparation", outputs=(DataRef(HIJACKED),)),
        ActionStatus.COMPLETED,
        now=NOW,
    )
    consumer_run = Context.new(
        TaskRun("consumer", "", "r1").run_context_name,
        "PipelineExecution",
        "airflow://dags/consumer/runs/r1",
    )
    fake_run = Context.new(
        "consumer-r1-000000000000",
        "PipelineExecution",
        "airflow://dags/consumer/runs/r1",
        properties={"airflow:dag_id": "consumer", "airflow:run_id": "r1"},
    )
    sneak = Action.new(
        "consumer-sneak-000000000000",
        "DataPreparation",
        "airflow://dags/consumer/runs/r1/tasks/sneak",
        status="Completed",
        properties={"airflow:dag_id": "consumer", "airflow:run_id": "r1"},
    )
    sneak_out = Artifact.new(SNEAK, "DataSet")
    claim = build_record(
        TaskRun("consumer", "claim", "r3"),
        StepLineage(step_type="DataPreparation"),
        ActionStatus.COMPLETED,
        now=NOW,
    )
    fake_task = Context.new(
        "consumer-train-000000000000",
        "TaskRun",
        TaskRun("consumer", "train", "r1").uri,
        properties={"airflow:dag_id": "consumer", "airflow:run_id": "r1"},
    )
    with connect(url) as store:
        for rec in (leak, hijack, claim):
            store.write(rec.entities, rec.associations)
        store.write(
            [fake_run, sneak, sneak_out, fake_task],
            [
                Association(hijack.action_arn, consumer_run.arn, AssociationType.ASSOCIATED_WITH),
                Association(sneak.arn, fake_run.arn, AssociationType.ASSOCIATED_WITH),
                Association(sneak.arn, sneak_out.arn, AssociationType.PRODUCED),
                Association(claim.action_arn, make_task_run, AssociationType.ASSOCIATED_WITH),
                Association(leak.action_arn, fake_task.arn, AssociationType.ASSOCIATED_WITH),
                Association(claim.action_arn, fake_task.arn, AssociationType.ASSOCIATED_WITH),
            ],
        )
    return {
        "leak": leak.action_arn,
        "secret": leak.outputs[0],
        "hijack": hijack.action_arn,
        "hijacked": hijack.outputs[0],
        "hijack_task_run": _task_run_context(hijack.entities),
        "claim": claim.action_arn,
        "claim_task_run": _task_run_context(claim.entities),
        "fake_task": fake_task.arn,
        "fake_run": fake_run.arn,
        "sneak": sneak.arn,
        "sneak_out": sneak_out.arn,
    }


def _task_run_context(entities: Sequence[Entity]) -> str:
    """Return the ARN of the task-run context among a record's entities."""
    (arn,) = [e.arn for e in entities if isinstance(e, Context) and e.type == "TaskRun"]
    return arn


def _chain(url: str) -> str:
    """Record a DAG run of CHAIN steps in a row; return the ARN of its first input."""
    records = [
        build_record(
            TaskRun("chain", f"s{i}", "r1"),
            StepLineage(
                step_type="DataPreparation",
                inputs=(DataRef(f"s3://chain/{i}.csv"),),
                outputs=(DataRef(f"s3://chain/{i + 1}.csv"),),
            ),
            ActionStatus.COMPLETED,
            now=NOW,
        )
        for i in range(CHAIN)
    ]
    with connect(url) as store:
        for rec in records:
            store.write(rec.entities, rec.associations)
    return records[0].inputs[0]


@pytest.fixture(scope="module")
def lineage(api_client: Client) -> dict[str, str]:
    """Record the DAGs' runs in the store the page reads; return key ARNs."""
    _, url = api_client
    register_dags("producer", "consumer", "chain")
    make = TaskRun("producer", "make", "r1")
    train = TaskRun("consumer", "train", "r1")
    train2 = TaskRun("consumer", "train", "r2")
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
        build_record(
            train2,
            StepLineage(
                step_type="Training",
                inputs=(DataRef("s3://shared/other.csv"),),
                outputs=(DataRef("s3://models/model-2.pkl", "Model"),),
            ),
            ActionStatus.COMPLETED,
            now=NOW,
        ),
    ]
    with connect(url) as store:
        for rec in records:
            store.write(rec.entities, rec.associations)
        arn = {e.source_uri: e.arn for rec in records for e in rec.entities}
    return {
        "make": records[0].action_arn,
        "train": records[1].action_arn,
        "train2": records[2].action_arn,
        "train_task_run": _task_run_context(records[1].entities),
        "make_task_run": _task_run_context(records[0].entities),
        "data": arn[DATA],
        "model": arn[MODEL],
        "producer_run": arn["airflow://dags/producer/runs/r1"],
        "consumer_run": arn["airflow://dags/consumer/runs/r1"],
        "consumer_run2": arn["airflow://dags/consumer/runs/r2"],
        "consumer_dag": arn["airflow://dags/consumer"],
        "producer_dag": arn["airflow://dags/producer"],
        **_forgeries(url, _task_run_context(records[0].entities)),
        "chain": _chain(url),
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
    assert '"mode": "api"' in r.text and "arn:aws" not in r.text


def _arns(body: dict[str, Any]) -> set[str]:
    return {n["arn"] for n in body["nodes"]}


def test_a_run_page_shows_that_run_by_default(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _get(client, RUN, "admin", token)
    assert r.status_code == 200, r.text
    body = r.json()
    # The run's context, its DAG's, its steps, what they read and wrote and the task-run
    # context of each task; the hijacking step is linked to this run's context, so an
    # admin sees it as one of its steps, but its task-run context is the producer run's.
    assert _arns(body) == {
        lineage[k]
        for k in (
            *("consumer_run", "consumer_dag", "train", "data", "model", "train_task_run"),
            *("hijack", "hijacked"),
        )
    }
    assert body["scope"] == "run" and body["starts"] == [lineage["consumer_run"]]
    assert body["truncated"] is False and body["truncation"] is None
    assert body["dagId"] == "consumer" and body["runId"] == "r1"
    types = {(e["source"], e["destination"]): e["type"] for e in body["edges"]}
    assert types[(lineage["data"], lineage["train"])] == "ContributedTo"
    assert types[(lineage["train"], lineage["model"])] == "Produced"
    assert types[(lineage["train"], lineage["consumer_run"])] == "AssociatedWith"
    assert types[(lineage["train"], lineage["train_task_run"])] == "AssociatedWith"
    # Left to right: data before the training step before the model.
    x = {n["arn"]: n["x"] for n in body["nodes"]}
    assert x[lineage["data"]] < x[lineage["train"]] < x[lineage["model"]]
    # Other runs: the producer's (upstream through the data), the consumer's second run,
    # the forged run context with this run's URI, the hijacking step's task run and the
    # forged task-run context with the URI of this run's train are not this run.
    for key in (
        *("make", "train2", "consumer_run2", "fake_run", "sneak"),
        *("hijack_task_run", "fake_task", "make_task_run"),
    ):
        assert lineage[key] not in r.text, key


def test_all_runs_shows_what_the_run_reaches(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    run_only = _arns(_get(client, RUN, "admin", token).json())
    body = _get(client, RUN + "?scope=all", "admin", token).json()
    assert body["scope"] == "all" and body["direction"] == "both" and body["depth"] == 10
    assert run_only <= _arns(body)
    assert lineage["make"] in _arns(body)  # the producer's run, upstream through the data
    assert lineage["train2"] not in _arns(body)  # not upstream or downstream of this run
    # The undirected walk goes through the DAG's context to every run of it.
    every = _get(client, RUN + "?scope=all&direction=undirected", "admin", token).json()
    assert {lineage["train2"], lineage["consumer_run2"], lineage["make"]} <= _arns(every)
    # Depth applies to "all" only; the run's own lineage does not depend on it.
    assert _arns(_get(client, RUN + "?depth=0", "admin", token).json()) == run_only
    shallow = _get(client, RUN + "?scope=all&depth=0", "admin", token).json()
    assert _arns(shallow) == {lineage["consumer_run"], lineage["train"], lineage["hijack"]}


def test_a_user_without_access_to_the_dag_is_refused(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _get(client, "/lineage/api/dag-runs/producer/r1/graph", "outsider", token)
    assert r.status_code == 403
    assert "arn:" not in r.text
    # The same requests by a viewer of every DAG succeed.
    assert (
        _get(client, "/lineage/api/dag-runs/producer/r1/graph", "viewer", token).status_code == 200
    )
    assert (
        _get(client, f"/lineage/api/entity?arn={lineage['make']}", "viewer", token).status_code
        == 200
    )


MISSING_ACTION = "arn:aws:sagemaker:local:000000000000:action/producer-make-000000000000"


def test_not_allowed_and_not_there_are_one_answer(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    """No existence oracle: an entity of a DAG the user cannot read (however its fields
    claim a readable DAG) gets the answer of an entity that does not exist."""
    client, _ = api_client
    hidden = (
        *("make", "producer_run", "producer_dag", "leak", "secret", "hijack", "sneak"),
        *("make_task_run", "hijack_task_run", "fake_task"),
    )
    for endpoint in ("/lineage/api/graph?arn=", "/lineage/api/entity?arn="):
        missing = _get(client, endpoint + MISSING_ACTION, "outsider", token)
        assert missing.status_code == 404
        for key in hidden:
            r = _get(client, endpoint + lineage[key], "outsider", token)
            assert (r.status_code, r.content) == (missing.status_code, missing.content), key
            # They exist: a viewer of every DAG reads each of them.
            assert _get(client, endpoint + lineage[key], "viewer", token).status_code == 200
    nowhere = _get(client, "/lineage/api/graph?uri=s3://nowhere/x.csv", "outsider", token)
    for uri in (SECRET, SNEAK, HIJACKED):
        r = _get(client, f"/lineage/api/graph?uri={uri}", "outsider", token)
        assert (r.status_code, r.content) == (nowhere.status_code, nowhere.content), uri
        assert _get(client, f"/lineage/api/graph?uri={uri}", "viewer", token).status_code == 200
    assert nowhere.status_code == 404 and "arn:" not in nowhere.text


def test_a_user_who_reads_no_dag_is_refused_before_any_lookup(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    answers = set()
    for arn in (lineage["model"], lineage["data"], MISSING_ACTION):
        for url in (f"/lineage/api/graph?arn={arn}", f"/lineage/api/entity?arn={arn}"):
            r = _get(client, url, "stranger", token)
            assert r.status_code == 403, (url, r.text)
            answers.add(r.content)
    for uri in (DATA, "s3://nowhere/x.csv"):
        r = _get(client, f"/lineage/api/graph?uri={uri}&direction=downstream", "stranger", token)
        answers.add(r.content)
    assert len(answers) == 1 and b"arn:" not in answers.pop()
    assert _get(client, RUN, "stranger", token).status_code == 403


def test_withheld_lineage_vanishes_without_a_trace(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    r = _get(client, RUN, "outsider", token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert _arns(body) == {
        lineage[k]
        for k in ("consumer_run", "consumer_dag", "train", "data", "model", "train_task_run")
    }
    # Nothing says there was more: no count, no ARN, no DAG name of the producer.
    assert "hidden" not in body and body["truncated"] is False
    assert "producer" not in r.text and "hijack" not in r.text
    arns = _arns(body)
    assert all(e["source"] in arns and e["destination"] in arns for e in body["edges"])
    assert {n["arn"]: n["dagIds"] for n in body["nodes"]}[lineage["data"]] == ["consumer"]
    # The same from the shared data set: upstream stops at what the user may see.
    r = _get(client, f"/lineage/api/graph?arn={lineage['data']}", "outsider", token)
    assert r.status_code == 200 and "producer" not in r.text and "hidden" not in r.json()
    assert _arns(r.json()) == {
        lineage[k]
        for k in ("data", "train", "model", "consumer_run", "consumer_dag", "train_task_run")
    }
    # The entity's association counts leave out what the user may not see.
    mine = _get(client, f"/lineage/api/entity?arn={lineage['data']}", "outsider", token).json()
    assert (mine["incoming"], mine["outgoing"], mine["dagIds"]) == (0, 1, ["consumer"])
    full = _get(client, f"/lineage/api/entity?arn={lineage['data']}", "viewer", token).json()
    assert (full["incoming"], full["outgoing"]) == (1, 1)
    assert full["dagIds"] == ["consumer", "producer"]
    assert mine["record"] == full["record"] and mine["record"]["source_uri"] == DATA


def test_forged_dag_ids_grant_nothing(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    """``airflow:dag_id`` properties, look-alike run and task-run contexts and links to
    another DAG's task run do not attribute."""
    client, _ = api_client
    # The viewer sees the forgeries, each attributed by its real run context only, and a
    # task-run context by the steps of its own DAG linked to it only.
    for key, dags in (
        ("leak", ["producer"]),
        ("hijack", ["consumer", "producer"]),
        ("sneak", []),
        ("claim", ["consumer"]),
        ("claim_task_run", ["consumer"]),
        ("make_task_run", ["producer"]),  # the consumer's claim on it counts for nothing
        ("hijack_task_run", ["consumer", "producer"]),
        ("fake_task", []),  # not the name capture gives the consumer's task run
    ):
        r = _get(client, f"/lineage/api/graph?arn={lineage[key]}&depth=0", "viewer", token)
        assert r.status_code == 200, r.text
        (node,) = r.json()["nodes"]
        assert node["dagIds"] == dags, key
        assert node["dagId"] == (dags[0] if len(dags) == 1 else None)
    # The outsider reads the consumer; nothing of the forgeries reaches them.
    for url in (
        RUN + "?scope=all&direction=undirected",
        f"/lineage/api/graph?arn={lineage['consumer_dag']}&direction=undirected",
        f"/lineage/api/graph?arn={lineage['consumer_run']}&direction=upstream",
        f"/lineage/api/graph?arn={lineage['claim']}&direction=downstream",
        f"/lineage/api/graph?uri={TaskRun('consumer', 'train', 'r1').uri}",
        "/lineage/api/dag-runs/consumer/r3/graph",
    ):
        r = _get(client, url, "outsider", token)
        assert r.status_code == 200, (url, r.text)
        for key in (
            *("leak", "secret", "hijack", "hijacked", "sneak", "sneak_out", "fake_run"),
            *("make_task_run", "hijack_task_run", "fake_task"),
        ):
            assert lineage[key] not in r.text, (url, key)
        assert "producer" not in r.text, url
        assert all(n["dagIds"] == ["consumer"] for n in r.json()["nodes"]), url
    # The claiming step's own links are counted; the producer's task run and the forged
    # one are not.
    claim = _get(client, f"/lineage/api/entity?arn={lineage['claim']}", "outsider", token)
    assert (claim.json()["incoming"], claim.json()["outgoing"]) == (0, 2)
    assert "producer" not in claim.text
    claim = _get(client, f"/lineage/api/entity?arn={lineage['claim']}", "viewer", token)
    assert (claim.json()["incoming"], claim.json()["outgoing"]) == (0, 4)


def test_work_of_one_request_is_capped(
    api_client: Client,
    lineage: dict[str, str],
    token: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_lineage.ui import walk

    client, _ = api_client
    url = f"/lineage/api/graph?arn={lineage['chain']}&direction=downstream&depth=100"
    whole = _get(client, url, "admin", token).json()
    # Per step: its action, its output and the task-run context linking its tries; plus
    # the first input and the run's and the DAG's contexts.
    assert whole["truncated"] is False and len(whole["nodes"]) == 3 * CHAIN + 3

    cut = _get(client, url + "&limit=5", "admin", token).json()
    assert len(cut["nodes"]) == 5 and cut["truncated"] is True
    assert "(limit)" in cut["truncation"]

    monkeypatch.setattr(walk, "MAX_READ", 12)
    read = _get(client, url, "admin", token).json()
    assert read["truncated"] is True and "read 12 vertices" in read["truncation"]
    assert len(read["nodes"]) <= 12
    # The cap counts vertices read, visible or not: the outsider's walk stops there too.
    assert _get(client, url, "outsider", token).json()["truncated"] is True
    monkeypatch.setattr(walk, "MAX_READ", 50_000)

    monkeypatch.setattr(walk, "TIME_BUDGET_S", 1e-9)
    slow = _get(client, url, "admin", token).json()
    assert slow["truncated"] is True and "took over" in slow["truncation"]
    assert _arns(slow) == {lineage["chain"]}
    run = _get(client, "/lineage/api/dag-runs/chain/r1/graph", "admin", token).json()
    assert run["truncated"] is True and len(run["nodes"]) == 1


def test_entity_graph_directions_depth_and_lookup(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, url = api_client
    up = _get(
        client, f"/lineage/api/graph?arn={lineage['model']}&direction=upstream", "viewer", token
    )
    assert up.status_code == 200, up.text
    assert _arns(up.json()) == {lineage[k] for k in ("model", "train", "data", "make")}
    assert up.json()["starts"] == [lineage["model"]]

    sm = _get(
        client, f"/lineage/api/graph?arn={lineage['model']}&direction=Ascendants", "viewer", token
    )
    assert _arns(sm.json()) == _arns(up.json())

    down = _get(
        client, f"/lineage/api/graph?uri={DATA}&direction=downstream&depth=2", "viewer", token
    )
    assert _arns(down.json()) == {
        lineage["data"],
        lineage["train"],
        lineage["model"],
        lineage["consumer_run"],
        lineage["train_task_run"],  # the context that links the train task's tries
    }
    one = _get(client, f"/lineage/api/graph?uri={DATA}&direction=both&depth=1", "viewer", token)
    assert _arns(one.json()) == {lineage["data"], lineage["train"], lineage["make"]}
    cut = _get(client, f"/lineage/api/graph?uri={DATA}&limit=2", "viewer", token).json()
    assert len(cut["nodes"]) == 2 and cut["truncated"] is True

    # By name: the same walk as by ARN; a name that is hidden or missing is one answer.
    with connect(url) as store:
        train_name = store.get(lineage["train"]).name
        make_name = store.get(lineage["make"]).name
    named = _get(
        client, f"/lineage/api/graph?name={train_name}&direction=upstream", "viewer", token
    )
    by_arn = _get(
        client, f"/lineage/api/graph?arn={lineage['train']}&direction=upstream", "viewer", token
    )
    assert named.status_code == 200 and _arns(named.json()) == _arns(by_arn.json())
    hidden = _get(client, f"/lineage/api/graph?name={make_name}", "outsider", token)
    nobody = _get(client, "/lineage/api/graph?name=no-such-step", "outsider", token)
    assert (hidden.status_code, hidden.content) == (nobody.status_code, nobody.content)
    assert nobody.status_code == 404

    entity = _get(client, f"/lineage/api/entity?arn={lineage['train']}", "viewer", token).json()
    assert entity["record"]["properties"]["param:max_depth"] == "3"
    assert entity["incoming"] == 1 and entity["outgoing"] == 3  # model, run, task run


def test_bad_requests(
    api_client: Client, lineage: dict[str, str], token: Callable[[str], str]
) -> None:
    client, _ = api_client
    cases = {
        f"/lineage/api/graph?arn={lineage['model']}&direction=sideways": 422,
        f"/lineage/api/graph?arn={lineage['model']}&depth=1000": 422,
        "/lineage/api/graph": 400,
        f"/lineage/api/graph?arn={lineage['model']}&uri={DATA}": 400,
        f"/lineage/api/graph?uri={DATA}&name=train": 400,
        "/lineage/api/graph?arn=not-an-arn": 400,
        "/lineage/api/graph?uri=s3://nowhere": 404,
        "/lineage/api/graph?arn=arn:aws:sagemaker:local:000000000000:action/nope": 404,
        "/lineage/api/dag-runs/consumer/no-such-run/graph": 404,
        RUN + "?scope=some": 422,
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


def test_the_page_reads_the_store_the_lineage_connection_names(
    api_client: Client,
    lineage: dict[str, str],
    token: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    """The UI finds its store as capture, the gate and the CLI do: the lineage connection
    before ``[ml_lineage] store_url``; a missing store is named, not created."""
    import json

    from .conftest import reset_lineage

    client, url = api_client
    before = _arns(_get(client, RUN, "admin", token).json())
    missing = tmp_path / "nowhere" / "lineage.db"
    conn = {"conn_type": "lineage", "extra": {"url": f"sqlite:///{missing}"}}
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(conn))
    try:
        r = _get(client, RUN, "admin", token)
        assert r.status_code == 503, r.text
        assert "the connection 'lineage_default'" in r.text and str(missing) in r.text
        assert not missing.exists() and not missing.parent.exists()
        conn["extra"] = {"url": url}
        monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(conn))
        r = _get(client, RUN, "admin", token)
        assert r.status_code == 200, r.text
        assert _arns(r.json()) == before
    finally:
        monkeypatch.delenv("AIRFLOW_CONN_LINEAGE_DEFAULT")
        reset_lineage()
