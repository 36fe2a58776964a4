"""Walk a lineage graph a frontier at a time and shape the result of a query.

The walk is backend-neutral: a store hands it a :class:`GraphReader` that answers one
set-based request per depth level (all associations touching the frontier), so a query
costs one round trip per level, never one per vertex.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, NamedTuple, Protocol, TypeVar

from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.model import AssociationType, Direction, Edge, LineageType, Vertex
from airflow_lineage.query import LineageQuery

__all__ = ["GraphReader", "QueryOutcome", "VertexRow", "run_query"]

K = TypeVar("K", bound=Hashable)


class VertexRow(NamedTuple):
    """What the walk needs to know of a reached vertex."""

    arn: str
    type: str
    lineage_type: str
    created: datetime
    modified: datetime
    properties: Mapping[str, str] | None


class GraphReader(Protocol[K]):
    """The three set-based reads a query needs from a store."""

    def resolve(self, arns: Sequence[str]) -> dict[str, K]:
        """Return the keys of the entities with these ARNs (unknown ARNs are left out)."""

    def neighbors(
        self, frontier: Sequence[K], direction: Direction
    ) -> Iterable[tuple[K, K, str | None]]:
        """Return ``(source, destination, type)`` of every association leaving the frontier.

        Leaving means source in the frontier for Descendants, destination in it for
        Ascendants, either for Both.
        """

    def attributes(self, keys: Sequence[K], *, properties: bool) -> dict[K, VertexRow]:
        """Return the attributes of these vertices; properties only when asked."""


@dataclass(slots=True)
class QueryOutcome(Generic[K]):
    """A whole query result in page order, ready to be cut into pages."""

    vertices: list[Vertex]
    edges: list[Edge]
    edge_positions: list[int]
    """For each edge (sorted), the index of its later vertex in ``vertices``."""

    def page(self, offset: int, size: int | None) -> tuple[list[Vertex], list[Edge], int | None]:
        """Return the vertices and edges of one page and the next offset (None at the end)."""
        end = len(self.vertices) if size is None else min(offset + size, len(self.vertices))
        lo = bisect.bisect_left(self.edge_positions, offset)
        hi = bisect.bisect_left(self.edge_positions, end)
        nxt = end if end < len(self.vertices) else None
        return self.vertices[offset:end], self.edges[lo:hi], nxt


def _walk(
    reader: GraphReader[K], starts: list[K], direction: Direction, max_depth: int
) -> tuple[dict[K, int], dict[tuple[K, K], str | None], list[tuple[K, K, K, K]]]:
    """Breadth-first walk; return distances, fetched associations, and walk-oriented moves."""
    dist: dict[K, int] = dict.fromkeys(starts, 0)
    associations: dict[tuple[K, K], str | None] = {}
    moves: list[tuple[K, K, K, K]] = []  # (from, to, source, destination)
    frontier = list(dist)
    depth = 0
    while frontier and depth < max_depth:
        nxt: list[K] = []
        for src, dst, kind in reader.neighbors(frontier, direction):
            associations[(src, dst)] = kind
            pairs: tuple[tuple[K, K], ...]
            if direction is Direction.DESCENDANTS:
                pairs = ((src, dst),)
            elif direction is Direction.ASCENDANTS:
                pairs = ((dst, src),)
            else:
                pairs = ((src, dst), (dst, src))
            for u, v in pairs:
                if dist.get(u) != depth:
                    continue
                moves.append((u, v, src, dst))
                if v not in dist:
                    dist[v] = depth + 1
                    nxt.append(v)
        frontier = nxt
        depth += 1
    return dist, associations, moves


def _distance_to_match(
    matches: Iterable[K], moves: list[tuple[K, K, K, K]], max_depth: int
) -> dict[K, int]:
    """Return, for each vertex, the fewest moves from it to a match (backwards BFS)."""
    into: dict[K, list[K]] = {}
    for u, v, _, _ in moves:
        into.setdefault(v, []).append(u)
    togo = dict.fromkeys(matches, 0)
    frontier = list(togo)
    steps = 0
    while frontier and steps < max_depth:
        nxt = []
        for v in frontier:
            for u in into.get(v, ()):
                if u not in togo:
                    togo[u] = steps + 1
                    nxt.append(u)
        frontier = nxt
        steps += 1
    return togo


def run_query(reader: GraphReader[K], query: LineageQuery) -> QueryOutcome[K]:
    """Run a lineage query against ``reader`` and return the full ordered result.

    :raises EntityNotFoundError: a start ARN names no entity.
    """
    keys = reader.resolve(query.start_arns)
    missing = [arn for arn in query.start_arns if arn not in keys]
    if missing:
        raise EntityNotFoundError(f"no lineage entity has the ARN {missing[0]}")
    starts = [keys[arn] for arn in query.start_arns]
    dist, associations, moves = _walk(reader, starts, query.direction, query.max_depth)

    flt = query.filters
    rows = reader.attributes(list(dist), properties=bool(flt.properties))
    start_set = set(starts)
    matches = [
        k
        for k in dist
        if k not in start_set
        and flt.matches(
            type=rows[k].type,
            lineage_type=rows[k].lineage_type,
            created=rows[k].created,
            modified=rows[k].modified,
            properties=rows[k].properties,
        )
    ]

    edges: list[tuple[K, K]] = []
    if not query.include_edges:
        chosen = matches
    else:
        if query.direction is Direction.BOTH:
            # An undirected walk may step back towards a start; such a step never lies on a
            # simple path from a start, so it must not pull a match's neighbours in.
            moves = [m for m in moves if dist[m[1]] >= dist[m[0]]]
        togo = _distance_to_match(matches, moves, query.max_depth)
        limit = query.max_depth
        chosen = [k for k in dist if k in start_set or (k in togo and dist[k] + togo[k] <= limit)]
        seen: set[tuple[K, K]] = set()
        for u, v, src, dst in moves:
            if v in togo and dist[u] + 1 + togo[v] <= limit:
                pair = (src, dst)
                if pair not in seen:
                    seen.add(pair)
                    edges.append(pair)

    chosen.sort(key=lambda k: (dist[k], rows[k].arn))
    position = {k: i for i, k in enumerate(chosen)}
    vertices = [
        Vertex(rows[k].arn, rows[k].type, LineageType(rows[k].lineage_type)) for k in chosen
    ]
    placed = sorted(
        (max(position[s], position[d]), rows[s].arn, rows[d].arn, associations[(s, d)])
        for s, d in edges
    )
    return QueryOutcome(
        vertices=vertices,
        edges=[Edge(s, d, None if t is None else AssociationType(t)) for _, s, d, t in placed],
        edge_positions=[p for p, *_ in placed],
    )
