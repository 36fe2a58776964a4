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


class _SageMakerGraph:
    """The query walk's view of SageMaker: one QueryLineage hop per frontier vertex.

    Keys are SageMaker's ARNs. Each hop asks QueryLineage for ``MaxDepth=1`` with edges
    from one vertex, follows every NextToken and drops repeated vertices and edges, so
    the walk goes as deep as the query asks (past SageMaker's 10) and from any number of
    starts. Hops are cached for the run, so ``Both`` never asks twice for one vertex.
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
        self._hops: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
        self._rows: dict[str, AttributeRow] = {}

    def _hop(self, vertex: str, direction: str) -> list[tuple[str, str, str | None]]:
        """Return the associations leaving ``vertex`` in ``direction`` (one hop)."""
        key = (vertex, direction)
        cached = self._hops.get(key)
        if cached is not None:
            return cached
        edges: dict[tuple[str, str], str | None] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "StartArns": [vertex],
                "Direction": direction,
                "IncludeEdges": True,
                "MaxDepth": 1,
                "MaxResults": _QUERY_PAGE,
            }
            if token:
                params["NextToken"] = token
            response = self._store._call("query_lineage", **params)
            for v in response.get("Vertices", []):
                self._info.setdefault(v["Arn"], (v.get("Type", ""), v["LineageType"]))
            for e in response.get("Edges", []):
                src, dst = e["SourceArn"], e["DestinationArn"]
                leaves = (
                    src == vertex
                    if direction == Direction.DESCENDANTS.value
                    else dst == vertex
                    if direction == Direction.ASCENDANTS.value
                    else vertex in (src, dst)
                )
                if leaves and src != dst:
                    edges.setdefault((src, dst), e.get("AssociationType"))
            token = response.get("NextToken")
            if not token:
                break
        hop = [(s, d, t) for (s, d), t in edges.items()]
        self._hops[key] = hop
        return hop

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

    def next_level(
        self, frontier: Sequence[str], direction: str, *, properties: bool
    ) -> Iterable[AttributeRow]:
        rows: list[AttributeRow] = []
        for v in frontier:
            for src, dst, _ in self._hop(v, str(direction)):
                other = dst if src == v else src
                rows.append(self._row(other))
        return rows

    def neighbors(
        self, frontier: Sequence[str], direction: str
    ) -> Iterable[tuple[str, str, str | None]]:
        out: dict[tuple[str, str], str | None] = {}
        for v in frontier:
            for src, dst, kind in self._hop(v, str(direction)):
                out.setdefault((src, dst), kind)
        return [(s, d, t) for (s, d), t in out.items()]

    def attributes(self, keys: Sequence[str], *, properties: bool) -> Iterable[AttributeRow]:
        return [self._row(k) for k in keys]

    def hidden(self, keys: Sequence[str], direction: str) -> bool:
        # QueryLineage returns only what the caller may see and says nothing of the rest:
        # lineage another account did not share cannot be detected here.
        return False
