"""Walk a lineage graph a frontier at a time and shape the result of a query.

The walk is backend-neutral: a store hands it a :class:`GraphReader` that answers one
set-based request per depth level (everything touching the frontier), so a query costs
one round trip per level, never one per vertex. A query without edges asks only for the
ids of the next level; one with edges asks for the associations, which the path subgraph
needs.

A bounded walk says where it stopped. When vertices are left at ``max_depth``, one more
request asks whether any of them leads further (only then: a walk that ends on its own
costs nothing more). When the reader filters what the caller may see, one request asks
whether a walked vertex touches an entity the caller cannot see.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.model import AssociationType, Direction, Edge, LineageType, Vertex
from airflow_lineage.query import LineageQuery

__all__ = ["AttributeRow", "GraphReader", "QueryOutcome", "run_query"]

K = TypeVar("K", bound=Hashable)

AttributeRow = tuple[object, str, str, str, int, int, "str | None"]
"""(key, ARN, type, lineage type, created µs, modified µs, properties JSON or None)."""

_LINEAGE_TYPES = {m.value: m for m in LineageType}
_ASSOCIATION_TYPES: dict[str | None, AssociationType | None] = {
    None: None,
    **{m.value: m for m in AssociationType},
}


class GraphReader(Protocol[K]):
    """The set-based reads a query needs from a store."""

    def resolve(self, arns: Sequence[str]) -> dict[str, K]:
        """Return the keys of the entities with these ARNs (unknown ARNs are left out)."""

    def next_level(
        self, frontier: Sequence[K], direction: Direction, *, properties: bool
    ) -> Iterable[AttributeRow]:
        """Return the attribute rows of the vertices one association away from the frontier.

        One association away in the walk's direction; rows may repeat and may include
        vertices seen before. Properties only when asked.
        """

    def neighbors(
        self, frontier: Sequence[K], direction: Direction
    ) -> Iterable[tuple[K, K, str | None]]:
        """Return ``(source, destination, type)`` of every association leaving the frontier.

        Leaving means source in the frontier for Descendants, destination in it for
        Ascendants, either for Both.
        """

    def attributes(self, keys: Sequence[K], *, properties: bool) -> Iterable[AttributeRow]:
        """Return the attribute rows of these vertices; properties only when asked."""

    def hidden(self, keys: Sequence[K], direction: Direction) -> bool:
        """Return True when one of these vertices has an association leaving it (as in
        :meth:`neighbors`) with an entity the caller cannot see.

        A reader that hides nothing from the caller returns False without a request.
        """


@dataclass(slots=True)
class QueryOutcome:
    """A whole query result in page order, ready to be cut into pages."""

    vertices: list[Vertex]
    edges: list[Edge]
    edge_positions: list[int]
    """For each edge (in order), the index of its later vertex in ``vertices``."""
    order: list[tuple[int, str]]
    """For each vertex, its place in the result's order: (depth, ARN), ascending."""
    depth_cut_off: bool = False
    """A vertex at the depth limit leads further, to a vertex the walk did not reach."""
    visibility_cut_off: bool = False
    """A walked vertex touches an entity the caller cannot see."""

    def page(
        self, after: tuple[int, str] | None, size: int | None
    ) -> tuple[list[Vertex], list[Edge], tuple[int, str] | None]:
        """Return the vertices and edges of the page after position ``after`` (None: the
        first page) and the position of its last vertex when more follow (else None)."""
        start = 0 if after is None else bisect.bisect_right(self.order, after)
        end = len(self.vertices) if size is None else min(start + size, len(self.vertices))
        lo = bisect.bisect_left(self.edge_positions, start)
        hi = bisect.bisect_left(self.edge_positions, end)
        last = self.order[end - 1] if end < len(self.vertices) else None
        return self.vertices[start:end], self.edges[lo:hi], last


def _walk_vertices(
    reader: GraphReader[K], starts: list[K], direction: Direction, max_depth: int, props: bool
) -> tuple[list[tuple[int, AttributeRow]], set[object], bool]:
    """Breadth-first walk that reads each reached vertex with the level that reaches it.

    Returns (distance, attribute row) of every reached vertex but the starts, the keys of
    every walked vertex, and whether the depth limit cut the walk off.
    """
    seen: set[object] = set(starts)
    reached: list[tuple[int, AttributeRow]] = []
    frontier: list[K] = list(dict.fromkeys(starts))
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        nxt: list[K] = []
        for row in reader.next_level(frontier, direction, properties=props):
            key = row[0]
            if key not in seen:
                seen.add(key)
                nxt.append(key)  # type: ignore[arg-type]
                reached.append((depth, row))
        frontier = nxt
    # Vertices left in the frontier sit at the depth limit: does any of them lead on?
    cut = bool(frontier) and any(
        row[0] not in seen for row in reader.next_level(frontier, direction, properties=False)
    )
    return reached, seen, cut


def _onward(direction: Direction, src: K, dst: K) -> tuple[tuple[K, K], ...]:
    """Return the (from, to) moves an association allows a walk in ``direction``."""
    if direction is Direction.DESCENDANTS:
        return ((src, dst),)
    if direction is Direction.ASCENDANTS:
        return ((dst, src),)
    return ((src, dst), (dst, src))


def _walk_edges(
    reader: GraphReader[K], starts: list[K], direction: Direction, max_depth: int
) -> tuple[dict[K, int], dict[tuple[K, K], str | None], list[tuple[K, K, K, K]], bool]:
    """Breadth-first walk; return distances, fetched associations, walk-oriented moves
    and whether the depth limit cut the walk off."""
    dist: dict[K, int] = dict.fromkeys(starts, 0)
    associations: dict[tuple[K, K], str | None] = {}
    moves: list[tuple[K, K, K, K]] = []  # (from, to, source, destination)
    frontier = list(dist)
    depth = 0
    while frontier and depth < max_depth:
        nxt: list[K] = []
        for src, dst, kind in reader.neighbors(frontier, direction):
            associations[(src, dst)] = kind
            for u, v in _onward(direction, src, dst):
                if dist.get(u) != depth:
                    continue
                moves.append((u, v, src, dst))
                if v not in dist:
                    dist[v] = depth + 1
                    nxt.append(v)
        frontier = nxt
        depth += 1
    cut = False
    if frontier:  # left at the depth limit: does any of them lead on?
        last = set(frontier)
        cut = any(
            u in last and v not in dist
            for src, dst, _ in reader.neighbors(frontier, direction)
            for u, v in _onward(direction, src, dst)
        )
    return dist, associations, moves, cut


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


def run_query(reader: GraphReader[K], query: LineageQuery) -> QueryOutcome:
    """Run a lineage query against ``reader`` and return the full ordered result.

    :raises EntityNotFoundError: a start ARN names no entity.
    """
    keys = reader.resolve(query.start_arns)
    missing = [arn for arn in query.start_arns if arn not in keys]
    if missing:
        raise EntityNotFoundError(f"no lineage entity has the ARN {missing[0]}")
    starts = [keys[arn] for arn in query.start_arns]
    start_set = set(starts)
    test = query.filters.predicate()
    needs_props = bool(query.filters.properties)

    if not query.include_edges:
        reached, walked, depth_cut = _walk_vertices(
            reader, starts, query.direction, query.max_depth, needs_props
        )
        hidden = reader.hidden(list(walked), query.direction)  # type: ignore[arg-type]
        chosen = [
            (depth, row[1], row[2], row[3])
            for depth, row in reached
            if test is None or test(row[2], row[3], row[4], row[5], row[6])
        ]
        chosen.sort()
        vertices = [Vertex(arn, kind, _LINEAGE_TYPES[lt]) for _, arn, kind, lt in chosen]
        order = [(depth, arn) for depth, arn, _, _ in chosen]
        return QueryOutcome(vertices, [], [], order, depth_cut, hidden)

    dist, associations, moves, depth_cut = _walk_edges(
        reader, starts, query.direction, query.max_depth
    )
    hidden = reader.hidden(list(dist), query.direction)
    attrs = {row[0]: row for row in reader.attributes(list(dist), properties=needs_props)}
    matches = [
        k
        for k in dist
        if k not in start_set
        and (test is None or test(attrs[k][2], attrs[k][3], attrs[k][4], attrs[k][5], attrs[k][6]))
    ]
    if query.direction is Direction.BOTH:
        # An undirected walk may step back towards a start; such a step never lies on a
        # simple path from a start, so it must not pull a match's neighbours in.
        moves = [m for m in moves if dist[m[1]] >= dist[m[0]]]
    togo = _distance_to_match(matches, moves, query.max_depth)
    limit = query.max_depth
    kept = [k for k in dist if k in start_set or (k in togo and dist[k] + togo[k] <= limit)]
    kept.sort(key=lambda k: (dist[k], attrs[k][1]))
    position = {k: i for i, k in enumerate(kept)}
    vertices = [Vertex(attrs[k][1], attrs[k][2], _LINEAGE_TYPES[attrs[k][3]]) for k in kept]
    placed: dict[tuple[K, K], int] = {}
    for u, v, src, dst in moves:
        if v in togo and dist[u] + 1 + togo[v] <= limit and (src, dst) not in placed:
            placed[(src, dst)] = max(position[src], position[dst])
    ordered = sorted(
        (pos, attrs[s][1], attrs[d][1], associations[(s, d)]) for (s, d), pos in placed.items()
    )
    return QueryOutcome(
        vertices=vertices,
        edges=[Edge(s, d, _ASSOCIATION_TYPES[t]) for _, s, d, t in ordered],
        edge_positions=[p for p, *_ in ordered],
        order=[(dist[k], attrs[k][1]) for k in kept],
        depth_cut_off=depth_cut,
        visibility_cut_off=hidden,
    )
