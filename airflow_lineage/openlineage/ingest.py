"""OpenLineage run events as lineage: the mapping, for files and for the transport.

====================================  ==================================================
OpenLineage                           airflow-lineage
====================================  ==================================================
run of an Airflow task (facet         the action of that try, named as the listener
``airflow``)                          names it (``…-try<N>-<hash>``), with its TaskRun,
                                      DAG-run and DAG contexts: one action when both
                                      capture paths see the task
run of another job                    an action ``<job>-<hash>`` (type: ``jobType``'s)
every run of a task or job            a context ``OpenLineageRun`` its action is
                                      ``AssociatedWith``
run with a ``parent`` run (e.g. a     no action of its own: its data sets are the
task's SQL query)                     parent's action's (held on the parent's run
                                      context until the parent's events come)
run of a DAG (``airflowDagRun``)      the DAG-run and DAG contexts (no action)
input / output data set               artifact (``DataSet``, URI ``namespace/name``)
                                      ``ContributedTo`` / ``Produced`` by the action
event type                            status: START, RUNNING → InProgress; COMPLETE →
                                      Completed; FAIL → Failed; ABORT → Stopped
our own events (``sagemakerLineage``)  exactly the records they carry
====================================  ==================================================

Events of one run (the same run id) make one action: its data sets are united, its
status is the latest event's, its creation time the earliest event's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_lineage import records
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, _name, build_record
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

__all__ = [
    "Lineage",
    "events_from_lines",
    "parent_action_in",
    "run_context",
    "to_lineage",
    "write",
]

RUN_ID_PROPERTY = "openlineage:run_id"
"""Marks an action that OpenLineage events created (the listener never sets it)."""
RUN_CONTEXT_TYPE = "OpenLineageRun"

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
    adopt: tuple[tuple[str, str], ...] = ()
    """(run context, action) pairs: the data sets that runs inside the run recorded on its
    context before its action was known move to the action (see :func:`write`)."""


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


def _facets_of(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    for event in events:
        facets.update(event["run"].get("facets") or {})
    return facets


def run_context(
    namespace: str, job: str, run_id: str, created: datetime, *, account: str, region: str
) -> Context:
    """Return the context that stands for one OpenLineage run (its action is AssociatedWith
    it), by which the runs it is the parent of find that action."""
    return Context.new(
        # As capture names its contexts: readable ids, then a hash of all of them.
        _name([job, "run"], ["openlineage-run", namespace, job, run_id]),
        RUN_CONTEXT_TYPE,
        f"openlineage://{namespace}/{job}/runs/{run_id}",
        properties={RUN_ID_PROPERTY: run_id, "openlineage:job": f"{namespace}/{job}"},
        created=created,
        account=account,
        region=region,
    )


def _data(
    action_arn: str, lineage: StepLineage, now: datetime, account: str, region: str
) -> tuple[list[Artifact], list[Association]]:
    """Return the artifacts of a run's data sets and their associations to its action."""
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
    links = [
        Association(artifacts[r.key].arn, action_arn, AssociationType.CONTRIBUTED_TO, now)
        for r in lineage.inputs
    ]
    links += [
        Association(action_arn, artifacts[r.key].arn, AssociationType.PRODUCED, now)
        for r in lineage.outputs
    ]
    return list(artifacts.values()), [a for a in links if a.source_arn != a.destination_arn]


def _task_run(airflow: Mapping[str, Any]) -> TaskRun:
    ti, task = airflow["taskInstance"], airflow.get("task") or {}
    map_index = ti.get("map_index")
    return TaskRun(
        dag_id=str(airflow["dag"]["dag_id"]),
        task_id=str(task["task_id"]),
        run_id=str(airflow["dagRun"]["run_id"]),
        map_index=-1 if map_index is None else int(map_index),
        try_number=int(ti.get("try_number") or 1),
        operator=str(task.get("operator_class_path") or ""),
    )


def _run_of(events: Sequence[Mapping[str, Any]], account: str, region: str) -> Lineage:
    """Map the events of one run of another producer."""
    first, last = events[0], events[-1]
    facets = _facets_of(events)
    kinds = [e.get("eventType") for e in events]
    status = next((_STATUS[k] for k in reversed(kinds) if k in _STATUS), ActionStatus.UNKNOWN)
    started, now = _time(first["eventTime"]), _time(last["eventTime"])
    job, ol_run = last["job"], str(last["run"]["runId"])
    props = {RUN_ID_PROPERTY: ol_run, "openlineage:job": f"{job['namespace']}/{job['name']}"}
    lineage = StepLineage(
        inputs=_refs(d for e in events for d in e.get("inputs") or ()),
        outputs=_refs(d for e in events for d in e.get("outputs") or ()),
        properties=props,
    )
    airflow, dag_run = facets.get("airflow"), facets.get("airflowDagRun")
    if isinstance(dag_run, Mapping) and not isinstance(airflow, Mapping):
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
    context = run_context(
        job["namespace"], job["name"], ol_run, started, account=account, region=region
    )
    if isinstance(airflow, Mapping) and "taskInstance" in airflow:
        queued = airflow["taskInstance"].get("queued_dttm")
        if isinstance(queued, str) and queued:
            started = min(started, _time(queued))
        # The action's modified time is its start: a record of the listener (modified
        # later) always wins over it, and this one upserts only its own (see write()).
        record = build_record(
            _task_run(airflow),
            lineage,
            status,
            now=started,
            started=started,
            account=account,
            region=region,
        )
        link = Association(record.action_arn, context.arn, AssociationType.ASSOCIATED_WITH, started)
        return Lineage(
            (*record.entities, context),
            (*record.associations, link),
            {record.action_arn: status},
        )
    job_type = ((job.get("facets") or {}).get("jobType") or {}).get("jobType")
    action = Action.new(
        _name([job["name"]], ["openlineage", job["namespace"], job["name"], ol_run]),
        str(job_type or "OpenLineageRun"),
        context.source_uri,
        status=status,
        properties=props,
        created=started,
        account=account,
        region=region,
    )
    artifacts, links = _data(action.arn, lineage, now, account, region)
    links.insert(0, Association(action.arn, context.arn, AssociationType.ASSOCIATED_WITH, started))
    return Lineage((context, action, *artifacts), tuple(links), {action.arn: status})


def _parent_context(
    events: Sequence[Mapping[str, Any]], account: str, region: str
) -> Context | None:
    """Return the run context of the parent run these events name, if any."""
    facets = _facets_of(events)
    parent = facets.get("parent")
    if not isinstance(parent, Mapping) or "airflow" in facets or "airflowDagRun" in facets:
        return None
    job, run = parent["job"], parent["run"]
    return run_context(
        job["namespace"],
        job["name"],
        str(run["runId"]),
        _time(events[0]["eventTime"]),
        account=account,
        region=region,
    )


def _child_of(
    parent: Context | str, events: Sequence[Mapping[str, Any]], account: str, region: str
) -> Lineage:
    """Map a run that ran inside another (a query of a task): it adds no action.

    :param parent: the parent's action (ARN): the data sets become its inputs and
        outputs; or the parent's run context, where they wait for the parent's action
        when its events come later (the provider sends them from other processes).
    """
    lineage = StepLineage(
        inputs=_refs(d for e in events for d in e.get("inputs") or ()),
        outputs=_refs(d for e in events for d in e.get("outputs") or ()),
    )
    target = parent if isinstance(parent, str) else parent.arn
    artifacts, links = _data(target, lineage, _time(events[-1]["eventTime"]), account, region)
    held = () if isinstance(parent, str) else (parent,)
    return Lineage((*held, *artifacts), tuple(links), {})


def parent_action_in(store: LineageStore) -> Callable[[str], str | None]:
    """Return a look-up of the action that is AssociatedWith a run context in ``store``."""

    def find(context_arn: str) -> str | None:
        page = store.list_associations(
            destination_arn=context_arn, association_type=AssociationType.ASSOCIATED_WITH
        )
        actions = sorted(a.source_arn for a in page.items if ":action/" in a.source_arn)
        return actions[0] if actions else None

    return find


@contextmanager
def _naming(run_id: str, events: Sequence[Mapping[str, Any]]) -> Iterator[None]:
    """Turn a field a run's events lack, or hold in the wrong shape, into a ValueError
    that names the run."""
    try:
        yield
    except (KeyError, TypeError, AttributeError) as e:
        what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        job = events[-1].get("job", {}).get("name")
        raise ValueError(f"OpenLineage run {run_id} of job {job!r}: {what}") from e


def to_lineage(
    events: Iterable[Mapping[str, Any]],
    *,
    account: str,
    region: str,
    parent_action: Callable[[str], str | None] | None = None,
) -> Lineage:
    """Map validated run events to lineage (see the module's table).

    :param account: the account and region entities of other producers are created in.
    :param parent_action: finds the action of a run context that is not among the
        events (see :func:`parent_action_in`); a run whose parent is found nowhere is
        an action of its own.
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

    def add(mapped: Lineage) -> None:
        for entity in mapped.entities:
            entities.setdefault(entity.arn, entity)
        for assoc in mapped.associations:
            links.setdefault((assoc.source_arn, assoc.destination_arn), assoc)
        statuses.update(mapped.statuses)

    children: list[tuple[Context, list[Mapping[str, Any]]]] = []
    for run_id, run_events in runs.items():
        with _naming(run_id, run_events):
            run_events.sort(key=lambda e: _time(e["eventTime"]))
            parent = _parent_context(run_events, account, region)
            if parent is not None:
                children.append((parent, run_events))
            else:
                add(_run_of(run_events, account, region))
    for parent, run_events in children:
        known = [a.source_arn for a in links.values() if a.destination_arn == parent.arn]
        action = next(
            (arn for arn in known if isinstance(entities.get(arn), Action)),
            parent_action(parent.arn) if parent_action is not None else None,
        )
        with _naming(str(run_events[0]["run"]["runId"]), run_events):
            add(_child_of(parent if action is None else action, run_events, account, region))
    adopt = tuple(
        (a.destination_arn, a.source_arn)
        for a in links.values()
        if isinstance(entities.get(a.destination_arn), Context)
        and entities[a.destination_arn].type == RUN_CONTEXT_TYPE
        and isinstance(entities.get(a.source_arn), Action)
    )
    return Lineage(tuple(entities.values()), tuple(links.values()), statuses, adopt)


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
    for context, action in lineage.adopt:
        _adopt(store, context, action)


def _adopt(store: LineageStore, context: str, action: str) -> None:
    """Move the data sets that wait on a run context to its action."""
    reads = store.list_associations(
        destination_arn=context, association_type=AssociationType.CONTRIBUTED_TO
    ).items
    writes = store.list_associations(
        source_arn=context, association_type=AssociationType.PRODUCED
    ).items
    if not reads and not writes:
        return
    moved = [
        Association(a.source_arn, action, AssociationType.CONTRIBUTED_TO, a.created) for a in reads
    ]
    moved += [
        Association(action, a.destination_arn, AssociationType.PRODUCED, a.created) for a in writes
    ]
    store.write(associations=moved)
    for a in (*reads, *writes):
        store.delete_association(a.source_arn, a.destination_arn)
