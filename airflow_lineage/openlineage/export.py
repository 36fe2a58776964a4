"""A lineage graph as OpenLineage run events: one event per action.

Each action becomes the run of a job: an Airflow task's action is the job
``<dag_id>.<task_id>`` (as the OpenLineage provider names it) and runs with the parent
run of its DAG run; another action is the job of its name. Its inputs (artifacts with an
association to it) and outputs (artifacts it has one to) are the event's data sets, in
OpenLineage's naming (``s3://bucket`` + ``key``, ``file`` + ``/path``). Parameters,
metrics and code version go on ML run facets, a model's type and digest on an ML data set
facet, a digest on ``datasetVersion``; the exact records on ``sagemakerLineage`` and
``sagemakerArtifact`` (see :mod:`.facets`).

An association between two entities that are not actions (a DAG run's context and its
DAG's, a model ``DerivedFrom`` another) travels with an action next to one of its ends,
else with the first action; so does an entity with no association. A graph without an
action has no run, and so no event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
)

from airflow_lineage import __version__, records
from airflow_lineage.capture.record import RUN_CONTEXT_TYPE
from airflow_lineage.model import Action, ActionStatus, Artifact, Association, Context, Entity
from airflow_lineage.openlineage.facets import (
    MLCodeVersionRunFacet,
    MLHyperparametersRunFacet,
    MLMetricsRunFacet,
    MLModelDatasetFacet,
    SageMakerArtifactDatasetFacet,
    SageMakerLineageRunFacet,
)

__all__ = ["PRODUCER", "dataset_name", "run_events", "run_id"]

PRODUCER = f"https://pypi.org/project/airflow-lineage/{__version__}/"
DEFAULT_NAMESPACE = "default"
"""The job namespace of the OpenLineage provider's default configuration."""

_STATES = {
    ActionStatus.IN_PROGRESS: RunState.RUNNING,
    ActionStatus.COMPLETED: RunState.COMPLETE,
    ActionStatus.FAILED: RunState.FAIL,
    ActionStatus.STOPPING: RunState.ABORT,
    ActionStatus.STOPPED: RunState.ABORT,
    ActionStatus.UNKNOWN: RunState.OTHER,
}
_MODEL_TYPES = frozenset({"Model", "ModelPackage"})


def run_id(arn: str) -> str:
    """Return the OpenLineage run id of an action or a DAG-run context (stable)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, arn))


def dataset_name(uri: str) -> tuple[str, str]:
    """Return the OpenLineage (namespace, name) of a data set's URI."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return "uri", uri
    if scheme == "file":
        return "file", rest
    authority, _, path = rest.partition("/")
    return f"{scheme}://{authority}", path


def _job_name(action: Action) -> str:
    dag, task = action.properties.get("airflow:dag_id"), action.properties.get("airflow:task_id")
    return f"{dag}.{task}" if dag and task else action.name or action.arn


def _metric(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _run_facets(
    action: Action, contexts: Iterable[Context], namespace: str, lineage: SageMakerLineageRunFacet
) -> dict[str, Any]:
    props = action.properties
    facets: dict[str, Any] = {}
    parents = [c for c in contexts if c.type == RUN_CONTEXT_TYPE]
    if parents and (dag := parents[0].properties.get("airflow:dag_id")):
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_id(parents[0].arn)),
            job=parent_run.Job(namespace=namespace, name=dag),
        )
    if error := props.get("error"):
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python"
        )
    params = {k[6:]: v for k, v in props.items() if k.startswith("param:")}
    if params:
        facets["mlHyperparameters"] = MLHyperparametersRunFacet(parameters=params)
    metrics = {k[7:]: _metric(v) for k, v in props.items() if k.startswith("metric:")}
    if metrics:
        facets["mlMetrics"] = MLMetricsRunFacet(metrics=metrics)
    if version := props.get("code_version"):
        facets["mlCodeVersion"] = MLCodeVersionRunFacet(version=version)
    facets["sagemakerLineage"] = lineage
    return facets


def _dataset_facets(artifact: Artifact) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    digest = artifact.source_types[0].value if artifact.source_types else None
    if digest:
        facets["datasetVersion"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=digest
        )
    if artifact.type in _MODEL_TYPES:
        facets["mlModel"] = MLModelDatasetFacet(modelType=artifact.type, version=digest)
    facets["sagemakerArtifact"] = SageMakerArtifactDatasetFacet(
        artifact=records.to_record(artifact)
    )
    return facets


def _owners(
    actions: Sequence[Action], associations: Sequence[Association]
) -> dict[str, list[Association]]:
    """Return the associations each action's event carries (each exactly once)."""
    owned: dict[str, list[Association]] = {a.arn: [] for a in actions}
    near: dict[str, set[str]] = {}
    for assoc in associations:
        for end, other in (
            (assoc.source_arn, assoc.destination_arn),
            (assoc.destination_arn, assoc.source_arn),
        ):
            if other in owned:
                near.setdefault(end, set()).add(other)
    first = actions[0].arn
    for assoc in associations:
        if assoc.source_arn in owned:
            owner = assoc.source_arn
        elif assoc.destination_arn in owned:
            owner = assoc.destination_arn
        else:
            nearby = near.get(assoc.source_arn, set()) | near.get(assoc.destination_arn, set())
            owner = min(nearby) if nearby else first
        owned[owner].append(assoc)
    return owned


def run_events(
    entities: Mapping[str, Entity],
    associations: Iterable[Association],
    *,
    namespace: str = DEFAULT_NAMESPACE,
) -> list[RunEvent]:
    """Return the run events of a graph: one per action, oldest action first.

    :param entities: the graph's entities by ARN.
    :param associations: the associations among them (others are left out).
    :param namespace: the namespace of the jobs.
    """
    if not namespace:
        raise ValueError("namespace must not be empty")
    actions = sorted(
        (e for e in entities.values() if isinstance(e, Action)), key=lambda a: (a.created, a.arn)
    )
    if not actions:
        return []
    edges = sorted(
        (a for a in associations if a.source_arn in entities and a.destination_arn in entities),
        key=lambda a: (a.source_arn, a.destination_arn),
    )
    owned = _owners(actions, edges)
    placed = {a.arn for a in actions}
    for assoc in edges:
        placed.update((assoc.source_arn, assoc.destination_arn))
    loose = sorted(arn for arn in entities if arn not in placed)
    events = []
    for n, action in enumerate(actions):
        mine = owned[action.arn]
        inputs = [
            entities[a.source_arn]
            for a in mine
            if a.destination_arn == action.arn and isinstance(entities[a.source_arn], Artifact)
        ]
        outputs = [
            entities[a.destination_arn]
            for a in mine
            if a.source_arn == action.arn and isinstance(entities[a.destination_arn], Artifact)
        ]
        datasets = {a.arn for a in (*inputs, *outputs)}
        others = {
            arn
            for a in mine
            for arn in (a.source_arn, a.destination_arn)
            if arn not in datasets and not isinstance(entities[arn], Action)
        }
        carried = sorted(others | (set(loose) if n == 0 else set()))
        lineage = SageMakerLineageRunFacet(
            action=records.to_record(action),
            entities=[records.to_record(entities[arn]) for arn in carried],
            associations=[records.to_record(a) for a in mine],
        )
        contexts = [
            entities[a.destination_arn]
            for a in edges
            if a.source_arn == action.arn and isinstance(entities[a.destination_arn], Context)
        ]
        events.append(
            RunEvent(
                eventType=_STATES[action.status],
                eventTime=records.format_time(action.modified or action.created),
                producer=PRODUCER,
                run=Run(
                    runId=run_id(action.arn),
                    facets=_run_facets(action, contexts, namespace, lineage),  # type: ignore[arg-type]
                ),
                job=Job(
                    namespace=namespace,
                    name=_job_name(action),
                    facets={
                        "jobType": job_type_job.JobTypeJobFacet(
                            processingType="BATCH",
                            integration="AIRFLOW"
                            if "airflow:dag_id" in action.properties
                            else "SAGEMAKER",
                            jobType="TASK" if "airflow:task_id" in action.properties else "JOB",
                        )
                    },
                ),
                inputs=[
                    InputDataset(*dataset_name(a.source_uri), facets=_dataset_facets(a))
                    for a in inputs
                    if isinstance(a, Artifact)
                ],
                outputs=[
                    OutputDataset(*dataset_name(a.source_uri), facets=_dataset_facets(a))
                    for a in outputs
                    if isinstance(a, Artifact)
                ],
            )
        )
    return events
