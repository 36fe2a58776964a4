"""The page's two views, the diff of two models and the impact of a data set, restricted
to what one user may see.

:mod:`airflow_lineage.compare` and :mod:`airflow_lineage.impact` read the whole store. Here
their starts are resolved among the entities the user may see only, a walk through
visible vertices only (:class:`airflow_lineage.ui.walk.Walk`) bounds what an answer may
name, and every entity they report outside that walk is left out (or, for an endpoint's
current deployment, named only when the user may see it). A model whose producing step
the user may not see has no recipe for them, exactly as one with no producing step.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from airflow_lineage.compare import diff
from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.impact import impact
from airflow_lineage.model import (
    Action,
    Arn,
    Artifact,
    AssociationType,
    Context,
    Direction,
    Entity,
    LineageType,
)
from airflow_lineage.recipe import ENDPOINT_TYPE, MODEL_TYPES, Provenance, provenance, run_of
from airflow_lineage.store.base import LineageStore
from airflow_lineage.ui.access import Reader
from airflow_lineage.ui.walk import Budget, Walk

__all__ = ["diff_view", "impact_view", "start_kind"]

MAX_VIEW_DEPTH = 100
"""Most associations a view's walk follows from its start."""
VIEW_LIMIT = 50_000
"""Most visible vertices a view's walk keeps."""
_URI = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def start_kind(text: str, what: str) -> str:
    """Return how a start is named: ``arn``, ``uri`` (it has a scheme) or ``name``.

    :param what: what the start is, for the error (``model A``, ``the data set``).
    :raises ValueError: the text is empty, or starts like an ARN and is not one.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"name {what} by its ARN, source URI or name")
    if text.startswith("arn:"):
        Arn.parse(text, field_name=what)
        return "arn"
    return "uri" if _URI.match(text) else "name"


def _visible(walk: Walk, text: str, what: str) -> tuple[str, list[Entity]]:
    """Return how ``text`` names entities and those of them the user may see, ARN order.

    :raises EntityNotFoundError: none (missing and hidden alike).
    """
    kind = start_kind(text, what)
    store = walk.store
    if kind == "arn":
        arns = [text]
    else:
        arns = []
        for lt in (LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT):
            uri, name = (text, None) if kind == "uri" else (None, text)
            page = store.list_entities(lt, source_uri=uri, name=name)
            arns += [e.arn for e in page.items]
    found = store.get_many(list(dict.fromkeys(arns)))
    seen = walk.attribution.visible(walk.reader, [e.vertex() for e in found.values()])
    if not seen:
        raise EntityNotFoundError(f"no lineage entity you may read has this {_KINDS[kind]}: {text}")
    return kind, sorted((found[v.arn] for v in seen), key=lambda e: e.arn)


_KINDS = {"arn": "ARN", "uri": "source URI", "name": "name"}


def _walk(store: LineageStore, reader: Reader, starts: Sequence[str], d: Direction) -> Walk:
    walk = Walk(store, reader, Budget.default(VIEW_LIMIT))
    walk.walk(walk.starts(list(starts)), d, MAX_VIEW_DEPTH)
    return walk


# -- diff ----------------------------------------------------------------------------


def _is_subject(e: Entity) -> bool:
    return (isinstance(e, Artifact) and e.type in MODEL_TYPES) or (
        isinstance(e, Context) and e.type == ENDPOINT_TYPE
    )


def _subject(walk: Walk, text: str, what: str) -> Entity:
    """Return the one model or endpoint the user may see that ``text`` names.

    :raises EntityNotFoundError: none the user may see.
    :raises ValueError: it names something else, or several (they are listed).
    """
    _, seen = _visible(walk, text, what)
    subjects = [e for e in seen if _is_subject(e)]
    if not subjects:
        kinds = ", ".join(sorted({f"{e.lineage_type.value} {e.type}" for e in seen}))
        raise ValueError(
            f"{what} ({text}) is a {kinds}, neither a model "
            f"({', '.join(MODEL_TYPES)}) nor an {ENDPOINT_TYPE}"
        )
    if len(subjects) > 1:
        listing = "; ".join(f"{e.type} {e.arn}" for e in subjects)
        raise ValueError(f"{len(subjects)} models or endpoints match {what} ({text}): {listing}")
    return subjects[0]


def _recipe(store: LineageStore, reader: Reader, subject: Entity) -> tuple[Provenance, Walk]:
    """Return the recipe of a visible subject, of what the user may see only.

    :raises EntityNotFoundError: no step the user may see produced (or deployed) it.
    """
    verb = "produced" if isinstance(subject, Artifact) else "deployed to"
    no_recipe = EntityNotFoundError(
        f"no Completed step you may read {verb} {subject.arn}: it has no recipe"
    )
    try:
        prov = provenance(store, subject)
    except EntityNotFoundError:
        raise no_recipe from None
    assert prov.action is not None  # provenance raises without one
    walk = _walk(store, reader, [prov.action.arn], Direction.ASCENDANTS)
    kept = walk.kept
    if prov.action.arn not in kept:
        raise no_recipe
    return (
        dataclasses.replace(
            prov,
            models=tuple(m for m in prov.models if m.arn == subject.arn or m.arn in kept),
            steps=tuple(s for s in prov.steps if s.arn in kept),
            inputs=tuple(i for i in prov.inputs if i.arn in kept),
            produced_in_run=frozenset(a for a in prov.produced_in_run if a in kept),
        ),
        walk,
    )


def diff_view(store: LineageStore, reader: Reader, a: str, b: str) -> dict[str, Any]:
    """Return what differs between two models' (or endpoints') recipes, as far as the
    user may see them.

    :raises ValueError: a start is malformed, or names no model or several.
    :raises EntityNotFoundError: a start names nothing the user may see, or nothing they may see
        produced it.
    """
    finder = Walk(store, reader, Budget.default(VIEW_LIMIT))
    subjects = [_subject(finder, a, "model A"), _subject(finder, b, "model B")]
    (pa, wa), (pb, wb) = (_recipe(store, reader, s) for s in subjects)
    body = diff(pa, pb).as_dict()
    why = wa.truncated or wb.truncated
    body.update(truncated=why is not None, truncation=why)
    return body


# -- impact --------------------------------------------------------------------------


def _datasets(walk: Walk, text: str) -> list[Artifact]:
    """Return the artifacts the user may see that ``text`` names (every version of a URI).

    :raises EntityNotFoundError: none the user may see.
    :raises ValueError: an ARN names something other than an artifact.
    """
    kind, seen = _visible(walk, text, "the data set")
    found = [e for e in seen if isinstance(e, Artifact)]
    if not found:
        if kind == "arn":
            raise ValueError(f"{text} is a {seen[0].lineage_type.value}, not an artifact")
        raise EntityNotFoundError(f"no data set you may read has this {_KINDS[kind]}: {text}")
    return found


def impact_view(store: LineageStore, reader: Reader, dataset: str) -> dict[str, Any]:
    """Return the models, approvals and endpoints a data set reached through lineage the
    user may see, and which endpoints serve an affected model now.

    :raises ValueError: the start is malformed or names no artifact.
    :raises EntityNotFoundError: it names nothing the user may see.
    """
    finder = Walk(store, reader, Budget.default(VIEW_LIMIT))
    datasets = _datasets(finder, dataset)
    walk = _walk(store, reader, [d.arn for d in datasets], Direction.DESCENDANTS)
    kept = walk.kept
    body = impact(store, datasets).as_dict()
    makers: dict[str, list[str]] = {}
    for e in walk.edges():
        if e.association_type is AssociationType.PRODUCED:
            makers.setdefault(e.destination_arn, []).append(e.source_arn)
    steps = store.get_many(sorted({s for ss in makers.values() for s in ss}))

    def made_as_said(m: dict[str, Any]) -> bool:
        """A model's step, task and run are shown only from a step the user may see."""
        return any(
            isinstance(s := steps.get(arn), Action)
            and run_of(s) == (m["dag_id"], m["run_id"])
            and s.properties.get("airflow:task_id") == m["task"]
            for arn in makers.get(m["arn"], ())
        )

    models = []
    for m in body["models"]:
        if m["arn"] in kept:
            if not made_as_said(m):
                m = {**m, "task": None, "dag_id": None, "run_id": None}
            models.append(m)
    approvals = [
        {**ap, "models": [x for x in ap["models"] if x in kept]}
        for ap in body["approvals"]
        if ap["arn"] in kept
    ]
    endpoints = [_endpoint(walk, ep) for ep in body["endpoints"] if ep["arn"] in kept]
    why = walk.truncated
    return {
        "datasets": [d for d in body["datasets"] if d["arn"] in kept],
        "models": models,
        "approvals": approvals,
        "endpoints": endpoints,
        "deployed": any(ep["serving_affected"] for ep in endpoints),
        "truncated": why is not None,
        "truncation": why,
    }


def _endpoint(walk: Walk, ep: dict[str, Any]) -> dict[str, Any]:
    """Return an endpoint's entry as the user may see it: its current deployment counts
    as affected only when the walk reached it through visible lineage, and is named only
    when the user may see it."""
    deployment = ep["deployment"]
    if deployment is None or deployment in walk.kept:
        return {**ep, "models": [m for m in ep["models"] if m in walk.kept]}
    found = walk.store.get_many([deployment])
    shown = walk.attribution.visible(walk.reader, [e.vertex() for e in found.values()])
    if shown:
        return {**ep, "models": [], "serving_affected": False}
    return {
        **ep,
        "deployment": None,
        "dag_id": None,
        "run_id": None,
        "models": [],
        "serving_affected": False,
    }
