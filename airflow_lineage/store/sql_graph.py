"""The SQL store's graph reading: one set-based statement per level of a walk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection

from airflow_lineage.query import LineageQuery
from airflow_lineage.store.querying import view_of
from airflow_lineage.store.sql_engine import SqlCore, translated
from airflow_lineage.traversal import AttributeRow

__all__ = ["SqlGraphReading"]


class SqlGraphReading(SqlCore):
    """Reading the graph of a SQL store for the query engine."""

    @contextmanager
    def read_graph(self, snapshot: int, query: LineageQuery) -> Iterator[_SqlGraph]:
        """Open one consistent read of the graph as of ``snapshot`` (µs)."""
        with translated("query lineage"), self._read_tx(snapshot=True) as conn:
            yield _SqlGraph(self, conn, snapshot)


class _SqlGraph:
    """The query walk's view of a SQL store, inside one read transaction.

    The walk's statements go straight to the DB-API cursor: each level may return tens of
    thousands of rows, and plain tuples cost a fraction of SQLAlchemy rows.
    """

    def __init__(self, store: SqlCore, conn: Connection, snapshot: int) -> None:
        self._cursor = conn.connection.cursor()
        self._sqlite = store._sqlite
        self._snapshot = snapshot
        # The accounts the caller sees, looked up once; no filter when they are all there
        # are (a store of one account, or one that sees every account it holds).
        self.visible, everything = store._visibility(conn)
        self.view = view_of(store.account, None if store.unrestricted else self.visible)
        self.accounts = None if everything else self.visible
        self._accounts: Any = None
        if self.accounts is not None:
            self._accounts = json.dumps(self.accounts) if self._sqlite else self.accounts

        def within(column: str, param: str = "ids") -> str:
            if self._sqlite:
                return f"{column} IN (SELECT value FROM json_each(:{param}))"
            return f"{column} = ANY(%({param})s)"

        snap = ":snap" if self._sqlite else "%(snap)s"
        seen = "" if self.accounts is None else " AND " + within("e.account", "accounts")
        # The snapshot bound: only associations (and so vertices) there at page 1.
        seen += f" AND a.created_at <= {snap}"
        attrs = "SELECT e.id, e.arn, e.type, e.lineage_type, e.created_at, e.modified_at"
        join = "FROM lineage_associations a JOIN lineage_entities e ON e.id ="
        down = f"{join} a.destination_id WHERE {within('a.source_id')}{seen}"
        up = f"{join} a.source_id WHERE {within('a.destination_id')}{seen}"
        self._next: dict[tuple[str, bool], str] = {}
        for props, extra in ((False, ", NULL"), (True, ", e.properties")):
            self._next[("Descendants", props)] = f"{attrs}{extra} {down}"
            self._next[("Ascendants", props)] = f"{attrs}{extra} {up}"
            self._next[("Both", props)] = f"{attrs}{extra} {down} UNION ALL {attrs}{extra} {up}"
        if self.accounts is None:
            edges = "FROM lineage_associations a WHERE"
            src_in = f"{within('a.source_id')} AND a.created_at <= {snap}"
            dst_in = f"{within('a.destination_id')} AND a.created_at <= {snap}"
            cols = "SELECT a.source_id, a.destination_id, a.association_type"
        else:  # the far end of an edge must be visible too (the near one is)
            cols = "SELECT a.source_id, a.destination_id, a.association_type"
            src_in = f"a.destination_id WHERE {within('a.source_id')}{seen}"
            dst_in = f"a.source_id WHERE {within('a.destination_id')}{seen}"
            edges = join
        self._edges = {
            "Descendants": f"{cols} {edges} {src_in}",
            "Ascendants": f"{cols} {edges} {dst_in}",
            "Both": f"{cols} {edges} {src_in} UNION {cols} {edges} {dst_in}",
        }
        attrs = "SELECT id, arn, type, lineage_type, created_at, modified_at"
        where = f"FROM lineage_entities WHERE {within('id')}"
        self._attrs = f"{attrs}, NULL {where}"
        self._attrs_props = f"{attrs}, properties {where}"
        self._resolve = f"SELECT arn, id FROM lineage_entities e WHERE {within('arn')}" + (
            "" if self.accounts is None else " AND " + within("e.account", "accounts")
        )
        # Does a walked vertex touch an entity the caller cannot see? Asked only when the
        # caller sees less than the store holds; the answer is one row or none.
        self._hidden: dict[str, str] = {}
        if store._enforced:
            # Row-level security hides those edges from this very session: ask the
            # database's probe, which answers yes/no for this account's own vertices only
            # (migration 0004). A probe that cannot answer raises; the query fails closed.
            probe = "SELECT 1 WHERE lineage_touches_hidden(%(ids)s::bigint[], %(walk)s::text)"
            self._hidden = dict.fromkeys(("Descendants", "Ascendants", "Both"), probe)
        elif self.accounts is not None:
            unseen = (
                "e.account NOT IN (SELECT value FROM json_each(:accounts))"
                if self._sqlite
                else "e.account <> ALL(%(accounts)s)"
            )
            down_h = f"EXISTS (SELECT 1 {join} a.destination_id WHERE {within('a.source_id')}"
            up_h = f"EXISTS (SELECT 1 {join} a.source_id WHERE {within('a.destination_id')}"
            down_h, up_h = f"{down_h} AND {unseen})", f"{up_h} AND {unseen})"
            self._hidden = {
                "Descendants": f"SELECT 1 WHERE {down_h}",
                "Ascendants": f"SELECT 1 WHERE {up_h}",
                "Both": f"SELECT 1 WHERE {down_h} OR {up_h}",
            }

    def _run(self, sql: str, values: Sequence[Any], walk: str | None = None) -> list[Any]:
        param = json.dumps(list(values)) if self._sqlite else list(values)
        self._cursor.execute(
            sql, {"ids": param, "accounts": self._accounts, "walk": walk, "snap": self._snapshot}
        )
        return list(self._cursor.fetchall())

    def resolve(self, arns: Sequence[str]) -> dict[str, int]:
        return dict(self._run(self._resolve, arns))

    def next_level(
        self, frontier: Sequence[int], direction: str, *, properties: bool
    ) -> Iterable[AttributeRow]:
        return self._run(self._next[(direction, properties)], frontier)

    def neighbors(
        self, frontier: Sequence[int], direction: str
    ) -> Iterable[tuple[int, int, str | None]]:
        return self._run(self._edges[direction], frontier)

    def attributes(self, keys: Sequence[int], *, properties: bool) -> Iterable[AttributeRow]:
        return self._run(self._attrs_props if properties else self._attrs, keys)

    def hidden(self, keys: Sequence[int], direction: str) -> bool:
        if not self._hidden or not keys:
            return False
        return bool(self._run(self._hidden[direction], keys, str(direction)))
