"""The facets of our OpenLineage events, and the check that an event is valid.

OpenLineage's ML proposal (OpenLineage issue 4035) puts hyperparameters, metrics, the
model and the code version on optional run and dataset facets; it has no published
schema yet, so those facets are our own, named after it, each with its ``_schemaURL``.
``sagemakerLineage`` (run) and ``sagemakerArtifact`` (dataset) carry the exact lineage
records (see :mod:`airflow_lineage.records`), so that an import rebuilds the graph as it
was: ARNs, types, properties, digests, contexts and every association.

``openlineage-python`` ships no JSON schema file; its event model is the check:
:func:`validate` rebuilds an event as ``RunEvent`` with the facet classes (whose
validators check the times, the URIs and the run ids) and requires it to serialise back
to the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
)
from openlineage.client.serde import Serde

__all__ = [
    "MLCodeVersionRunFacet",
    "MLHyperparametersRunFacet",
    "MLMetricsRunFacet",
    "MLModelDatasetFacet",
    "SageMakerArtifactDatasetFacet",
    "SageMakerLineageRunFacet",
    "to_json",
    "validate",
]

SCHEMA_BASE = "https://airflow-lineage.readthedocs.io/en/latest/openlineage/facets/1-0-0/"
"""Where the schemas of our facets are named (the ``_schemaURL`` of each)."""


@attr.define
class MLHyperparametersRunFacet(RunFacet):
    """The parameters a step ran with (ML proposal: hyperparameters on the run)."""

    parameters: dict[str, str]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "MLHyperparametersRunFacet.json"


@attr.define
class MLMetricsRunFacet(RunFacet):
    """The metrics a step logged (ML proposal: evaluation metrics on the run)."""

    metrics: dict[str, float | str]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "MLMetricsRunFacet.json"


@attr.define
class MLCodeVersionRunFacet(RunFacet):
    """The code version a step ran (a git commit, or what the DAG said)."""

    version: str

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "MLCodeVersionRunFacet.json"


@attr.define
class MLModelDatasetFacet(DatasetFacet):
    """A data set that is a model: its type and version (its content digest)."""

    modelType: str
    version: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "MLModelDatasetFacet.json"


@attr.define
class SageMakerLineageRunFacet(RunFacet):
    """The run's action, the contexts and artifacts it is associated with, and every
    association of the run, as lineage records."""

    action: dict[str, Any]
    entities: list[dict[str, Any]]
    associations: list[dict[str, Any]]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "SageMakerLineageRunFacet.json"


@attr.define
class SageMakerArtifactDatasetFacet(DatasetFacet):
    """The artifact a data set is, as a lineage record."""

    artifact: dict[str, Any]

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_BASE + "SageMakerArtifactDatasetFacet.json"


def _flat(cls: type[Any]) -> Callable[[Mapping[str, Any]], Any]:
    def build(d: Mapping[str, Any]) -> Any:
        kwargs = {k: v for k, v in d.items() if not k.startswith("_")}
        if "_producer" in d:
            kwargs["producer"] = d["_producer"]
        if "_deleted" in d:
            kwargs["deleted"] = d["_deleted"]
        return cls(**kwargs)

    return build


def _parent(d: Mapping[str, Any]) -> parent_run.ParentRunFacet:
    root = d.get("root")
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=d["run"]["runId"]),
        job=parent_run.Job(namespace=d["job"]["namespace"], name=d["job"]["name"]),
        root=None
        if root is None
        else parent_run.Root(
            run=parent_run.RootRun(runId=root["run"]["runId"]),
            job=parent_run.RootJob(namespace=root["job"]["namespace"], name=root["job"]["name"]),
        ),
        producer=d.get("_producer", ""),
    )


_RUN_FACETS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "parent": _parent,
    "errorMessage": _flat(error_message_run.ErrorMessageRunFacet),
    "mlHyperparameters": _flat(MLHyperparametersRunFacet),
    "mlMetrics": _flat(MLMetricsRunFacet),
    "mlCodeVersion": _flat(MLCodeVersionRunFacet),
    "sagemakerLineage": _flat(SageMakerLineageRunFacet),
}
_JOB_FACETS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "jobType": _flat(job_type_job.JobTypeJobFacet),
}
_DATASET_FACETS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "datasetVersion": _flat(dataset_version_dataset.DatasetVersionDatasetFacet),
    "mlModel": _flat(MLModelDatasetFacet),
    "sagemakerArtifact": _flat(SageMakerArtifactDatasetFacet),
}
KNOWN_FACETS = frozenset({*_RUN_FACETS, *_JOB_FACETS, *_DATASET_FACETS})


def _facets(
    given: object, builders: Mapping[str, Callable[[Mapping[str, Any]], Any]], where: str
) -> dict[str, Any]:
    """Rebuild the facets the model knows; keep others (another producer's) as they are."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise ValueError(f"{where} facets must be an object, not {type(given).__name__}")
    out: dict[str, Any] = {}
    for name, value in given.items():
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} facet {name!r} must be an object")
        build = builders.get(name)
        out[name] = dict(value) if build is None else build(value)
    return out


def _dataset(cls: type[Any], d: Mapping[str, Any], extra: str) -> Any:
    where = f"dataset {d.get('namespace')!r} {d.get('name')!r}"
    kwargs = {
        "namespace": d["namespace"],
        "name": d["name"],
        "facets": _facets(d.get("facets"), _DATASET_FACETS, where),
    }
    if extra in d:
        kwargs[extra] = _facets(d[extra], {}, where)
    return cls(**kwargs)


def _part(where: str, build: Callable[[], Any]) -> Any:
    """Build one part of an event; name the part when the model rejects it."""
    try:
        return build()
    except KeyError as e:
        raise ValueError(f"{where}: missing {e}") from e
    except (TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{where}: {e}") from e


def _event(d: Mapping[str, Any]) -> RunEvent:
    run, job = d["run"], d["job"]
    kind = d.get("eventType")
    built_run = _part(
        "run",
        lambda: Run(runId=run["runId"], facets=_facets(run.get("facets"), _RUN_FACETS, "run")),
    )
    built_job = _part(
        "job",
        lambda: Job(
            namespace=job["namespace"],
            name=job["name"],
            facets=_facets(job.get("facets"), _JOB_FACETS, "job"),
        ),
    )
    inputs = _part(
        "inputs", lambda: [_dataset(InputDataset, i, "inputFacets") for i in d.get("inputs") or ()]
    )
    outputs = _part(
        "outputs",
        lambda: [_dataset(OutputDataset, o, "outputFacets") for o in d.get("outputs") or ()],
    )
    state = _part("eventType", lambda: None if kind is None else RunState(kind))
    event: RunEvent = _part(
        "eventTime or producer",
        lambda: RunEvent(
            eventTime=d["eventTime"],
            producer=d["producer"],
            eventType=state,
            run=built_run,
            job=built_job,
            inputs=inputs,
            outputs=outputs,
        ),
    )
    return event


def to_json(event: RunEvent) -> str:
    """Return the event as one line of JSON, as the OpenLineage client writes it."""
    return Serde.to_json(event)


def validate(data: Mapping[str, Any] | str) -> RunEvent:
    """Rebuild a run event with ``openlineage-python``'s model and check it round-trips.

    :param data: the event as parsed JSON, or one line of JSON.
    :raises ValueError: the event is not a run event the model accepts (a missing field,
        a bad time, run id or URI, an unknown field of a facet), or it does not
        serialise back to what was given.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise ValueError(f"not JSON: {e}") from e
    if not isinstance(data, Mapping):
        raise ValueError(f"an OpenLineage event is a JSON object, not {type(data).__name__}")
    if "run" not in data or "job" not in data:
        raise ValueError("not an OpenLineage run event: it needs 'run' and 'job'")
    try:
        event = _event(data)
    except ValueError as e:
        raise ValueError(f"invalid OpenLineage run event: {e}") from e
    again = Serde.to_dict(event)
    if again != Serde.remove_nulls_and_enums(dict(data)):
        changed = sorted(
            k for k in {*again, *data} if again.get(k) != Serde.remove_nulls_and_enums(data.get(k))
        )
        raise ValueError(
            "invalid OpenLineage run event: it does not serialise back as given "
            f"(differs in {', '.join(changed)})"
        )
    return event
