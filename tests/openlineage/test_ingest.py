"""OpenLineage events of another producer → lineage, through the transport the provider
is configured with: one action per task try, whatever order the events come in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openlineage.client")

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import parent_run
from openlineage.client.transport.factory import DefaultTransportFactory

from airflow_lineage.capture.lineage import StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.model import Action, ActionStatus, AssociationType
from airflow_lineage.store import connect
from tests.conftest import create_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TASK_RUN_ID = "01a22f2a-7d88-76ca-8f38-e36a87366131"
QUERY_RUN_ID = "01a22f2a-7d88-7811-aacc-1f884195a21a"
RUN = TaskRun("sales", "load", "manual__1", try_number=2, operator="x.SQLExecuteQueryOperator")


def _airflow_facet() -> dict[str, Any]:
    return {
        "_producer": "https://example.com/provider",
        "_schemaURL": "https://example.com/AirflowRunFacet.json",
        "dag": {"dag_id": RUN.dag_id},
        "dagRun": {"run_id": RUN.run_id, "dag_id": RUN.dag_id},
        "task": {"task_id": RUN.task_id, "operator_class_path": RUN.operator},
        "taskInstance": {"try_number": RUN.try_number},
        "taskUuid": TASK_RUN_ID,
    }


def _task_event(kind: RunState, minute: int) -> RunEvent:
    return RunEvent(
        eventType=kind,
        eventTime=(T0 + timedelta(minutes=minute)).isoformat(),
        producer="https://example.com/provider",
        run=Run(runId=TASK_RUN_ID, facets={"airflow": _airflow_facet()}),  # type: ignore[dict-item]
        job=Job(namespace="default", name="sales.load"),
    )


def _query_event(kind: RunState, minute: int) -> RunEvent:
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=TASK_RUN_ID),
        job=parent_run.Job(namespace="default", name="sales.load"),
    )
    return RunEvent(
        eventType=kind,
        eventTime=(T0 + timedelta(minutes=minute)).isoformat(),
        producer="https://example.com/provider",
        run=Run(runId=QUERY_RUN_ID, facets={"parent": parent}),
        job=Job(namespace="default", name="sales.load.query.1"),
        inputs=[InputDataset("postgres://db:5432", "shop.public.orders")],
        outputs=[OutputDataset("postgres://db:5432", "shop.public.daily_sales")],
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return create_store(f"sqlite:///{tmp_path / 'lineage.db'}")


def _emit(url: str, events: list[RunEvent]) -> None:
    transport = DefaultTransportFactory().create(
        {"type": "airflow_lineage.openlineage.transport.LineageTransport", "store": url}
    )
    for event in events:
        transport.emit(event)
    transport.close()


def _check_one_action_with_its_data(url: str) -> Action:
    with connect(url) as store:
        actions = store.list_entities("Action").items
        assert [a.name for a in actions] == [RUN.action_name]
        (action,) = actions
        reads = store.list_associations(destination_arn=action.arn).items
        writes = store.list_associations(source_arn=action.arn).items
        assert [store.get(a.source_arn).source_uri for a in reads] == [
            "postgres://db:5432/shop.public.orders"
        ]
        assert reads[0].association_type is AssociationType.CONTRIBUTED_TO
        produced = [a for a in writes if a.association_type is AssociationType.PRODUCED]
        assert [store.get(a.destination_arn).source_uri for a in produced] == [
            "postgres://db:5432/shop.public.daily_sales"
        ]
        # Nothing is left waiting on the run's context: only the action points at it.
        (context,) = store.list_entities("Context", type="OpenLineageRun").items
        assert [
            a.source_arn for a in store.list_associations(destination_arn=context.arn).items
        ] == [action.arn]
        assert not store.list_associations(source_arn=context.arn).items
        assert isinstance(action, Action)
        return action


@pytest.mark.parametrize(
    "order",
    [
        ["task-start", "query-start", "query-complete", "task-complete"],
        ["query-start", "query-complete", "task-start", "task-complete"],
    ],
)
def test_a_tasks_queries_are_its_action_whatever_the_order(url: str, order: list[str]) -> None:
    made = {
        "task-start": _task_event(RunState.START, 0),
        "query-start": _query_event(RunState.START, 1),
        "query-complete": _query_event(RunState.COMPLETE, 2),
        "task-complete": _task_event(RunState.COMPLETE, 3),
    }
    _emit(url, [made[name] for name in order])
    action = _check_one_action_with_its_data(url)
    assert action.status is ActionStatus.COMPLETED
    assert action.type == "SQLExecuteQueryOperator"


def test_the_listeners_record_wins(url: str) -> None:
    record = build_record(
        RUN,
        StepLineage(parameters={"days": "7"}),
        ActionStatus.FAILED,
        now=T0 + timedelta(minutes=2),
        started=T0 + timedelta(seconds=30),
    )
    with connect(url) as store:
        store.write(record.entities, record.associations, upsert=record.upsert)
    _emit(url, [_task_event(RunState.START, 0), _task_event(RunState.COMPLETE, 3)])
    with connect(url) as store:
        (action,) = store.list_entities("Action").items
    assert isinstance(action, Action)
    assert action.status is ActionStatus.FAILED
    assert action.properties["param:days"] == "7"
    assert "openlineage:run_id" not in action.properties


def test_an_event_the_transport_cannot_take_is_logged_not_raised(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    bad = _task_event(RunState.COMPLETE, 0)
    bad.run.facets["airflow"]["taskInstance"]["try_number"] = -1  # type: ignore[index]
    with caplog.at_level(logging.WARNING):
        _emit(url, [bad])
    assert "not recorded" in caplog.text
    with connect(url) as store:
        assert not list(store.export())


def test_a_run_of_another_job_is_an_action_of_its_own(url: str, tmp_path: Path) -> None:
    from openlineage.client.facet_v2 import job_type_job

    from airflow_lineage.cli import main
    from airflow_lineage.openlineage.facets import to_json

    job = Job(
        namespace="spark://cluster",
        name="nightly_rollup",
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="SPARK", jobType="APPLICATION"
            )
        },
    )
    events = [
        RunEvent(
            eventType=kind,
            eventTime=(T0 + timedelta(minutes=n)).isoformat(),
            producer="https://example.com/spark",
            run=Run(runId=QUERY_RUN_ID),
            job=job,
            inputs=[InputDataset("s3://raw", "events/2026-03-01")],
            outputs=[OutputDataset("s3://curated", "rollup/2026-03-01")] if n else [],
        )
        for n, kind in enumerate((RunState.START, RunState.FAIL))
    ]
    path = tmp_path / "spark.jsonl"
    path.write_text("".join(to_json(e) + "\n" for e in events))
    assert main(["--store", url, "openlineage", "import", str(path)]) == 0
    with connect(url) as store:
        (action,) = store.list_entities("Action").items
        (context,) = store.list_entities("Context").items
        uris = sorted(a.source_uri for a in store.list_entities("Artifact").items)
        edges = store.associations_among([action.arn, context.arn])
    assert isinstance(action, Action)
    assert (action.type, action.status) == ("APPLICATION", ActionStatus.FAILED)
    assert action.created == T0
    assert context.type == "OpenLineageRun"
    assert [(e.source_arn, e.destination_arn) for e in edges] == [(action.arn, context.arn)]
    assert uris == ["s3://curated/rollup/2026-03-01", "s3://raw/events/2026-03-01"]


def test_an_ml_steps_type_is_the_listeners_when_the_providers_start_comes_first(
    url: str,
) -> None:
    # The provider's START of the try comes before the listener records it.
    _emit(url, [_task_event(RunState.START, 0), _query_event(RunState.COMPLETE, 1)])
    record = build_record(
        RUN,
        StepLineage(step_type="Training", parameters={"days": "7"}),
        ActionStatus.COMPLETED,
        now=T0 + timedelta(minutes=2),
        started=T0 + timedelta(seconds=30),
    )
    with connect(url) as store:
        store.write(record.entities, record.associations, upsert=record.upsert)
    _emit(url, [_task_event(RunState.COMPLETE, 3)])
    action = _check_one_action_with_its_data(url)
    assert (action.type, action.properties["param:days"]) == ("Training", "7")


def test_a_foreign_event_lacking_a_field_imports_nothing(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_lineage.cli import main
    from airflow_lineage.openlineage.facets import to_json

    bad = _task_event(RunState.COMPLETE, 1)
    del bad.run.facets["airflow"]["dag"]  # type: ignore[attr-defined]
    path = tmp_path / "bad.jsonl"
    path.write_text(to_json(_query_event(RunState.COMPLETE, 0)) + "\n" + to_json(bad) + "\n")
    assert main(["--store", url, "openlineage", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert TASK_RUN_ID in err and "'dag'" in err and "sales.load" in err
    with connect(url) as store:
        assert not list(store.export())


def test_a_forked_process_records_through_its_own_connection(url: str) -> None:
    import os

    transport = DefaultTransportFactory().create(
        {"type": "airflow_lineage.openlineage.transport.LineageTransport", "store": url}
    )
    transport.emit(_query_event(RunState.START, 0))  # opens the store in this process
    pid = os.fork()
    if pid == 0:  # the child: as the provider's forked emitter
        try:
            transport.emit(_task_event(RunState.COMPLETE, 3))
            transport.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    transport.emit(_query_event(RunState.COMPLETE, 2))  # the parent's connection still works
    transport.close()
    _check_one_action_with_its_data(url)
