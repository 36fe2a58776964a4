"""The SageMaker store's graph reading: the query walk's view of QueryLineage."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from airflow_lineage.model import (
    Arn,
    Direction,
    LineageType,
    to_micros,
)
from airflow_lineage.query import LineageQuery
from airflow_lineage.store.sagemaker_client import (
    _QUERY_PAGE,
    _translated,
)
from airflow_lineage.store.sagemaker_entities import SageMakerEntities
from airflow_lineage.traversal import AttributeRow

__all__ = ["SageMakerGraphReading"]


class SageMakerGraphReading(SageMakerEntities):
    """Reading SageMaker's graph for the query engine."""

    @contextmanager
    def read_graph(self, snapshot: int, query: LineageQuery) -> Iterator[_SageMakerGraph]:
        """Open a walk of SageMaker's graph. QueryLineage tells no creation times, so the
        snapshot bound is not applied: a later page sees associations added meanwhile."""
        with _translated("query lineage"):
            yield _SageMakerGraph(self, query)


_CHUNK = 10
"""QueryLineage's deepest walk: every call walks this far from one frontier vertex."""


def _leaves(direction: str, vertex: str, src: str, dst: str) -> bool:
    """Return True when the association src -> dst leads away from ``vertex``."""
    if direction == Direction.DESCENDANTS.value:
        return src == vertex
    if direction == Direction.ASCENDANTS.value:
        return dst == vertex
    return vertex in (src, dst)


class _SageMakerGraph:
    """The query walk's view of SageMaker: QueryLineage ten levels at a time.

    Keys are SageMaker's ARNs. A vertex whose associations the walk needs and does not
    know yet starts one QueryLineage of ``MaxDepth=10`` with edges (every NextToken
    followed, repeats dropped). Every vertex that call reached at fewer than 10
    associations from its start has all its associations in the answer, so the walk
    reads them from there; only the vertices at depth 10 start the next call. A chain
    of 25 costs three calls, a fan-out of 500 one call (in pages of 50).
    """

    view = ""  # QueryLineage applies the caller's visibility itself, at every call

    def __init__(self, store: SageMakerEntities, query: LineageQuery) -> None:
        self._store = store
        flt = query.filters
        self._details = bool(
            flt.properties
            or flt.created_after
            or flt.created_before
            or flt.modified_after
            or flt.modified_before
        )
        self._info: dict[str, tuple[str, str]] = {}  # svc ARN -> (type, lineage type)
        # (vertex, direction) -> the associations leaving it, for every vertex known whole
        self._hops: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
        self._rows: dict[str, AttributeRow] = {}

    def _hop(self, vertex: str, direction: str) -> list[tuple[str, str, str | None]]:
        """Return the associations leaving ``vertex`` in ``direction``."""
        key = (vertex, direction)
        if key not in self._hops:
            self._chunk(vertex, direction)
        return self._hops[key]

    def _chunk(self, start: str, direction: str) -> None:
        """Walk ten levels from ``start`` in one QueryLineage; learn every vertex it saw
        whole (those closer than ten)."""
        edges: dict[tuple[str, str], str | None] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "StartArns": [start],
                "Direction": direction,
                "IncludeEdges": True,
                "MaxDepth": _CHUNK,
                "MaxResults": _QUERY_PAGE,
            }
            if token:
                params["NextToken"] = token
            response = self._store._call("query_lineage", **params)
            for v in response.get("Vertices", []):
                self._info.setdefault(v["Arn"], (v.get("Type", ""), v["LineageType"]))
            for e in response.get("Edges", []):
                if e["SourceArn"] != e["DestinationArn"]:
                    edges.setdefault(
                        (e["SourceArn"], e["DestinationArn"]), e.get("AssociationType")
                    )
            token = response.get("NextToken")
            if not token:
                break
        leaving: dict[str, list[tuple[str, str, str | None]]] = {}
        for (src, dst), kind in edges.items():
            for v in (src, dst):
                if _leaves(direction, v, src, dst):
                    leaving.setdefault(v, []).append((src, dst, kind))
        # Distances from the start inside this answer: who was seen whole?
        dist = {start: 0}
        frontier = [start]
        while frontier:
            nxt = []
            for v in frontier:
                for src, dst, _ in leaving.get(v, ()):
                    other = dst if src == v else src
                    if other not in dist:
                        dist[other] = dist[v] + 1
                        nxt.append(other)
            frontier = nxt
        for v, d in dist.items():
            if d < _CHUNK:
                self._hops.setdefault((v, direction), leaving.get(v, []))

    def _row(self, svc: str) -> AttributeRow:
        row = self._rows.get(svc)
        if row is not None:
            return row
        model = self._store._model_arn(svc)
        kind, lineage = self._info.get(svc, ("", ""))
        created = modified = 0
        props: str | None = None
        if self._details or not lineage:
            entity = self._store._describe(model)
            if entity is not None:
                assert entity.modified is not None
                kind, lineage = entity.type, entity.lineage_type.value
                created, modified = to_micros(entity.created), to_micros(entity.modified)
                props = json.dumps(dict(entity.properties)) if entity.properties else None
            elif not lineage:
                parsed = Arn.parse(svc).lineage_type
                lineage = parsed.value if parsed else LineageType.ARTIFACT.value
        row = (svc, model, kind, lineage, created, modified, props)
        self._rows[svc] = row
        return row

    def resolve(self, arns: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for arn in arns:
            entity = self._store._describe(arn)
            svc = self._store._svc_arn(arn) if entity is not None else None
            if entity is None or svc is None:
                is_tc = Arn.parse(arn).lineage_type is LineageType.TRIAL_COMPONENT
                if is_tc and self._store._exists(arn):
                    found[arn] = arn
                continue
            self._info[svc] = (entity.type, entity.lineage_type.value)
            found[arn] = svc
        return found

    def next_keys(self, frontier: Sequence[str], direction: str) -> Iterable[str]:
        return [
            dst if src == v else src
            for v in frontier
            for src, dst, _ in self._hop(v, str(direction))
        ]

    def neighbors(
        self, frontier: Sequence[str], direction: str
    ) -> Iterable[tuple[str, str, str | None]]:
        out: dict[tuple[str, str], str | None] = {}
        for v in frontier:
            for src, dst, kind in self._hop(v, str(direction)):
                out.setdefault((src, dst), kind)
        return [(s, d, t) for (s, d), t in out.items()]

    def attributes(self, keys: Sequence[str], *, properties: bool) -> Iterable[AttributeRow]:
        self._store._map_artifacts(k for k in keys if k not in self._rows)
        return [self._row(k) for k in keys]

    def columns(self, keys: Sequence[str]) -> tuple[list[str], list[str], list[str], list[str]]:
        rows = list(self.attributes(keys, properties=False))
        return (
            [str(r[0]) for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
        )

    def hidden(self, keys: Sequence[str], direction: str) -> bool:
        # QueryLineage returns only what the caller may see and says nothing of the rest:
        # lineage another account did not share cannot be detected here.
        return False
