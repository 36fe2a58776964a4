"""Lineage query: what to ask (start, direction, depth, filters) and what comes back.

Semantics follow SageMaker's QueryLineage, without its limits:

- ``Descendants`` follows associations source → destination, ``Ascendants`` follows them
  backwards, and ``Both`` is an undirected walk from every visited vertex (not the union
  of the other two).
- ``max_depth`` counts associations from the nearest start entity.
- Filters select which reached vertices are returned; they never prune the walk. Fields
  combine with AND, values within a list with OR, property pairs with OR.
- ``include_edges=False`` returns the matching vertices only, never the start vertices.
  ``include_edges=True`` returns the start vertices, the matches, every vertex on a path
  of at most ``max_depth`` associations from a start to a match, and the edges on those
  paths.
- Pages hold vertices in (depth, ARN) order; the token is opaque, bound to its query,
  and says where the next page starts (:mod:`airflow_lineage.pagetoken`). An edge comes
  with the page that holds the later of its two vertices.
- A bounded walk says so: every page tells whether lineage was left beyond
  ``max_depth`` (``depth_cut_off``) or behind entities the caller cannot see
  (``visibility_cut_off``).

Beyond SageMaker: many start ARNs, depth up to :data:`MAX_DEPTH`, any page size.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from airflow_lineage.model import (
    Arn,
    Direction,
    Edge,
    LineageType,
    Vertex,
    _aware,
    _enum,
    to_micros,
)

__all__ = [
    "DEFAULT_DEPTH",
    "MAX_DEPTH",
    "NO_FILTER",
    "LineageFilter",
    "LineageQuery",
    "LineageResult",
]

DEFAULT_DEPTH = 10
MAX_DEPTH = 1000
"""The deepest walk a query may ask for (SageMaker stops at 10)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageFilter:
    """Which reached vertices a query returns. Empty fields match everything."""

    types: tuple[str, ...] = ()
    lineage_types: tuple[LineageType, ...] = ()
    created_before: datetime | None = None
    created_after: datetime | None = None
    modified_before: datetime | None = None
    modified_after: datetime | None = None
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if isinstance(self.types, str) or isinstance(self.lineage_types, str):
            raise TypeError("Types and LineageTypes must be lists of strings, not one string")
        for t in self.types:
            if not isinstance(t, str):
                raise TypeError(f"Types must hold strings, got {type(t).__name__}")
        object.__setattr__(self, "types", tuple(self.types))
        object.__setattr__(
            self,
            "lineage_types",
            tuple(_enum(LineageType, "LineageTypes", lt) for lt in self.lineage_types),
        )
        for name in ("created_before", "created_after", "modified_before", "modified_after"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _aware(name, value))
        if not isinstance(self.properties, Mapping):
            raise TypeError("Properties must be a mapping of strings")
        for k, v in self.properties.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("Properties must map strings to strings")
        object.__setattr__(
            self, "properties", MappingProxyType(dict(sorted(self.properties.items())))
        )

    @property
    def is_empty(self) -> bool:
        """Return True when the filter matches every vertex."""
        return not (
            self.types
            or self.lineage_types
            or self.properties
            or self.created_before
            or self.created_after
            or self.modified_before
            or self.modified_after
        )

    def matches(
        self,
        *,
        type: str,
        lineage_type: str,
        created: datetime,
        modified: datetime,
        properties: Mapping[str, str] | None = None,
    ) -> bool:
        """Return True when a vertex with these attributes passes every field."""
        test = self.predicate()
        if test is None:
            return True
        props = json.dumps(dict(properties)) if properties else None
        return test(type, lineage_type, to_micros(created), to_micros(modified), props)

    def predicate(self) -> Callable[[str, str, int, int, str | None], bool] | None:
        """Return a fast test on (type, lineage type, created µs, modified µs, properties
        JSON), or None when the filter matches everything."""
        if self.is_empty:
            return None
        types = frozenset(self.types)
        kinds = frozenset(lt.value for lt in self.lineage_types)
        lo_c = to_micros(self.created_after) if self.created_after else None
        hi_c = to_micros(self.created_before) if self.created_before else None
        lo_m = to_micros(self.modified_after) if self.modified_after else None
        hi_m = to_micros(self.modified_before) if self.modified_before else None
        pairs = tuple(self.properties.items())

        # Time bounds are inclusive, as in SageMaker's List APIs ("on or after").
        def test(kind: str, lineage: str, created: int, modified: int, props: str | None) -> bool:
            if types and kind not in types:
                return False
            if kinds and lineage not in kinds:
                return False
            if (lo_c is not None and created < lo_c) or (hi_c is not None and created > hi_c):
                return False
            if (lo_m is not None and modified < lo_m) or (hi_m is not None and modified > hi_m):
                return False
            if pairs:
                values = json.loads(props) if props else {}
                return any(values.get(k) == v for k, v in pairs)
            return True

        return test

    def fingerprint(self) -> list[object]:
        """Return a JSON-able value that identifies the filter."""
        return [
            list(self.types),
            [lt.value for lt in self.lineage_types],
            *(
                None if d is None else d.isoformat()
                for d in (
                    self.created_before,
                    self.created_after,
                    self.modified_before,
                    self.modified_after,
                )
            ),
            sorted(self.properties.items()),
        ]


NO_FILTER = LineageFilter()
"""The filter of a query that names none (immutable, so every such query shares it)."""


@functools.lru_cache(maxsize=1024)
def _check_start(arn: str) -> None:
    """Raise ValueError unless ``arn`` is a lineage ARN (remembered: a paged read checks
    its start ARNs again on every page)."""
    Arn.parse(arn, field_name="StartArns")


@functools.lru_cache(maxsize=256)
def _scope(parts: tuple[object, ...], filters: LineageFilter) -> str:
    """Return the scope digest of a query's identifying parts (remembered: every page of
    a paged read asks for it)."""
    from airflow_lineage.pagetoken import scope_of

    starts, direction, include_edges, max_depth = parts
    return scope_of(
        ["query", list(starts), direction, include_edges, max_depth, filters.fingerprint()]  # type: ignore[call-overload]
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LineageQuery:
    """One lineage query: start entities, direction, depth, filters and a page.

    :param start_arns: one or more ARNs of entities to start from.
    :param max_results: vertices per page; ``None`` returns everything in one page.
    :param next_token: the token of the previous page of this same query.
    """

    start_arns: tuple[str, ...]
    direction: Direction = Direction.BOTH
    include_edges: bool = False
    max_depth: int = DEFAULT_DEPTH
    filters: LineageFilter = NO_FILTER
    max_results: int | None = None
    next_token: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.start_arns, str):
            object.__setattr__(self, "start_arns", (self.start_arns,))
        starts = tuple(dict.fromkeys(self.start_arns))  # keep order, drop repeats
        if not starts:
            raise ValueError("StartArns must name at least one entity")
        for arn in starts:
            if not isinstance(arn, str):
                raise TypeError(f"StartArns must be a string, not {type(arn).__name__}")
            _check_start(arn)
        object.__setattr__(self, "start_arns", starts)
        object.__setattr__(self, "direction", _enum(Direction, "Direction", self.direction))
        if not isinstance(self.include_edges, bool):
            raise TypeError("IncludeEdges must be a bool")
        if isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int):
            raise TypeError("MaxDepth must be an integer")
        if not 0 <= self.max_depth <= MAX_DEPTH:
            raise ValueError(f"MaxDepth must be between 0 and {MAX_DEPTH}, got {self.max_depth}")
        if self.max_results is not None:
            if isinstance(self.max_results, bool) or not isinstance(self.max_results, int):
                raise TypeError("MaxResults must be an integer")
            if self.max_results < 1:
                raise ValueError(f"MaxResults must be at least 1, got {self.max_results}")
        if self.filters is None:
            object.__setattr__(self, "filters", NO_FILTER)
        elif not isinstance(self.filters, LineageFilter):
            raise TypeError("filters must be a LineageFilter")
        if self.next_token is not None and not isinstance(self.next_token, str):
            raise TypeError("NextToken must be a string")

    def fingerprint(self) -> str:
        """Return a short digest that identifies the query regardless of its page.

        The page size is not part of it: a keyset token continues at any size.
        """
        parts = (self.start_arns, self.direction.value, self.include_edges, self.max_depth)
        return _scope(parts, self.filters)


@dataclass(frozen=True, slots=True)
class LineageResult:
    """One page of a query result, and whether the walk behind it was cut off.

    Every page of one query carries the same two flags; they describe the whole walk:

    - ``depth_cut_off``: a vertex at ``max_depth`` has an association leading further in
      the walk's direction to a vertex the walk has not reached. A cycle back into the
      walk is not a cut-off.
    - ``visibility_cut_off``: a walked vertex has an association, in the walk's
      direction, with an entity the caller's account cannot see (not shared with it, or
      not accepted). Nothing else about the hidden lineage is revealed.
    """

    vertices: tuple[Vertex, ...]
    edges: tuple[Edge, ...]
    next_token: str | None = None
    depth_cut_off: bool = False
    visibility_cut_off: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.depth_cut_off, bool) or not isinstance(
            self.visibility_cut_off, bool
        ):
            raise TypeError("depth_cut_off and visibility_cut_off must be bools")

    @property
    def cut_off(self) -> bool:
        """Return True when the walk did not see all of the lineage it was asked for."""
        return self.depth_cut_off or self.visibility_cut_off

    def arns(self) -> list[str]:
        """Return the ARNs of the page's vertices, in order."""
        return [v.arn for v in self.vertices]
