"""The UI API and page: lineage graphs as JSON, behind Airflow's own auth.

Mounted by the plugin under ``/lineage`` in the Airflow API server::

    GET /lineage/ui                                     the page (no data in it)
    GET /lineage/api/dag-runs/{dag_id}/{run_id}/graph   lineage of a DAG run
    GET /lineage/api/graph?arn=…|uri=…                  lineage of any entity
    GET /lineage/api/entity?arn=…                       one entity's fields
    GET /lineage/api/diff?a=…&b=…                       what differs between two models
    GET /lineage/api/impact?dataset=…                   what a data set reached

A DAG run's graph takes ``scope``: ``run`` (default) is the run's own lineage (its
context, its steps, what they read and wrote, their contexts, and the run's task-run
contexts, which link the tries of each task); ``all`` walks from the run's context and
steps like the entity graph, through other runs too. Walks take
``direction`` (``upstream``/``Ascendants``, ``downstream``/``Descendants``, ``both`` =
upstream and downstream merged, ``undirected`` = SageMaker's ``Both`` walk, which through
a pipeline context reaches every run of the DAG), ``depth`` (0-100, default 10) and
``limit`` (most vertices drawn, default 5000). One request's work is capped
(:mod:`airflow_lineage.ui.walk`): a cut-off answer has ``truncated: true`` and says why in
``truncation``.

Authorisation (Airflow's auth manager decides every question, before lineage is read):

- No valid JWT (``Authorization: Bearer`` or the UI's ``_token`` cookie): 401/403.
- A user who may read no DAG gets 403 from every lineage endpoint, before any lookup.
- A DAG run's lineage needs read access to the DAG's runs (``requires_access_dag``).
- Vertices are attributed to DAGs through capture's run contexts, never through
  properties (:mod:`airflow_lineage.ui.access`). Vertices the user may not see are left
  out of every answer with their edges, and the walk does not go on through them; no
  answer counts them.
- An entity the user may not see and an entity that does not exist get the same 404
  with the same body.
- The diff and impact views (:mod:`airflow_lineage.ui.views`) name only what the same
  walk, through visible vertices, reaches.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse

from airflow_lineage import records
from airflow_lineage.capture.record import RUN_CONTEXT_TYPE
from airflow_lineage.exceptions import EntityNotFoundError, LineageError
from airflow_lineage.model import Arn, Direction, LineageType
from airflow_lineage.render import build_graph, graph_json, page_html
from airflow_lineage.store.base import LineageStore
from airflow_lineage.ui.access import Reader, context_dag
from airflow_lineage.ui.views import diff_view, impact_view
from airflow_lineage.ui.walk import Budget, Walk

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

__all__ = ["DIRECTIONS", "SCOPES", "create_app", "reset_store", "run_context_uri"]

DIRECTIONS: dict[str, tuple[Direction, ...]] = {
    "upstream": (Direction.ASCENDANTS,),
    "ascendants": (Direction.ASCENDANTS,),
    "downstream": (Direction.DESCENDANTS,),
    "descendants": (Direction.DESCENDANTS,),
    "both": (Direction.ASCENDANTS, Direction.DESCENDANTS),
    "undirected": (Direction.BOTH,),
}
"""The page's directions, with SageMaker's names as aliases (case-insensitive)."""

SCOPES: dict[str, bool] = {"run": False, "all": True}
"""A DAG run's graph: its own lineage (``run``) or all the walk reaches (``all``)."""

MAX_UI_DEPTH = 100
DEFAULT_LIMIT = 5000
MAX_LIMIT = 50000

_store_lock = threading.Lock()
_stores: dict[tuple[str | None, str | None, str | None], LineageStore] = {}


def _store() -> LineageStore:
    """Return the lineage store, found the one way capture, the gate and the CLI find it
    (:func:`airflow_lineage.store.connect`), opened once per process and per location.

    :raises StoreError: the store cannot be reached or holds no lineage schema.
    """
    from airflow_lineage.store import connect, locate

    # Resolved on every request, so a changed lineage connection is read without a
    # restart; opened (engines, pools) only when the location is new.
    where = locate()
    key = (where.url, where.account, where.region)
    with _store_lock:
        store = _stores.get(key)
        if store is None:
            store = connect()
            _stores[key] = store
        return store


def reset_store() -> None:
    """Close the stores this process opened (tests, configuration changes)."""
    with _store_lock:
        for store in _stores.values():
            store.close()
        _stores.clear()


def run_context_uri(dag_id: str, run_id: str) -> str:
    """Return the SourceUri of a DAG run's context, as capture records it."""
    return f"airflow://dags/{dag_id}/runs/{run_id}"


# -- authorisation -------------------------------------------------------------------


def _reader(user: BaseUser, allowed: str | None = None) -> Reader:
    """Ask Airflow's auth manager what ``user`` may read, before any lineage is read.

    :param allowed: a DAG the request's own dependency has just allowed.
    :raises HTTPException: 403, the user may read no DAG at all.
    """
    from airflow.api_fastapi.app import get_auth_manager

    manager = get_auth_manager()
    if manager.is_authorized_dag(method="GET", user=user):  # no details: every DAG
        return Reader(True)
    dags = frozenset(manager.get_authorized_dag_ids(user=user, method="GET"))
    if allowed is not None:
        dags |= {allowed}
    if not dags:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "you may read no DAG, so no lineage")
    return Reader(False, dags)


def _not_found(what: str) -> HTTPException:
    """Return the one answer for an entity that does not exist or that the user may not
    see: the same status and body either way, so it tells nothing about existence."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no lineage entity you may read has {what}")


# -- graph building ------------------------------------------------------------------


def _choice(name: str, text: str, choices: Mapping[str, Any]) -> Any:
    found = choices.get(text.lower())
    if found is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{name} must be one of {', '.join(choices)}, got {text!r}",
        )
    return found


def _body(walk: Walk, marked: Sequence[str]) -> dict[str, Any]:
    """Return the JSON graph of what ``walk`` kept: its vertices and the edges between them."""
    vertices = list(walk.kept.values())
    entities = walk.store.get_many(list(walk.kept))
    graph = build_graph(
        None,
        vertices,
        walk.edges(),
        list(marked),
        entities=entities,
        truncated=walk.truncated is not None,
    )
    body = graph_json(graph, with_records=False)
    for node in body["nodes"]:
        # The DAGs capture's run contexts establish, never a writer's property.
        dags = walk.reader.shown_dags(walk.attribution.claims(node["arn"]))
        node["dagIds"] = dags
        node["dagId"] = dags[0] if len(dags) == 1 else None
    body["truncation"] = walk.truncated
    return body


def _find(
    store: LineageStore, *, source_uri: str | None = None, name: str | None = None
) -> list[str]:
    found: list[str] = []
    for kind in (LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT):
        page = store.list_entities(kind, source_uri=source_uri, name=name)
        found += [e.arn for e in page.items]
    return found


def _run_contexts(store: LineageStore, dag_id: str, run_id: str) -> list[str]:
    """Return the ARNs of the DAG-run contexts capture recorded for a run (forgeries with
    the same source URI but another name are not among them)."""
    uri = run_context_uri(dag_id, run_id)
    return [
        c.arn
        for c in store.list_entities(
            LineageType.CONTEXT, type=RUN_CONTEXT_TYPE, source_uri=uri
        ).items
        if context_dag(c) == dag_id
    ]


# -- the app -------------------------------------------------------------------------


def create_app() -> FastAPI:
    """Return the FastAPI app of the lineage page and its API."""
    api = FastAPI(
        title="ML lineage",
        description="Lineage graphs of DAG runs, models and data sets (airflow-lineage).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def guard(call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return call()
        except EntityNotFoundError as e:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(e)) from None
        except (ValueError, TypeError) as e:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(e)) from None
        except LineageError as e:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(e)) from None

    depth_q = Query(10, ge=0, le=MAX_UI_DEPTH, description="most associations from a start")
    limit_q = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="most vertices returned")
    direction_q = Query("both", description=", ".join(DIRECTIONS))
    scope_q = Query("run", description="run: the run's own lineage; all: all it reaches")

    @api.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("ui")

    @api.get("/ui", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        """The lineage page. It holds no data: it asks the API with the user's session."""
        return HTMLResponse(
            page_html({"mode": "api"}),
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; frame-ancestors 'self'",
            },
        )

    @api.get(
        "/api/dag-runs/{dag_id}/{run_id}/graph",
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.RUN))],
    )
    def dag_run_graph(
        dag_id: str,
        run_id: str,
        user: GetUserDep,
        scope: str = scope_q,
        direction: str = direction_q,
        depth: int = depth_q,
        limit: int = limit_q,
    ) -> dict[str, Any]:
        """The lineage of a DAG run (needs read access to the DAG's runs): by default its
        own steps, what they read and wrote and its contexts; with ``scope=all``, all
        that the walk in ``direction`` reaches from them (other runs included)."""
        whole = _choice("scope", scope, SCOPES)
        directions = _choice("direction", direction, DIRECTIONS)

        def call() -> dict[str, Any]:
            reader = _reader(user, allowed=dag_id)
            store = _store()
            walk = Walk(store, reader, Budget.default(limit))
            contexts = walk.starts(_run_contexts(store, dag_id, run_id))
            if not contexts:
                raise EntityNotFoundError(
                    f"no lineage was recorded for the DAG run {run_context_uri(dag_id, run_id)}"
                )
            if whole:
                starts = contexts + [a for c in contexts for a in walk.run_steps(c)]
                for d in directions:
                    walk.walk(starts, d, depth)
            else:
                for ctx in contexts:
                    walk.run(ctx, dag_id, run_id)
            body = _body(walk, contexts)
            body.update(dagId=dag_id, runId=run_id, scope=scope.lower())
            if whole:
                body.update(direction=direction.lower(), depth=depth)
            return body

        return guard(call)

    @api.get("/api/graph")
    def entity_graph(
        user: GetUserDep,
        arn: str | None = Query(None, description="the start entity's ARN"),
        uri: str | None = Query(None, description="start from every entity with this URI"),
        name: str | None = Query(None, description="start from every entity with this name"),
        direction: str = direction_q,
        depth: int = depth_q,
        limit: int = limit_q,
    ) -> dict[str, Any]:
        """The lineage of any entity (a model, a data set, an endpoint) by ARN, URI or name."""
        if sum(v is not None for v in (arn, uri, name)) != 1:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, "give arn, uri or name (one of the three)"
            )
        directions = _choice("direction", direction, DIRECTIONS)

        def call() -> dict[str, Any]:
            reader = _reader(user)
            if arn is not None:
                Arn.parse(arn, field_name="arn")
            store = _store()
            walk = Walk(store, reader, Budget.default(limit))
            if arn is not None:
                starts = walk.starts([arn])
                if not starts:
                    raise _not_found("this ARN")
            elif uri is not None:
                starts = walk.starts(_find(store, source_uri=uri))
                if not starts:
                    raise _not_found("this source URI")
            else:
                starts = walk.starts(_find(store, name=name))
                if not starts:
                    raise _not_found("this name")
            for d in directions:
                walk.walk(starts, d, depth)
            body = _body(walk, starts)
            body.update(direction=direction.lower(), depth=depth)
            return body

        return guard(call)

    @api.get("/api/entity")
    def entity(
        user: GetUserDep,
        arn: str = Query(..., description="the entity's ARN"),
    ) -> dict[str, Any]:
        """One entity's fields (for the page's properties panel), and how many
        associations it has with entities the user may see."""

        def call() -> dict[str, Any]:
            reader = _reader(user)
            Arn.parse(arn, field_name="arn")
            store = _store()
            walk = Walk(store, reader, Budget.default(1))
            if not walk.starts([arn]):
                raise _not_found("this ARN")
            found = store.get(arn)
            cap = walk.budget.max_read
            incoming = store.list_associations(destination_arn=arn, max_results=cap)
            outgoing = store.list_associations(source_arn=arn, max_results=cap)
            ends = [a.source_arn for a in incoming.items] + [
                a.destination_arn for a in outgoing.items
            ]
            near = store.get_many(list(dict.fromkeys(ends)))
            seen = {
                v.arn for v in walk.attribution.visible(reader, [e.vertex() for e in near.values()])
            }
            dags = reader.shown_dags(walk.attribution.claims(arn))
            return {
                "record": records.to_record(found),
                "dagIds": dags,
                "incoming": sum(a.source_arn in seen for a in incoming.items),
                "outgoing": sum(a.destination_arn in seen for a in outgoing.items),
                "truncated": incoming.next_token is not None or outgoing.next_token is not None,
            }

        return guard(call)

    start_help = "an ARN, a source URI (it has a scheme) or a name"

    @api.get("/api/diff")
    def model_diff(
        user: GetUserDep,
        a: str = Query(..., description=f"model A: {start_help}"),
        b: str = Query(..., description=f"model B: {start_help}"),
    ) -> dict[str, Any]:
        """What differs between two models' (or endpoints') recipes: inputs, parameters,
        code versions, steps and metrics, as far as the user may see them."""

        def call() -> dict[str, Any]:
            reader = _reader(user)  # before the store is even opened
            return diff_view(_store(), reader, a, b)

        return guard(call)

    @api.get("/api/impact")
    def dataset_impact(
        user: GetUserDep,
        dataset: str = Query(..., description=f"the data set: {start_help}"),
    ) -> dict[str, Any]:
        """Every model, approval and endpoint a data set reached, with their DAG runs, and
        which endpoints serve an affected model now, as far as the user may see them."""

        def call() -> dict[str, Any]:
            reader = _reader(user)
            return impact_view(_store(), reader, dataset)

        return guard(call)

    return api
