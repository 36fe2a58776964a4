"""What one model came from, read from the store: its run, steps, inputs and settings.

``reproduce``, ``diff`` and ``impact`` all start here. A model (an artifact of a model
type) or an endpoint (a context) is resolved; the action that ``Produced`` the model
names the Airflow DAG run; one upstream walk gives every step and input. Steps are
those of that DAG run only: a data set shared by many runs (the same content, so the
same artifact) was produced by every run that wrote it, and those other runs are not
part of this model's recipe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Arn,
    Artifact,
    AssociationType,
    Context,
    Direction,
    Edge,
    Entity,
)
from airflow_lineage.query import MAX_DEPTH, LineageQuery
from airflow_lineage.store.base import LineageStore

__all__ = [
    "ENDPOINT_TYPE",
    "MODEL_TYPES",
    "Provenance",
    "is_arn",
    "model_of",
    "provenance",
    "resolve_subject",
    "walk",
]

MODEL_TYPES = ("Model", "ModelPackage")
ENDPOINT_TYPE = "Endpoint"
PARAM = "param:"
METRIC = "metric:"


def walk(
    store: LineageStore, starts: Iterable[str], direction: Direction
) -> tuple[dict[str, Entity], list[Edge]]:
    """Return every entity reached from ``starts`` (the starts included) and the edges,
    following every page of the query.

    :raises EntityNotFoundError: a start names no entity.
    """
    query = LineageQuery(
        start_arns=tuple(starts), direction=direction, include_edges=True, max_depth=MAX_DEPTH
    )
    arns: list[str] = []
    edges: list[Edge] = []
    while True:
        page = store.query(query)
        arns.extend(v.arn for v in page.vertices)
        edges.extend(page.edges)
        if page.next_token is None:
            break
        query = LineageQuery(
            start_arns=query.start_arns,
            direction=direction,
            include_edges=True,
            max_depth=MAX_DEPTH,
            next_token=page.next_token,
        )
    entities = store.get_many(list(dict.fromkeys([*query.start_arns, *arns])))
    return entities, list(dict.fromkeys(edges))


def is_arn(text: str) -> bool:
    """Return True when ``text`` is a SageMaker lineage ARN."""
    try:
        Arn.parse(text)
    except (ValueError, TypeError):
        return False
    return True


def resolve_subject(store: LineageStore, text: str) -> Entity:
    """Return the model artifact or endpoint context an ARN or source URI names.

    :raises EntityNotFoundError: nothing of a model type, and no endpoint, has it.
    :raises ValueError: several models have the URI (they are listed; give the ARN), or
        the ARN names something that is neither a model nor an endpoint.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("name the model by its ARN or source URI")
    if is_arn(text):
        entity = store.get(text)
    else:
        models = [
            a
            for a in store.list_entities("Artifact", source_uri=text).items
            if a.type in MODEL_TYPES
        ]
        endpoints = [
            c
            for c in store.list_entities("Context", source_uri=text).items
            if c.type == ENDPOINT_TYPE
        ]
        found: list[Entity] = [*models, *endpoints]
        if not found:
            raise EntityNotFoundError(
                f"no model ({', '.join(MODEL_TYPES)}) and no endpoint has the source URI {text!r}"
            )
        if len(found) > 1:
            listing = "; ".join(f"{e.type} {e.arn}" for e in found)
            raise ValueError(
                f"{len(found)} models or endpoints have the source URI {text!r}: {listing}. "
                "Name one by its ARN."
            )
        entity = found[0]
    if isinstance(entity, Artifact) and entity.type in MODEL_TYPES:
        return entity
    if isinstance(entity, Context) and entity.type == ENDPOINT_TYPE:
        return entity
    raise ValueError(
        f"{entity.arn} is a {entity.lineage_type.value} of type {entity.type}, "
        f"neither a model ({', '.join(MODEL_TYPES)}) nor an {ENDPOINT_TYPE}"
    )


def _sources(store: LineageStore, arn: str, kind: AssociationType) -> list[str]:
    return [
        a.source_arn
        for a in store.list_associations(destination_arn=arn, association_type=kind).items
    ]


def _newest(actions: Iterable[Entity]) -> Action | None:
    done = [a for a in actions if isinstance(a, Action) and a.status is ActionStatus.COMPLETED]
    return max(done, key=lambda a: (a.created, a.arn)) if done else None


def model_of(store: LineageStore, subject: Entity) -> tuple[list[Artifact], Action | None]:
    """Return the models a subject stands for and the action that made (or deployed) them.

    A model is itself, with the newest Completed action that ``Produced`` it. An
    endpoint stands for the models (artifacts of a model type) its newest Completed
    deployment read.
    """
    if isinstance(subject, Artifact):
        producers = store.get_many(_sources(store, subject.arn, AssociationType.PRODUCED))
        return [subject], _newest(producers.values())
    deployments = store.get_many(_sources(store, subject.arn, AssociationType.ASSOCIATED_WITH))
    deploy = _newest(deployments.values())
    if deploy is None:
        return [], None
    read = store.get_many(_sources(store, deploy.arn, AssociationType.CONTRIBUTED_TO))
    models = [a for a in read.values() if isinstance(a, Artifact) and a.type in MODEL_TYPES]
    return sorted(models, key=lambda a: a.arn), deploy


def run_of(action: Action | None) -> tuple[str, str] | None:
    """Return the (dag_id, run_id) an Airflow step's action records, else None."""
    if action is None:
        return None
    dag_id = action.properties.get("airflow:dag_id")
    run_id = action.properties.get("airflow:run_id")
    return (dag_id, run_id) if dag_id and run_id else None


@dataclass(frozen=True, slots=True)
class Provenance:
    """A model's (or endpoint's) recipe as lineage recorded it.

    :param subject: the model artifact or endpoint context asked about.
    :param models: the models it stands for (the subject itself for a model).
    :param action: the step that produced the model (or deployed to the endpoint).
    :param run: (dag_id, run_id) of that step's DAG run, when it is an Airflow step.
    :param steps: the upstream steps of that run (and the action), oldest first.
    :param inputs: every artifact a step of that run read (not the models).
    :param produced_in_run: the inputs a step of the same run produced (rebuilt by a rerun).
    """

    subject: Entity
    models: tuple[Artifact, ...]
    action: Action | None
    run: tuple[str, str] | None
    steps: tuple[Action, ...]
    inputs: tuple[Artifact, ...]
    produced_in_run: frozenset[str]

    @property
    def parameters(self) -> dict[str, str]:
        """Return ``task_id.name`` → value of every step's parameters."""
        return _prefixed(self.steps, PARAM)

    @property
    def metrics(self) -> dict[str, str]:
        """Return ``task_id.name`` → value of every step's metrics."""
        return _prefixed(self.steps, METRIC)

    @property
    def code_versions(self) -> dict[str, str]:
        """Return task_id → the code version its step recorded."""
        return {
            step_name(s): s.properties["code_version"]
            for s in self.steps
            if s.properties.get("code_version")
        }

    @property
    def images(self) -> tuple[Artifact, ...]:
        """Return the upstream container images."""
        return tuple(a for a in self.inputs if a.type == "Image")


def step_name(action: Action) -> str:
    """Return what a person calls a step: its task id (with map index), else its name."""
    task = action.properties.get("airflow:task_id")
    if not task:
        return action.name or action.arn
    index = action.properties.get("airflow:map_index")
    return f"{task}[{index}]" if index else task


def _prefixed(steps: Iterable[Action], prefix: str) -> dict[str, str]:
    return {
        f"{step_name(s)}.{key[len(prefix) :]}": value
        for s in steps
        for key, value in sorted(s.properties.items())
        if key.startswith(prefix)
    }


def _same_run(action: Entity, run: tuple[str, str] | None) -> bool:
    if not isinstance(action, Action):
        return False
    if run is None:
        return True
    return run_of(action) == run


def provenance(store: LineageStore, subject: Entity) -> Provenance:
    """Return the recipe of a model or endpoint: one upstream walk from what made it.

    :raises EntityNotFoundError: no Completed step produced the model (or deployed to
        the endpoint), so there is no recipe to read.
    """
    models, action = model_of(store, subject)
    if action is None:
        what = "produced" if isinstance(subject, Artifact) else "deployed to"
        raise EntityNotFoundError(f"no Completed step {what} {subject.arn}: it has no recipe")
    run = run_of(action)
    entities, edges = walk(store, [action.arn], Direction.ASCENDANTS)
    steps = [e for e in entities.values() if _same_run(e, run)]
    steps.sort(key=lambda a: (a.created, a.arn))
    step_arns = {s.arn for s in steps}
    read = {
        e.source_arn
        for e in edges
        if e.association_type is AssociationType.CONTRIBUTED_TO and e.destination_arn in step_arns
    }
    model_arns = {m.arn for m in models}
    inputs = sorted(
        (
            e
            for arn, e in entities.items()
            if isinstance(e, Artifact) and arn in read and arn not in model_arns
        ),
        key=lambda a: (a.source_uri, a.type, a.arn),
    )
    produced = frozenset(
        e.destination_arn
        for e in edges
        if e.association_type is AssociationType.PRODUCED and e.source_arn in step_arns
    )
    return Provenance(
        subject=subject,
        models=tuple(models),
        action=action,
        run=run,
        steps=tuple(s for s in steps if isinstance(s, Action)),
        inputs=tuple(inputs),
        produced_in_run=produced,
    )


def digest_map(artifact: Artifact) -> Mapping[str, str]:
    """Return an artifact's content identifiers as SourceIdType → value."""
    return {st.id_type.value: st.value for st in artifact.source_types}
