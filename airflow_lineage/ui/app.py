"""The UI API and page: lineage graphs as JSON, behind Airflow's own auth.

Mounted by the plugin under ``/lineage`` in the Airflow API server::

    GET /lineage/ui                                     the page (no data in it)
    GET /lineage/api/dag-runs/{dag_id}/{run_id}/graph   lineage of a DAG run
    GET /lineage/api/graph?arn=…|uri=…                  lineage of any entity
    GET /lineage/api/entity?arn=…                       one entity's fields

Graph endpoints take ``direction`` (``upstream``/``Ascendants``, ``downstream``/
``Descendants``, ``both`` = upstream and downstream merged, ``undirected`` = SageMaker's
``Both`` walk, which through a pipeline context reaches every run of the DAG), ``depth``
(0-100, default 10) and ``limit`` (most vertices drawn, default 5000).

Authorisation (Airflow's auth manager decides every question):

- No valid JWT (``Authorization: Bearer`` or the UI's ``_token`` cookie): 401/403.
- A DAG run's lineage needs read access to the DAG's runs (``requires_access_dag``).
- Lineage is attributed to DAGs by the ``airflow:dag_id`` property that captured
  actions and contexts carry. In every answer, vertices of DAGs the user cannot read
  are withheld, and so is everything reachable from the start only through them (the
  answer says how many were ``hidden``). A start entity of a DAG the user cannot read is
  refused (403). An answer that holds no vertex of a readable DAG (lineage not captured
  by Airflow, e.g. imported) needs read access to all DAGs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse, RedirectResponse

from airflow_lineage import records
from airflow_lineage.exceptions import EntityNotFoundError, LineageError
from airflow_lineage.model import Arn, Direction, Edge, Entity, LineageType, Vertex
from airflow_lineage.query import LineageQuery
from airflow_lineage.render import build_graph, graph_json, page_html
from airflow_lineage.store.base import LineageStore

if TYPE_CHECKING:
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

__all__ = ["DIRECTIONS", "create_app", "reset_store", "run_context_uri", "visible"]

DIRECTIONS: dict[str, tuple[Direction, ...]] = {
    "upstream": (Direction.ASCENDANTS,),
    "ascendants": (Direction.ASCENDANTS,),
    "downstream": (Direction.DESCENDANTS,),
    "descendants": (Direction.DESCENDANTS,),
    "both": (Direction.ASCENDANTS, Direction.DESCENDANTS),
    "undirected": (Direction.BOTH,),
}
"""The page's directions, with SageMaker's names as aliases (case-insensitive)."""

MAX_UI_DEPTH = 100
DEFAULT_LIMIT = 5000
MAX_LIMIT = 50000
DAG_ID_PROPERTY = "airflow:dag_id"

_store_lock = threading.Lock()
_stores: dict[tuple[str | None, str | None, str | None], LineageStore] = {}


def _store() -> LineageStore:
    """Return the store the lineage connection names, opened once per process."""
    from airflow_lineage import config
    from airflow_lineage.hooks.lineage import LineageHook
    from airflow_lineage.store import connect

    settings = LineageHook().store_settings()
    key = (settings["url"] or config.default_store_url(), settings["account"], settings["region"])
    with _store_lock:
        store = _stores.get(key)
        if store is None:
            store = connect(key[0], account=key[1], region=key[2])
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


def visible(
    dag_of: Mapping[str, str | None],
    edges: Iterable[Edge],
    starts: Sequence[str],
    can_read: Callable[[str | None], bool],
) -> tuple[set[str], int]:
    """Return the vertices a user may see, and how many were withheld.

    :param dag_of: every vertex's DAG id (None for vertices no DAG captured).
    :param can_read: whether the user may read a DAG (None: every DAG).
    :raises PermissionError: a start belongs to an unreadable DAG, or nothing left is
        attributable to a readable DAG and the user may not read every DAG.
    """
    dags = {d for d in dag_of.values() if d is not None}
    readable = {d for d in dags if can_read(d)}
    blocked = {arn for arn, d in dag_of.items() if d is not None and d not in readable}
    if any(s in blocked for s in starts):
        raise PermissionError("the start entity belongs to a DAG you cannot read")
    near: dict[str, list[str]] = {}
    for e in edges:
        if e.source_arn in blocked or e.destination_arn in blocked:
            continue
        near.setdefault(e.source_arn, []).append(e.destination_arn)
        near.setdefault(e.destination_arn, []).append(e.source_arn)
    seen = {s for s in starts if s in dag_of}
    todo = list(seen)
    while todo:
        for w in near.get(todo.pop(), ()):
            if w not in seen and w in dag_of:
                seen.add(w)
                todo.append(w)
    if not any(dag_of[a] is not None for a in seen) and not can_read(None):
        raise PermissionError("this lineage belongs to no DAG you can read")
    return seen, len(dag_of) - len(seen)


def _reader(user: BaseUser) -> Callable[[str | None], bool]:
    """Return a cached test of whether ``user`` may read a DAG (None: all DAGs)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.models.dag import DagModel

    manager = get_auth_manager()
    answers: dict[str | None, bool] = {}

    def can_read(dag_id: str | None) -> bool:
        if dag_id not in answers:
            team = DagModel.get_team_name(dag_id) if dag_id else None
            answers[dag_id] = manager.is_authorized_dag(
                method="GET", details=DagDetails(id=dag_id, team_name=team), user=user
            )
        return answers[dag_id]

    return can_read


# -- graph building ------------------------------------------------------------------


def _directions(text: str) -> tuple[Direction, ...]:
    found = DIRECTIONS.get(text.lower())
    if found is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"direction must be one of {', '.join(DIRECTIONS)}, got {text!r}",
        )
    return found


def _walk(
    store: LineageStore,
    starts: Sequence[str],
    directions: Sequence[Direction],
    depth: int,
    limit: int,
) -> tuple[list[Vertex], list[Edge], bool]:
    """Run one query per direction and merge them; cut at ``limit`` vertices."""
    vertices: dict[str, Vertex] = {}
    edges: dict[tuple[str, str], Edge] = {}
    truncated = False
    for d in directions:
        result = store.query(
            LineageQuery(
                start_arns=tuple(starts),
                direction=d,
                include_edges=True,
                max_depth=depth,
                max_results=limit,
            )
        )
        truncated = truncated or result.next_token is not None
        for v in result.vertices:
            vertices.setdefault(v.arn, v)
        for e in result.edges:
            edges.setdefault((e.source_arn, e.destination_arn), e)
    kept = list(vertices.values())
    if len(kept) > limit:
        first = [v for v in kept if v.arn in set(starts)]
        rest = [v for v in kept if v.arn not in set(starts)]
        kept = (first + rest)[:limit]
        truncated = True
    arns = {v.arn for v in kept}
    kept_edges = [e for e in edges.values() if e.source_arn in arns and e.destination_arn in arns]
    return kept, kept_edges, truncated


def _graph(
    store: LineageStore,
    user: BaseUser,
    walk_from: Sequence[str],
    marked: Sequence[str],
    direction: str,
    depth: int,
    limit: int,
) -> dict[str, Any]:
    """Return the JSON graph a user may see of a walk from ``walk_from``."""
    vertices, edges, truncated = _walk(store, walk_from, _directions(direction), depth, limit)
    entities = store.get_many([v.arn for v in vertices])
    dag_of = {v.arn: _dag(entities.get(v.arn)) for v in vertices}
    try:
        seen, hidden = visible(dag_of, edges, list(walk_from), _reader(user))
    except PermissionError as e:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
    graph = build_graph(
        None,
        [v for v in vertices if v.arn in seen],
        [e for e in edges if e.source_arn in seen and e.destination_arn in seen],
        list(marked),
        entities=entities,
        truncated=truncated,
    )
    body = graph_json(graph, with_records=False)
    body["hidden"] = hidden
    body["direction"] = direction.lower()
    body["depth"] = depth
    return body


def _dag(entity: Entity | None) -> str | None:
    return None if entity is None else entity.properties.get(DAG_ID_PROPERTY)


def _find(store: LineageStore, source_uri: str) -> list[str]:
    found: list[str] = []
    for kind in (LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT):
        found += [e.arn for e in store.list_entities(kind, source_uri=source_uri).items]
    return found


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
        direction: str = direction_q,
        depth: int = depth_q,
        limit: int = limit_q,
    ) -> dict[str, Any]:
        """The lineage of a DAG run: its steps and what they read and wrote, upstream
        and downstream (needs read access to the DAG's runs)."""

        def call() -> dict[str, Any]:
            store = _store()
            uri = run_context_uri(dag_id, run_id)
            contexts = store.list_entities("Context", source_uri=uri).items
            if not contexts:
                raise EntityNotFoundError(f"no lineage was recorded for the DAG run {uri}")
            ctx = contexts[0].arn
            steps = store.list_associations(destination_arn=ctx).items
            actions = [a.source_arn for a in steps if ":action/" in a.source_arn]
            body = _graph(store, user, [ctx, *actions], [ctx], direction, depth, limit)
            body["dagId"], body["runId"] = dag_id, run_id
            return body

        return guard(call)

    @api.get("/api/graph")
    def entity_graph(
        user: GetUserDep,
        arn: str | None = Query(None, description="the start entity's ARN"),
        uri: str | None = Query(None, description="start from every entity with this URI"),
        direction: str = direction_q,
        depth: int = depth_q,
        limit: int = limit_q,
    ) -> dict[str, Any]:
        """The lineage of any entity (a model, a data set, an endpoint) by ARN or URI."""
        if (arn is None) == (uri is None):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "give arn or uri (one of the two)")

        def call() -> dict[str, Any]:
            store = _store()
            if arn is not None:
                Arn.parse(arn, field_name="arn")
                store.get(arn)
                starts = [arn]
            else:
                starts = _find(store, str(uri))
                if not starts:
                    raise EntityNotFoundError(f"no lineage entity has the source URI {uri!r}")
            return _graph(store, user, starts, starts, direction, depth, limit)

        return guard(call)

    @api.get("/api/entity")
    def entity(
        user: GetUserDep,
        arn: str = Query(..., description="the entity's ARN"),
    ) -> dict[str, Any]:
        """One entity's fields (for the page's properties panel)."""

        def call() -> dict[str, Any]:
            store = _store()
            Arn.parse(arn, field_name="arn")
            found = store.get(arn)
            incoming = store.list_associations(destination_arn=arn).items
            outgoing = store.list_associations(source_arn=arn).items
            ends = [a.source_arn for a in incoming] + [a.destination_arn for a in outgoing]
            neighbours = store.get_many(list(dict.fromkeys(ends)))
            dag_of = {arn: _dag(found)} | {a: _dag(e) for a, e in neighbours.items()}
            edges = [a.edge() for a in (*incoming, *outgoing)]
            try:
                visible(dag_of, edges, [arn], _reader(user))
            except PermissionError as e:
                raise HTTPException(status.HTTP_403_FORBIDDEN, str(e)) from None
            return {
                "record": records.to_record(found),
                "incoming": len(incoming),
                "outgoing": len(outgoing),
            }

        return guard(call)

    return api
