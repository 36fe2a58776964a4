"""Lineage queries and their pages, written once over a backend's graph reading.

A backend implements :class:`~airflow_lineage.store.interface.GraphReading`: open a
read of its graph as it was at a snapshot time, through the set-based
:class:`~airflow_lineage.traversal.GraphReader`.
:class:`QueryPager` does the rest for every backend: the walk, the page cut and the
keyset token (:mod:`airflow_lineage.pagetoken`).

Correctness needs no cache. Page 1 fixes the snapshot bound (its read time); every later
page walks the graph again as it was then (associations created later are left out) and
starts after the last position handed out, so no vertex that existed at page 1 repeats
or is skipped, whichever process reads the page. A small bounded cache of recent walks
only saves re-walking when the same process reads the next page; it is bounded by the
number of vertices and edges it holds, so memory stays flat over long and repeated reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from airflow_lineage.exceptions import InvalidPageTokenError
from airflow_lineage.model import to_micros, utcnow
from airflow_lineage.pagetoken import PageToken
from airflow_lineage.query import LineageQuery, LineageResult
from airflow_lineage.store.interface import GraphReading
from airflow_lineage.traversal import QueryOutcome, run_query

__all__ = ["QueryPager", "view_of"]

_ISSUED = 64
"""Recently issued tokens remembered, decoded."""
_CACHE_SIZE = 8
_CACHE_ITEMS = 50_000
"""Vertices and edges the cached walks may hold together; the newest walk always stays,
so a long paged read holds one result, whatever its size, and never more."""


class QueryPager:
    """Run lineage queries over a :class:`GraphReading` and cut their results into pages."""

    def __init__(self, source: GraphReading, cache_size: int = _CACHE_SIZE) -> None:
        self._source = source
        self._size = cache_size
        self._cache: OrderedDict[tuple[str, int, str], QueryOutcome] = OrderedDict()
        self._lock = threading.Lock()
        # The tokens this pager handed out lately, decoded: the next page of a read in
        # this process skips decoding its token. Any other token is decoded and checked.
        self._issued: dict[str, PageToken] = {}

    def clear(self) -> None:
        """Forget the cached walks (visibility changed, or the store closes)."""
        with self._lock:
            self._cache.clear()
            self._issued.clear()

    def query(self, query: LineageQuery) -> LineageResult:
        """Run one lineage query and return one page of its result.

        :raises EntityNotFoundError: a start ARN names no entity.
        :raises InvalidPageTokenError: ``next_token`` is not one of this query's, or the
            lineage shared with the caller changed since its first page.
        """
        if not isinstance(query, LineageQuery):
            raise TypeError(f"query() takes a LineageQuery, not {type(query).__name__}")
        # Only a query that pages needs its digest (it costs more than a small walk).
        paged = bool(query.next_token) or query.max_results is not None
        scope = query.fingerprint() if paged else ""
        after: tuple[int, str] | None = None
        view: str | None = None
        if query.next_token:
            token = self._issued.get(query.next_token) or PageToken.decode(query.next_token, scope)
            if token.scope != scope:  # one this pager issued, for another query
                token = PageToken.decode(query.next_token, scope)
            if len(token.position) != 2 or not isinstance(token.position[0], int):
                raise InvalidPageTokenError("NextToken is not a token this store handed out")
            after = (int(token.position[0]), str(token.position[1]))
            snapshot, view = token.snapshot, token.view
        else:
            snapshot = to_micros(utcnow())
        # A walk that no share can change is served from the cache without a read.
        outcome = self._cached((scope, snapshot, "")) if view == "" else None
        seen = ""
        if outcome is None:
            with self._source.read_graph(snapshot, query) as reader:
                seen = reader.view
                if view is not None and seen != view:
                    raise InvalidPageTokenError(
                        "the lineage shared with this account changed since this query's "
                        "first page; run the query again"
                    )
                outcome = self._cached((scope, snapshot, seen))
                if outcome is None:
                    outcome = run_query(reader, query)
        vertices, edges, last = outcome.page(after, query.max_results)
        token_out = None
        if last is not None:
            issued = PageToken(scope, last, snapshot, seen)
            token_out = issued.encode()
            self._keep((scope, snapshot, seen), outcome)
            with self._lock:
                self._issued[token_out] = issued
                while len(self._issued) > _ISSUED:
                    del self._issued[next(iter(self._issued))]
        return LineageResult(
            tuple(vertices),
            tuple(edges),
            token_out,
            depth_cut_off=outcome.depth_cut_off,
            visibility_cut_off=outcome.visibility_cut_off,
        )

    def _cached(self, key: tuple[str, int, str]) -> QueryOutcome | None:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def _keep(self, key: tuple[str, int, str], outcome: QueryOutcome) -> None:
        with self._lock:
            self._cache[key] = outcome
            self._cache.move_to_end(key)
            held = sum(len(o) for o in self._cache.values())
            while len(self._cache) > 1 and (len(self._cache) > self._size or held > _CACHE_ITEMS):
                _, gone = self._cache.popitem(last=False)
                held -= len(gone)


def view_of(own: str, visible: Sequence[str] | None) -> str:
    """Return the view string of a caller of account ``own`` that sees ``visible``
    accounts (None: every account, unrestricted)."""
    if visible is None or set(visible) <= {own}:
        return ""
    from airflow_lineage.pagetoken import scope_of

    return scope_of(sorted(visible))
