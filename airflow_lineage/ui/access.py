"""Who may see a lineage vertex: DAGs learnt from capture's run contexts, never properties.

A vertex belongs to DAGs as follows (its *attribution*):

- A ``PipelineExecution`` (DAG run) or ``Pipeline`` (DAG) context belongs to the DAG in
  its source URI, believed only when the context's name is the one capture derives from
  that DAG (and run) id: a hash of the ids, so it cannot be claimed by editing a field.
- An action belongs to the DAGs of the DAG-run contexts it is ``AssociatedWith``.
- A ``TaskRun`` context (it links the tries of one task run) belongs to the DAG of the
  attributed actions ``AssociatedWith`` it, but only to the DAG in its own source URI,
  believed, as for a run context, only under the name capture derives from the DAG, run
  and task ids: an action of another DAG that links itself to it claims nothing, and a
  context with a name capture would not give it belongs to no DAG.
- Any other vertex (artifacts, endpoints, other contexts) belongs to the DAGs of the
  attributed actions one association away from it (what read it, wrote it, used it):
  each such action is one *claim* on it.

Properties such as ``airflow:dag_id`` play no part: any writer can set them.

A user who may read every DAG sees every vertex. Anyone else sees a DAG or DAG-run
context of a DAG they may read, an action only when they may read *every* DAG it is
attributed to (a second, forged run context can only hide it), a task-run context or any
other vertex when they may see *one* of the actions that claim it (shared data sets are
seen from each side), and no vertex whose DAG cannot be established (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airflow_lineage.capture.record import (
    DAG_CONTEXT_TYPE,
    RUN_CONTEXT_TYPE,
    TASK_RUN_CONTEXT_TYPE,
    TaskRun,
)
from airflow_lineage.model import (
    Arn,
    AssociationType,
    Direction,
    Entity,
    LineageType,
    Vertex,
)
from airflow_lineage.query import LineageFilter, LineageQuery, LineageResult
from airflow_lineage.store.base import LineageStore

__all__ = ["Attribution", "Reader", "context_dag", "task_run_of"]

_DAG_URI = re.compile(r"airflow://dags/(?P<dag>[^/]+)")
_RUN_URI = re.compile(r"airflow://dags/(?P<dag>[^/]+)/runs/(?P<run>.+)")
_TASKS = "/tasks/"
_MAP_INDEX = re.compile(r"0|[1-9][0-9]*")
Claims = tuple[frozenset[str], ...]
"""Why a vertex belongs to DAGs: one set of DAGs per claim. A user who may read every DAG
of one claim may see the vertex; no claim, no DAG established."""
_NONE: Claims = ()
_PIPELINE_TYPES = (RUN_CONTEXT_TYPE, DAG_CONTEXT_TYPE)


def context_dag(entity: Entity) -> str | None:
    """Return the DAG of a DAG or DAG-run context as capture records it, else None.

    :param entity: any entity; only contexts of capture's two types can match.
    """
    if entity.lineage_type is not LineageType.CONTEXT:
        return None
    name = Arn.parse(entity.arn).resource_id
    if entity.type == RUN_CONTEXT_TYPE:
        m = _RUN_URI.fullmatch(entity.source_uri)
        if m is None:
            return None
        expected = TaskRun(m["dag"], "", m["run"]).run_context_name
    elif entity.type == DAG_CONTEXT_TYPE:
        m = _DAG_URI.fullmatch(entity.source_uri)
        if m is None:
            return None
        expected = TaskRun(m["dag"], "", "").dag_context_name
    else:
        return None
    return m["dag"] if name == expected else None


def task_run_of(entity: Entity) -> tuple[str, str] | None:
    """Return the DAG and run of a task-run context as capture records it, else None.

    :param entity: any entity; only contexts of capture's ``TaskRun`` type can match.
    """
    if entity.lineage_type is not LineageType.CONTEXT or entity.type != TASK_RUN_CONTEXT_TYPE:
        return None
    m = _RUN_URI.fullmatch(entity.source_uri)
    if m is None:
        return None
    name = Arn.parse(entity.arn).resource_id
    rest = m["run"]
    # A run id may itself hold "/tasks/" (task ids hold no "/"): try every split; the
    # name's hash covers the exact ids, so at most the true one matches.
    at = rest.find(_TASKS)
    while at >= 0:
        run, (task, _, index) = rest[:at], rest[at + len(_TASKS) :].partition("/")
        if run and task and "/" not in index and (not index or _MAP_INDEX.fullmatch(index)):
            ids = TaskRun(m["dag"], task, run, int(index) if index else -1)
            if ids.task_run_context_name == name:
                return m["dag"], run
        at = rest.find(_TASKS, at + 1)
    return None


@dataclass(frozen=True, slots=True)
class Reader:
    """What one user may read: every DAG, or only ``dags``."""

    all_dags: bool
    dags: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.all_dags, bool):
            raise TypeError("all_dags must be a bool")
        if not isinstance(self.dags, frozenset):
            raise TypeError("dags must be a frozenset of DAG ids")

    def with_dag(self, dag_id: str) -> Reader:
        """Return this reader plus one DAG the auth manager has just allowed."""
        return self if self.all_dags else Reader(False, self.dags | {dag_id})

    def sees(self, claims: Claims) -> bool:
        """Return whether the user may see a vertex with these claims."""
        return self.all_dags or any(c and c <= self.dags for c in claims)

    def shown_dags(self, claims: Claims) -> list[str]:
        """Return the DAGs of a vertex the user may be told about: those of its claims
        the user may see."""
        seen = [c for c in claims if self.all_dags or c <= self.dags]
        return sorted(frozenset().union(*seen))


class Attribution:
    """The DAGs of vertices, read from the store as needed and kept for one request."""

    def __init__(self, store: LineageStore, *, cap: int | None = None) -> None:
        """:param cap: most steps read next to non-step vertices at once; claims beyond
        it stay unknown, so they show nothing (fail closed)."""
        self._store = store
        self._cap = cap
        self._dags: dict[str, Claims] = {}

    def claims(self, arn: str) -> Claims:
        """Return the claims of a vertex resolved before (empty: no DAG established)."""
        return self._dags.get(arn, _NONE)

    def visible(self, reader: Reader, vertices: Sequence[Vertex]) -> list[Vertex]:
        """Return the vertices ``reader`` may see, in their order."""
        self.resolve(vertices)
        return [v for v in vertices if reader.sees(self.claims(v.arn))]

    def resolve(self, vertices: Iterable[Vertex]) -> None:
        """Attribute these vertices to DAGs (a few set-based reads, whatever their number)."""
        todo = list({v.arn: v for v in vertices if v.arn not in self._dags}.values())
        pipelines = [
            v.arn
            for v in todo
            if v.lineage_type is LineageType.CONTEXT
            and v.type in (RUN_CONTEXT_TYPE, DAG_CONTEXT_TYPE)
        ]
        actions = [v.arn for v in todo if v.lineage_type is LineageType.ACTION]
        task_runs = [
            v.arn
            for v in todo
            if v.lineage_type is LineageType.CONTEXT and v.type == TASK_RUN_CONTEXT_TYPE
        ]
        taken = set(pipelines) | set(actions) | set(task_runs)
        others = [v.arn for v in todo if v.arn not in taken]
        self._contexts(pipelines)
        self._actions(actions)
        self._task_runs(task_runs)
        self._others(others)

    def _contexts(self, arns: Sequence[str]) -> None:
        if not arns:
            return
        found = self._store.get_many(list(arns))
        for arn in arns:
            entity = found.get(arn)
            dag = None if entity is None else context_dag(entity)
            self._dags[arn] = _NONE if dag is None else (frozenset((dag,)),)

    def _actions(self, arns: Sequence[str]) -> None:
        """Attribute actions through their ``AssociatedWith`` edges to DAG-run contexts.

        Never capped: a run context left unread would widen who sees an action.
        """
        if not arns:
            return
        result = self._store.query(
            LineageQuery(
                start_arns=tuple(arns),
                direction=Direction.DESCENDANTS,
                include_edges=True,
                max_depth=1,
                filters=LineageFilter(
                    types=(RUN_CONTEXT_TYPE,), lineage_types=(LineageType.CONTEXT,)
                ),
            )
        )
        starts = set(arns)
        self._contexts(
            [v.arn for v in result.vertices if v.arn not in starts and v.arn not in self._dags]
        )
        found: dict[str, set[str]] = {arn: set() for arn in arns}
        for e in result.edges:
            if e.association_type is AssociationType.ASSOCIATED_WITH and e.source_arn in found:
                for claim in self.claims(e.destination_arn):
                    found[e.source_arn] |= claim
        for arn, dags in found.items():
            # One claim of every DAG: a second run context can only narrow who sees it.
            self._dags[arn] = (frozenset(dags),) if dags else _NONE

    def _next_actions(self, starts: tuple[str, ...], direction: Direction) -> LineageResult:
        """Return the actions one association from ``starts`` (with the edges), having
        attributed those not attributed yet."""
        result = self._store.query(
            LineageQuery(
                start_arns=starts,
                direction=direction,
                include_edges=True,
                max_depth=1,
                max_results=self._cap,
                filters=LineageFilter(lineage_types=(LineageType.ACTION,)),
            )
        )
        self._actions(
            [
                v.arn
                for v in result.vertices
                if v.lineage_type is LineageType.ACTION and v.arn not in self._dags
            ]
        )
        return result

    def _task_runs(self, arns: Sequence[str]) -> None:
        """Attribute task-run contexts through the actions ``AssociatedWith`` them, to the
        DAG their capture-given name establishes and no other."""
        if not arns:
            return
        found = self._store.get_many(list(arns))
        owners: dict[str, str] = {}
        for arn in arns:
            entity = found.get(arn)
            run = None if entity is None else task_run_of(entity)
            if run is None:
                self._dags[arn] = _NONE
            else:
                owners[arn] = run[0]
        if not owners:
            return
        result = self._next_actions(tuple(owners), Direction.ASCENDANTS)
        claimed: dict[str, set[frozenset[str]]] = {arn: set() for arn in owners}
        for e in result.edges:
            dag = owners.get(e.destination_arn)
            if dag is None or e.association_type is not AssociationType.ASSOCIATED_WITH:
                continue
            # A step of another DAG linking itself here claims nothing: a reader of its
            # DAG would otherwise learn this DAG's task and run.
            claimed[e.destination_arn].update(c for c in self.claims(e.source_arn) if dag in c)
        for arn, claims in claimed.items():
            self._dags[arn] = tuple(sorted(claims, key=sorted))

    def _others(self, arns: Sequence[str]) -> None:
        """Attribute any other vertex through the attributed actions next to it."""
        if not arns:
            return
        result = self._next_actions(tuple(arns), Direction.BOTH)
        starts = set(arns)
        found: dict[str, set[frozenset[str]]] = {arn: set() for arn in arns}
        for e in result.edges:
            ends = (e.source_arn, e.destination_arn)
            for mine, theirs in (ends, ends[::-1]):
                if mine in starts and theirs not in starts:
                    found[mine].update(self.claims(theirs))
        for arn, claims in found.items():
            # Seen by whoever sees one of the steps next to it.
            self._dags[arn] = tuple(sorted(claims, key=sorted))
