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
import functools
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

    def next_keys(self, frontier: Sequence[K], direction: Direction) -> Iterable[K]:
        """Return the keys of the vertices one association away from the frontier, in
        the walk's direction; keys may repeat and may include vertices seen before.

        Keys only: the walk reads each vertex's attributes once, when it has ended, not
        once per association that reaches it.
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

    def columns(self, keys: Sequence[K]) -> tuple[list[K], list[str], list[str], list[str]]:
        """Return the keys, ARNs, types and lineage types of these vertices: four lists in
        one order (unknown keys left out)."""

    def hidden(self, keys: Sequence[K], direction: Direction) -> bool:
        """Return True when one of these vertices has an association leaving it (as in
        :meth:`neighbors`) with an entity the caller cannot see.

        A reader that hides nothing from the caller returns False without a request.
        """


_vertex = functools.partial(tuple.__new__, Vertex)
"""Vertex((arn, type, lineage type)) without a Python call: a page of a large result
builds thousands (a named tuple has no checks to skip)."""


@dataclass(slots=True)
class QueryOutcome:
    """A whole query result in page order, ready to be cut into pages.

    Vertices are kept as columns of plain strings; a page builds the
    :class:`~airflow_lineage.model.Vertex` values of its own vertices only.
    """

    arns: list[str]
    """The result's vertices in page order: (depth, ARN) ascending."""
    types: list[str]
    lineage_types: list[str]
    depths: list[int]
    """For each vertex, its distance from the nearest start (ascending)."""
    edges: list[Edge]
    edge_positions: list[int]
    """For each edge (in order), the index of its later vertex."""
    depth_cut_off: bool = False
    """A vertex at the depth limit leads further, to a vertex the walk did not reach."""
    visibility_cut_off: bool = False
    """A walked vertex touches an entity the caller cannot see."""

    def __len__(self) -> int:
        return len(self.arns) + len(self.edges)

    def page(
        self, after: tuple[int, str] | None, size: int | None
    ) -> tuple[list[Vertex], list[Edge], tuple[int, str] | None]:
        """Return the vertices and edges of the page after position ``after`` (None: the
        first page) and the position of its last vertex when more follow (else None)."""
        arns, count = self.arns, len(self.arns)
        start = 0
        if after is not None:
            # The first vertex past (depth, ARN): among that depth's vertices, by ARN.
            lo = bisect.bisect_left(self.depths, after[0])
            hi = bisect.bisect_right(self.depths, after[0], lo)
            start = bisect.bisect_right(arns, after[1], lo, hi)
        end = count if size is None else min(start + size, count)
        lo = bisect.bisect_left(self.edge_positions, start)
        hi = bisect.bisect_left(self.edge_positions, end)
        last = (self.depths[end - 1], arns[end - 1]) if end < count else None
        kinds = map(_LINEAGE_TYPES.__getitem__, self.lineage_types[start:end])
        fields = zip(arns[start:end], self.types[start:end], kinds, strict=True)
        return list(map(_vertex, fields)), self.edges[lo:hi], last


def _in_page_order(
    columns: tuple[list[K], list[str], list[str], list[str]], levels: list[list[K]]
) -> tuple[list[str], list[str], list[str], list[int]]:
    """Return ARNs, types and lineage types sorted by (depth, ARN), and the depths.

    Index permutations with keys looked up in C: no object per vertex but the sorted
    lists, so a result of tens of thousands of vertices gives the garbage collector
    nothing to scan. When the reader kept the order of the keys it was given (level by
    level), each level is sorted by itself.
    """
    keys, arns, types, kinds = columns
    depths: list[int] = []
    if keys == [k for level in levels for k in level]:
        order: list[int] = []
        at = 0
        for depth, level in enumerate(levels, 1):
            order += sorted(range(at, at + len(level)), key=arns.__getitem__)
            depths += [depth] * len(level)
            at += len(level)
    else:
        depth_of: dict[K, int] = {}
        for depth, level in enumerate(levels, 1):
            depth_of.update(dict.fromkeys(level, depth))
        by_arn = sorted(range(len(arns)), key=arns.__getitem__)
        depth_keys = list(map(depth_of.__getitem__, map(keys.__getitem__, by_arn)))
        by_depth = sorted(range(len(by_arn)), key=depth_keys.__getitem__)
        order = list(map(by_arn.__getitem__, by_depth))
        depths = sorted(depth_keys)
    return (
        list(map(arns.__getitem__, order)),
        list(map(types.__getitem__, order)),
        list(map(kinds.__getitem__, order)),
        depths,
    )


def _walk_levels(
    reader: GraphReader[K], starts: list[K], direction: Direction, max_depth: int
) -> tuple[list[list[K]], set[K], bool]:
    """Breadth-first walk of keys only.

    Returns the keys reached at each depth (1, 2, ...; the starts left out, no key
    twice), the keys of every walked vertex, and whether the depth limit cut the walk off.
    """
    seen: set[K] = set(starts)
    levels: list[list[K]] = []
    frontier: list[K] = list(dict.fromkeys(starts))
    while frontier and len(levels) < max_depth:
        # dict.fromkeys drops repeats in C, keeping the order; the set test is the one
        # Python step per association.
        reached = dict.fromkeys(reader.next_keys(frontier, direction))
        frontier = [k for k in reached if k not in seen]
        seen.update(frontier)
        if frontier:
            levels.append(frontier)
    # Vertices left in the frontier sit at the depth limit: does any of them lead on?
    cut = bool(frontier) and any(k not in seen for k in reader.next_keys(frontier, direction))
    return levels, seen, cut


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
    down = direction is not Direction.ASCENDANTS  # an association leads source → destination
    up = direction is not Direction.DESCENDANTS  # ... or destination → source

    def step(rows: Iterable[tuple[K, K, str | None]], depth: int) -> list[K]:
        """Make the moves from the vertices at ``depth``; return those reached anew."""
        nxt: list[K] = []
        for src, dst, kind in rows:
            associations[(src, dst)] = kind
            # _onward(), spelt out: this loop runs once per association walked.
            if down and dist.get(src) == depth:
                moves.append((src, dst, src, dst))
                if dst not in dist:
                    dist[dst] = depth + 1
                    nxt.append(dst)
            if up and dist.get(dst) == depth:
                moves.append((dst, src, src, dst))
                if src not in dist:
                    dist[src] = depth + 1
                    nxt.append(src)
        return nxt

    while frontier and depth < max_depth:
        frontier = step(reader.neighbors(frontier, direction), depth)
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
        levels, walked, depth_cut = _walk_levels(reader, starts, query.direction, query.max_depth)
        hidden = reader.hidden(list(walked), query.direction)
        reached = [k for level in levels for k in level]
        if test is None:
            columns = reader.columns(reached)
        else:
            rows = [
                row
                for row in reader.attributes(reached, properties=needs_props)
                if test(row[2], row[3], row[4], row[5], row[6])
            ]
            columns = (
                [row[0] for row in rows],  # type: ignore[misc]
                [row[1] for row in rows],
                [row[2] for row in rows],
                [row[3] for row in rows],
            )
        arns, types, kinds, depths = _in_page_order(columns, levels)
        return QueryOutcome(arns, types, kinds, depths, [], [], depth_cut, hidden)

    dist, associations, moves, depth_cut = _walk_edges(
        reader, starts, query.direction, query.max_depth
    )
    hidden = reader.hidden(list(dist), query.direction)
    attrs = {row[0]: row for row in reader.attributes(list(dist), properties=needs_props)}
    matches = [k for k in dist if k not in start_set]
    if test is not None:
        matches = [k for k in matches if test(*attrs[k][2:7])]
    if query.direction is Direction.BOTH:
        # An undirected walk may step back towards a start; such a step never lies on a
        # simple path from a start, so it must not pull a match's neighbours in.
        moves = [m for m in moves if dist[m[1]] >= dist[m[0]]]
    if test is None and not any(m[1] in start_set for m in moves):
        # Without filters every walked vertex but a start is a match: nothing to search
        # for unless a move leads back to a start.
        togo = dict.fromkeys(matches, 0)
    else:
        togo = _distance_to_match(matches, moves, query.max_depth)
    limit = query.max_depth
    kept = [k for k in dist if k in start_set or (k in togo and dist[k] + togo[k] <= limit)]
    kept.sort(key=lambda k: (dist[k], attrs[k][1]))
    position = {k: i for i, k in enumerate(kept)}
    placed: dict[tuple[K, K], int] = {}
    for u, v, src, dst in moves:
        if v in togo and dist[u] + 1 + togo[v] <= limit and (src, dst) not in placed:
            placed[(src, dst)] = max(position[src], position[dst])
    ordered = sorted(
        (pos, attrs[s][1], attrs[d][1], associations[(s, d)]) for (s, d), pos in placed.items()
    )
    return QueryOutcome(
        arns=[attrs[k][1] for k in kept],
        types=[attrs[k][2] for k in kept],
        lineage_types=[attrs[k][3] for k in kept],
        depths=[dist[k] for k in kept],
        edges=[Edge(s, d, _ASSOCIATION_TYPES[t]) for _, s, d, t in ordered],
        edge_positions=[p for p, *_ in ordered],
        depth_cut_off=depth_cut,
        visibility_cut_off=hidden,
    )
