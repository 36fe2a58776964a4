"""Everything a data set reached: models, approvals, endpoints, and what serves them now.

One downstream walk from the data set (every recorded version of it, when it is named
by URI) finds the models (artifacts of a model type), the approvals (actions of type
``Approval``, the gate's verdicts) and the endpoints (contexts of type ``Endpoint``)
it reached, with the DAG runs whose steps made them. An endpoint is *serving* an
affected model when its newest Completed deployment is one the walk reached: a later
deployment of a model the data set never touched has replaced it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Artifact,
    AssociationType,
    Context,
    Direction,
    Edge,
    Entity,
)
from airflow_lineage.recipe import ENDPOINT_TYPE, MODEL_TYPES, is_arn, run_of, walk
from airflow_lineage.store.base import LineageStore

__all__ = ["APPROVAL_TYPE", "Impact", "impact", "resolve_datasets"]

APPROVAL_TYPE = "Approval"


def resolve_datasets(store: LineageStore, text: str) -> list[Artifact]:
    """Return the artifact an ARN names, or every artifact (every version) with a URI.

    :raises EntityNotFoundError: nothing has it.
    :raises ValueError: the ARN names something other than an artifact.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("name the data set by its ARN or source URI")
    if not is_arn(text):
        found = [
            a
            for a in store.list_entities("Artifact", source_uri=text).items
            if isinstance(a, Artifact)
        ]
        if not found:
            raise EntityNotFoundError(f"no artifact has the source URI {text!r}")
        return sorted(found, key=lambda a: a.arn)
    entity = store.get(text)
    if not isinstance(entity, Artifact):
        raise ValueError(f"{text} is a {entity.lineage_type.value}, not an artifact")
    return [entity]


def _run(action: Entity | None) -> dict[str, str | None]:
    run = run_of(action) if isinstance(action, Action) else None
    return {"dag_id": run[0] if run else None, "run_id": run[1] if run else None}


@dataclass(frozen=True, slots=True)
class Impact:
    """What a data set reached downstream."""

    datasets: tuple[Artifact, ...]
    models: tuple[dict[str, Any], ...]
    approvals: tuple[dict[str, Any], ...]
    endpoints: tuple[dict[str, Any], ...]

    @property
    def deployed(self) -> bool:
        """Return True when an endpoint serves an affected model now."""
        return any(e["serving_affected"] for e in self.endpoints)

    def as_dict(self) -> dict[str, Any]:
        """Return the impact as JSON-ready values."""
        return {
            "datasets": [
                {"arn": d.arn, "uri": d.source_uri, "type": d.type} for d in self.datasets
            ],
            "models": list(self.models),
            "approvals": list(self.approvals),
            "endpoints": list(self.endpoints),
            "deployed": self.deployed,
        }


def _from(edges: Iterable[Edge], arn: str, kind: AssociationType) -> list[str]:
    return [e.source_arn for e in edges if e.destination_arn == arn and e.association_type is kind]


def _serving(store: LineageStore, endpoint: Context) -> Action | None:
    """Return the newest Completed deployment associated with the endpoint (in the store,
    not only in the walk: a later deployment may serve something else)."""
    linked = store.list_associations(
        destination_arn=endpoint.arn, association_type=AssociationType.ASSOCIATED_WITH
    ).items
    actions = [
        e
        for e in store.get_many([a.source_arn for a in linked]).values()
        if isinstance(e, Action) and e.status is ActionStatus.COMPLETED
    ]
    return max(actions, key=lambda a: (a.created, a.arn)) if actions else None


def impact(store: LineageStore, datasets: Iterable[Artifact]) -> Impact:
    """Return every model, approval and endpoint downstream of the data sets."""
    starts = tuple(datasets)
    if not starts:
        raise ValueError("impact needs at least one data set")
    entities, edges = walk(store, [d.arn for d in starts], Direction.DESCENDANTS)
    start_arns = {d.arn for d in starts}
    reached: Mapping[str, Entity] = {k: v for k, v in entities.items() if k not in start_arns}
    models = []
    model_arns = set()
    for arn, e in sorted(reached.items()):
        if isinstance(e, Artifact) and e.type in MODEL_TYPES:
            makers = [reached.get(s) for s in _from(edges, arn, AssociationType.PRODUCED)]
            maker = next((m for m in makers if isinstance(m, Action)), None)
            models.append(
                {
                    "arn": arn,
                    "uri": e.source_uri,
                    "type": e.type,
                    "task": maker.properties.get("airflow:task_id") if maker else None,
                    **_run(maker),
                }
            )
            model_arns.add(arn)
    approvals = []
    for arn, e in sorted(reached.items()):
        if isinstance(e, Action) and e.type == APPROVAL_TYPE:
            judged = [
                s for s in _from(edges, arn, AssociationType.CONTRIBUTED_TO) if s in model_arns
            ]
            approvals.append({"arn": arn, "status": e.status.value, "models": judged, **_run(e)})
    endpoints = []
    for arn, e in sorted(reached.items()):
        if isinstance(e, Context) and e.type == ENDPOINT_TYPE:
            serving = _serving(store, e)
            affected = serving is not None and serving.arn in reached
            served = (
                [
                    s
                    for s in _from(edges, serving.arn, AssociationType.CONTRIBUTED_TO)
                    if s in model_arns
                ]
                if affected and serving
                else []
            )
            endpoints.append(
                {
                    "arn": arn,
                    "uri": e.source_uri,
                    "deployment": serving.arn if serving else None,
                    **_run(serving),
                    "models": served,
                    "serving_affected": affected,
                }
            )

    def order(item: dict[str, Any]) -> tuple[str, str]:
        return (str(item.get("run_id") or ""), str(item.get("uri") or item["arn"]))

    return Impact(
        starts,
        tuple(sorted(models, key=order)),
        tuple(sorted(approvals, key=order)),
        tuple(sorted(endpoints, key=order)),
    )
