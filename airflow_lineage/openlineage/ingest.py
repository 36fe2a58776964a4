"""OpenLineage run events as lineage: the mapping, for files and for the transport.

==================================  ====================================================
OpenLineage                         airflow-lineage
==================================  ====================================================
run of an Airflow task (facet       the action of that try, named as the listener names
``airflow``)                        it (``…-try<N>-<hash>``), with its TaskRun, DAG-run
                                    and DAG contexts: one action when both capture it
run of a DAG (``airflowDagRun``)    the DAG-run and DAG contexts (no action)
run of another job                  an action ``<job>-<hash of the run id>``
                                    ``AssociatedWith`` an ``OpenLineageJob`` context
input / output data set             artifact (``DataSet``) ``ContributedTo`` the action /
                                    ``Produced`` by it; URI ``namespace/name``
event type                          status: START, RUNNING → InProgress; COMPLETE →
                                    Completed; FAIL → Failed; ABORT → Stopped
our own events (``sagemakerLineage``) exactly the records they carry
==================================  ====================================================

Events of one run (the same run id) make one action: its data sets are united, its
status is the latest event's, its creation time the earliest event's.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_lineage import records
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
from airflow_lineage.openlineage.facets import validate
from airflow_lineage.store.base import LineageStore

__all__ = ["Lineage", "events_from_lines", "to_lineage", "write"]

RUN_ID_PROPERTY = "openlineage:run_id"
"""Marks an action that OpenLineage events created (the listener never sets it)."""
JOB_CONTEXT_TYPE = "OpenLineageJob"

_STATUS = {
    "START": ActionStatus.IN_PROGRESS,
    "RUNNING": ActionStatus.IN_PROGRESS,
    "COMPLETE": ActionStatus.COMPLETED,
    "FAIL": ActionStatus.FAILED,
    "ABORT": ActionStatus.STOPPED,
}


@dataclass(frozen=True, slots=True)
class Lineage:
    """What events map to: entities, associations, and the status each action reached."""

    entities: tuple[Entity, ...]
    associations: tuple[Association, ...]
    statuses: Mapping[str, ActionStatus]
    """The status of each action the events created (ARN → status); not of our own."""


def events_from_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Yield each event of a JSON-lines file, validated (blank lines are skipped).

    :raises ValueError: a line is not a valid OpenLineage run event (the message names it).
    """
    import json

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            validate(data)
        except ValueError as e:
            raise ValueError(f"line {number}: {e}") from e
        yield data


def _uri(dataset: Mapping[str, Any]) -> str:
    namespace, name = str(dataset["namespace"]), str(dataset["name"])
    if namespace == "uri":
        return name
    if "://" in namespace:
        return f"{namespace}/{name.lstrip('/')}"
    return f"{namespace}://{name}"


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:12]


def _slug(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:100].strip("-") or "x"


def _time(value: str) -> datetime:
    from dateutil import parser  # openlineage-python's own parser

    parsed: datetime = parser.isoparse(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _own(event: Mapping[str, Any]) -> tuple[list[Entity], list[Association]] | None:
    """Return the records our own export put on an event, or None for another's."""
    facet = (event["run"].get("facets") or {}).get("sagemakerLineage")
    if facet is None:
        return None
    entities = [records.from_record(facet["action"])]
    entities += [records.from_record(r) for r in facet.get("entities") or ()]
    for dataset in (*(event.get("inputs") or ()), *(event.get("outputs") or ())):
        artifact = (dataset.get("facets") or {}).get("sagemakerArtifact")
        if artifact is not None:
            entities.append(records.from_record(artifact["artifact"]))
    links = [records.from_record(r) for r in facet.get("associations") or ()]
    return (
        [e for e in entities if not isinstance(e, Association)],
        [a for a in links if isinstance(a, Association)],
    )


def _refs(datasets: Iterable[Mapping[str, Any]]) -> tuple[DataRef, ...]:
    refs: dict[tuple[str, str], DataRef] = {}
    for dataset in datasets:
        props = {"openlineage:namespace": dataset["namespace"], "openlineage:name": dataset["name"]}
        version = ((dataset.get("facets") or {}).get("datasetVersion") or {}).get("datasetVersion")
        if version:
            props["openlineage:datasetVersion"] = str(version)
        ref = DataRef(_uri(dataset), properties=props)
        refs.setdefault(ref.key, ref)
    return tuple(refs.values())


def _run_of(events: Sequence[Mapping[str, Any]], account: str, region: str) -> Lineage:
    """Map the events of one foreign run."""
    first, last = events[0], events[-1]
    facets: dict[str, Any] = {}
    for event in events:
        facets.update(event["run"].get("facets") or {})
    kinds = [e.get("eventType") for e in events]
    status = next((_STATUS[k] for k in reversed(kinds) if k in _STATUS), ActionStatus.UNKNOWN)
    started, now = _time(first["eventTime"]), _time(last["eventTime"])
    job = last["job"]
    props = {
        RUN_ID_PROPERTY: last["run"]["runId"],
        "openlineage:job": f"{job['namespace']}/{job['name']}",
    }
    lineage = StepLineage(
        inputs=_refs(d for e in events for d in e.get("inputs") or ()),
        outputs=_refs(d for e in events for d in e.get("outputs") or ()),
        properties=props,
    )
    airflow, dag_run = facets.get("airflow"), facets.get("airflowDagRun")
    if isinstance(airflow, Mapping) and "taskInstance" in airflow:
        ti = airflow["taskInstance"]
        map_index = ti.get("map_index")
        task = airflow.get("task") or {}
        run = TaskRun(
            dag_id=str(airflow["dag"]["dag_id"]),
            task_id=str(task["task_id"]),
            run_id=str(airflow["dagRun"]["run_id"]),
            map_index=-1 if map_index is None else int(map_index),
            try_number=int(ti.get("try_number") or 1),
            operator=str(task.get("operator_class_path") or ""),
        )
        # The action's modified time is its start: a record of the listener (modified
        # later) always wins over it, and this one upserts only its own (see write()).
        queued = ti.get("queued_dttm")
        if isinstance(queued, str) and queued:
            started = min(started, _time(queued))
        record = build_record(
            run, lineage, status, now=started, started=started, account=account, region=region
        )
        return Lineage(record.entities, record.associations, {record.action_arn: status})
    if isinstance(dag_run, Mapping):
        run = TaskRun(
            dag_id=str(dag_run["dag"]["dag_id"]),
            task_id="-",
            run_id=str(dag_run["dagRun"]["run_id"]),
        )
        record = build_record(run, StepLineage(), status, now=now, account=account, region=region)
        dag_ctx, run_ctx = record.entities[:2]
        pair = {dag_ctx.arn, run_ctx.arn}
        dag_links = tuple(
            a for a in record.associations if {a.source_arn, a.destination_arn} == pair
        )
        return Lineage((dag_ctx, run_ctx), dag_links, {})
    job_name = f"{job['namespace']}/{job['name']}"
    job_type = ((job.get("facets") or {}).get("jobType") or {}).get("jobType")
    context = Context.new(
        f"{_slug(job['name'])}-{_hash('job', job_name)}",
        JOB_CONTEXT_TYPE,
        f"openlineage://{job['namespace']}/{job['name']}",
        properties={"openlineage:job": job_name},
        created=started,
        account=account,
        region=region,
    )
    action = Action.new(
        f"{_slug(job['name'])}-{_hash('run', job_name, props[RUN_ID_PROPERTY])}",
        str(job_type or "OpenLineageRun"),
        f"openlineage://{job['namespace']}/{job['name']}/runs/{props[RUN_ID_PROPERTY]}",
        status=status,
        properties=props,
        created=started,
        account=account,
        region=region,
    )
    artifacts = {
        ref.key: Artifact.new(
            ref.uri,
            ref.artifact_type,
            properties=ref.properties,
            created=now,
            account=account,
            region=region,
        )
        for ref in (*lineage.inputs, *lineage.outputs)
    }
    links = [Association(action.arn, context.arn, AssociationType.ASSOCIATED_WITH, started)]
    links += [
        Association(artifacts[r.key].arn, action.arn, AssociationType.CONTRIBUTED_TO, now)
        for r in lineage.inputs
    ]
    links += [
        Association(action.arn, artifacts[r.key].arn, AssociationType.PRODUCED, now)
        for r in lineage.outputs
    ]
    links = [a for a in links if a.source_arn != a.destination_arn]
    return Lineage(
        (context, action, *artifacts.values()), tuple(dict.fromkeys(links)), {action.arn: status}
    )


def to_lineage(events: Iterable[Mapping[str, Any]], *, account: str, region: str) -> Lineage:
    """Map validated run events to lineage (see the module's table).

    :param account: the account and region entities of other producers are created in.
    :raises ValueError: an event holds a value the lineage model rejects.
    """
    entities: dict[str, Entity] = {}
    links: dict[tuple[str, str], Association] = {}
    statuses: dict[str, ActionStatus] = {}
    runs: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        own = _own(event)
        if own is None:
            runs.setdefault(str(event["run"]["runId"]), []).append(event)
            continue
        for entity in own[0]:
            entities.setdefault(entity.arn, entity)
        for assoc in own[1]:
            links.setdefault((assoc.source_arn, assoc.destination_arn), assoc)
    for run_events in runs.values():
        run_events.sort(key=lambda e: _time(e["eventTime"]))
        mapped = _run_of(run_events, account, region)
        for entity in mapped.entities:
            entities.setdefault(entity.arn, entity)
        for assoc in mapped.associations:
            links.setdefault((assoc.source_arn, assoc.destination_arn), assoc)
        statuses.update(mapped.statuses)
    return Lineage(tuple(entities.values()), tuple(links.values()), statuses)


def write(store: LineageStore, lineage: Lineage) -> None:
    """Write mapped lineage to a store in one transaction; what exists is kept.

    An action that events created moves on to the latest event's status. One that the
    listener recorded keeps its complete record; and as an event's action is modified at
    its run's start, a listener's record written after it (modified later) wins.
    """
    stored = store.get_many(list(lineage.statuses)) if lineage.statuses else {}
    ours = frozenset(
        arn
        for arn in lineage.statuses
        if arn not in stored or RUN_ID_PROPERTY in stored[arn].properties
    )
    store.write(lineage.entities, lineage.associations, upsert=ours)
