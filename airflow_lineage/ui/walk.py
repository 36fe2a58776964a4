"""One request's walk of a lineage graph: a level at a time, through visible vertices only,
within a fixed budget of work.

The walk asks the store for one level at a time (one set-based query per level and
direction), keeps only the vertices the user may see (:mod:`airflow_lineage.ui.access`)
and goes on only from those, so lineage reachable only through withheld vertices is never
read further. It stops, and says why, at the first of:

- ``limit`` visible vertices (the request's own cap on what it draws);
- :data:`MAX_READ` vertices read from the store, visible or withheld;
- :data:`TIME_BUDGET_S` seconds, checked before each level.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from airflow_lineage.capture.record import RUN_CONTEXT_TYPE, TASK_RUN_CONTEXT_TYPE
from airflow_lineage.model import Arn, AssociationType, Direction, Edge, LineageType, Vertex
from airflow_lineage.query import LineageQuery
from airflow_lineage.store.base import LineageStore
from airflow_lineage.ui.access import Attribution, Reader, task_run_of

__all__ = ["MAX_READ", "TIME_BUDGET_S", "Budget", "Walk"]

MAX_READ = 50_000
"""Most vertices one request reads from the store, visible or withheld."""

TIME_BUDGET_S = 10.0
"""Longest one request walks, in seconds; it answers with what it reached by then."""


@dataclass(frozen=True, slots=True)
class Budget:
    """The work one request may do.

    :param limit: most visible vertices returned.
    :param max_read: most vertices read from the store.
    :param seconds: longest walk, checked before each level.
    """

    limit: int
    max_read: int
    seconds: float

    def __post_init__(self) -> None:
        for name in ("limit", "max_read"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an integer")
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, int | float):
            raise TypeError("seconds must be a number")
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")

    @classmethod
    def default(cls, limit: int) -> Budget:
        """Return the budget of a request that draws at most ``limit`` vertices."""
        return cls(limit, MAX_READ, TIME_BUDGET_S)


class Walk:
    """The visible vertices one request has reached so far, in the order reached."""

    def __init__(self, store: LineageStore, reader: Reader, budget: Budget) -> None:
        self.store = store
        self.reader = reader
        self.budget = budget
        self.attribution = Attribution(store, cap=budget.max_read)
        self.kept: dict[str, Vertex] = {}
        self.truncated: str | None = None
        """Why the walk stopped short (None: it did not)."""
        self._read = 0
        self._deadline = time.monotonic() + budget.seconds

    def admit(self, vertices: Sequence[Vertex]) -> list[Vertex]:
        """Keep the vertices the user may see, up to the limit; return those kept."""
        out: list[Vertex] = []
        for v in self.attribution.visible(self.reader, vertices):
            if v.arn not in self.kept:
                if len(self.kept) >= self.budget.limit:
                    self._stop(f"more than {self.budget.limit} vertices to show (limit)")
                    break
                self.kept[v.arn] = v
            out.append(v)
        return out

    def starts(self, arns: Sequence[str]) -> list[str]:
        """Keep those of these entities the user may see; return their ARNs.

        Entities that do not exist and entities the user may not see are left out alike.
        """
        found = self.store.get_many(list(dict.fromkeys(arns)))
        self._read += len(found)
        return [v.arn for v in self.admit([found[a].vertex() for a in arns if a in found])]

    def walk(self, starts: Sequence[str], direction: Direction, depth: int) -> None:
        """Walk ``depth`` levels from kept ``starts`` in one direction."""
        seen = set(starts)
        frontier = [a for a in starts if a in self.kept]
        for _ in range(depth):
            if not frontier or not self._may_go_on():
                return
            result = self.store.query(
                LineageQuery(
                    start_arns=tuple(frontier),
                    direction=direction,
                    max_depth=1,
                    max_results=self.budget.max_read - self._read,
                )
            )
            self._read += len(result.vertices)
            if result.next_token is not None:
                self._stop(f"the walk read {self.budget.max_read} vertices, the most per request")
            new = [v for v in result.vertices if v.arn not in seen]
            seen.update(v.arn for v in new)
            frontier = [v.arn for v in self.admit(new)]

    def run_steps(self, context: str) -> list[str]:
        """Keep a kept DAG-run context's actions the user may see; return their ARNs."""
        if context not in self.kept or not self._may_go_on():
            return []
        links = self.store.list_associations(
            destination_arn=context,
            association_type=AssociationType.ASSOCIATED_WITH,
            max_results=self.budget.max_read - self._read,
        )
        actions = list(
            dict.fromkeys(
                a.source_arn
                for a in links.items
                if Arn.parse(a.source_arn).lineage_type is LineageType.ACTION
            )
        )
        kept = self.starts(actions)
        if links.next_token is not None:
            self._stop(f"the walk read {self.budget.max_read} vertices, the most per request")
        return kept

    def run(self, context: str, dag_id: str, run_id: str) -> None:
        """Keep a DAG run's own lineage: its context, its actions and what is one
        association away from them (inputs, outputs, the DAG's, step and the run's
        task-run contexts), but not other runs' actions or contexts.

        :param context: a kept context of the DAG run ``run_id`` of ``dag_id``.
        """
        steps = self.run_steps(context)
        if context not in self.kept or not self._may_go_on():
            return
        result = self.store.query(
            LineageQuery(
                start_arns=(context, *steps),
                direction=Direction.BOTH,
                max_depth=1,
                max_results=self.budget.max_read - self._read,
            )
        )
        self._read += len(result.vertices)
        if result.next_token is not None:
            self._stop(f"the walk read {self.budget.max_read} vertices, the most per request")
        near = [
            v
            for v in result.vertices
            if v.lineage_type is not LineageType.ACTION and v.type != RUN_CONTEXT_TYPE
        ]
        # A step linked to this run and to another (a hijack) brings that run's task-run
        # context along: only those capture names for this run are the run's.
        task_runs = [v.arn for v in near if self._is_task_run(v)]
        found = self.store.get_many(task_runs) if task_runs else {}
        self._read += len(found)
        ours = {a for a, e in found.items() if task_run_of(e) == (dag_id, run_id)}
        self.admit([v for v in near if not self._is_task_run(v) or v.arn in ours])

    @staticmethod
    def _is_task_run(v: Vertex) -> bool:
        return v.lineage_type is LineageType.CONTEXT and v.type == TASK_RUN_CONTEXT_TYPE

    def edges(self) -> list[Edge]:
        """Return the associations between kept vertices (no other edge is revealed)."""
        return [a.edge() for a in self.store.associations_among(list(self.kept))]

    def _may_go_on(self) -> bool:
        if self.truncated is not None:
            return False
        if self._read >= self.budget.max_read:
            self._stop(f"the walk read {self.budget.max_read} vertices, the most per request")
        elif time.monotonic() > self._deadline:
            self._stop(f"the walk took over {self.budget.seconds:g} s, the most per request")
        return self.truncated is None

    def _stop(self, why: str) -> None:
        if self.truncated is None:
            self.truncated = why
