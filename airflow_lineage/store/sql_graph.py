"""The SQL store's graph reading: one set-based statement per level of a walk."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

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
        if not self._sqlite:
            with translated("query lineage"), self._read_tx(snapshot=True) as conn:
                yield _SqlGraph(self, conn.connection, snapshot)
            return
        # SQLite: the driver's own connection from the pool, and a plain BEGIN (every
        # SQLite read is one snapshot): a session and its events cost as much as a small
        # query's statements.
        with translated("query lineage"):
            raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("BEGIN")
            try:
                yield _SqlGraph(self, raw, snapshot)
            finally:
                cursor.execute("ROLLBACK")  # it wrote nothing
        finally:
            raw.close()


@dataclass(slots=True)
class _Statements:
    """The walk's statements for one kind of reader."""

    keys: dict[str, str] = field(default_factory=dict)
    columns: str = ""
    edges: dict[str, str] = field(default_factory=dict)
    attrs: str = ""
    attrs_props: str = ""
    resolve: str = ""
    hidden: dict[str, str] = field(default_factory=dict)


@functools.cache
def _statements(sqlite: bool, filtered: bool, enforced: bool) -> _Statements:
    """Return the statements of a reader (built once per kind: a query of a few vertices
    would spend a tenth of its time formatting them).

    :param filtered: the caller sees only some of the accounts the store holds.
    :param enforced: the database itself hides other accounts (PostgreSQL RLS).
    """
    st = _Statements()

    def within(column: str, param: str = "ids") -> str:
        if sqlite:
            return f"{column} IN (SELECT value FROM json_each(:{param}))"
        return f"{column} = ANY(%({param})s)"

    def scan(table: str, alias: str, column: str) -> str:
        """FROM a table's rows whose ``column`` is one of the ids (then WHERE, to go on).

        SQLite: a join from the ids, so no temporary index of them is built (a quarter
        of a small level's statement)."""
        if sqlite:
            ids = "json_each(:ids) j"
            return f"FROM {ids} JOIN {table} {alias} ON {alias}.{column} = j.value WHERE"
        return f"FROM {table} {alias} WHERE {alias}.{column} = ANY(%(ids)s) AND"

    snap = ":snap" if sqlite else "%(snap)s"
    seen = "" if not filtered else " AND " + within("e.account", "accounts")
    # The snapshot bound: only associations (and so vertices) there at page 1.
    seen += f" AND a.created_at <= {snap}"
    join = "FROM lineage_associations a JOIN lineage_entities e ON e.id ="
    down = f"{join} a.destination_id WHERE {within('a.source_id')}{seen}"
    up = f"{join} a.source_id WHERE {within('a.destination_id')}{seen}"
    # Keys only: the association's own index answers, no entity row is read, unless
    # the far end's account must be checked.
    assoc = "lineage_associations"
    fresh = f"a.created_at <= {snap}"
    if not filtered:
        key_down = f"SELECT a.destination_id AS k {scan(assoc, 'a', 'source_id')} {fresh}"
        key_up = f"SELECT a.source_id AS k {scan(assoc, 'a', 'destination_id')} {fresh}"
    else:
        key_down, key_up = f"SELECT e.id AS k {down}", f"SELECT e.id AS k {up}"
    # One row holding every key as one array: a level of thousands of keys costs one
    # JSON text (SQLite) or one array (PostgreSQL), not a tuple per key.
    agg = "json_group_array" if sqlite else "array_agg"
    st.keys = {
        "Descendants": f"SELECT {agg}(k) FROM ({key_down}) s",
        "Ascendants": f"SELECT {agg}(k) FROM ({key_up}) s",
        "Both": f"SELECT {agg}(k) FROM ({key_down} UNION ALL {key_up}) s",
    }
    # The keys' own order, as the database meets them in the join (the caller checks,
    # and sorts in full when it is another).
    ids = (
        "json_each(:ids) j JOIN lineage_entities e ON e.id = j.value"
        if sqlite
        else "unnest(%(ids)s::bigint[]) j(value) JOIN lineage_entities e ON e.id = j.value"
    )
    st.columns = (
        f"SELECT {agg}(e.id), {agg}(e.arn), {agg}(e.type), {agg}(e.lineage_type) FROM {ids}"
    )
    if not filtered:
        edges = ""
        src_in = f"{scan(assoc, 'a', 'source_id')} {fresh}"
        dst_in = f"{scan(assoc, 'a', 'destination_id')} {fresh}"
        cols = "SELECT a.source_id, a.destination_id, a.association_type"
    else:  # the far end of an edge must be visible too (the near one is)
        cols = "SELECT a.source_id, a.destination_id, a.association_type"
        src_in = f"a.destination_id WHERE {within('a.source_id')}{seen}"
        dst_in = f"a.source_id WHERE {within('a.destination_id')}{seen}"
        edges = join
    st.edges = {
        "Descendants": f"{cols} {edges} {src_in}",
        "Ascendants": f"{cols} {edges} {dst_in}",
        "Both": f"{cols} {edges} {src_in} UNION {cols} {edges} {dst_in}",
    }
    attrs = "SELECT e.id, e.arn, e.type, e.lineage_type, e.created_at, e.modified_at"
    where = f"{scan('lineage_entities', 'e', 'id')} 1 = 1"
    st.attrs = f"{attrs}, NULL {where}"
    st.attrs_props = f"{attrs}, e.properties {where}"
    st.resolve = f"SELECT e.arn, e.id {scan('lineage_entities', 'e', 'arn')} " + (
        "1 = 1" if not filtered else within("e.account", "accounts")
    )
    # Does a walked vertex touch an entity the caller cannot see? Asked only when the
    # caller sees less than the store holds; the answer is one row or none.
    st.hidden = {}
    if enforced:
        # Row-level security hides those edges from this very session: ask the
        # database's probe, which answers yes/no for this account's own vertices only
        # (migration 0004). A probe that cannot answer raises; the query fails closed.
        probe = "SELECT 1 WHERE lineage_touches_hidden(%(ids)s::bigint[], %(walk)s::text)"
        st.hidden = dict.fromkeys(("Descendants", "Ascendants", "Both"), probe)
    elif filtered:
        unseen = (
            "e.account NOT IN (SELECT value FROM json_each(:accounts))"
            if sqlite
            else "e.account <> ALL(%(accounts)s)"
        )
        down_h = f"EXISTS (SELECT 1 {join} a.destination_id WHERE {within('a.source_id')}"
        up_h = f"EXISTS (SELECT 1 {join} a.source_id WHERE {within('a.destination_id')}"
        down_h, up_h = f"{down_h} AND {unseen})", f"{up_h} AND {unseen})"
        st.hidden = {
            "Descendants": f"SELECT 1 WHERE {down_h}",
            "Ascendants": f"SELECT 1 WHERE {up_h}",
            "Both": f"SELECT 1 WHERE {down_h} OR {up_h}",
        }

    return st


class _SqlGraph:
    """The query walk's view of a SQL store, inside one read transaction.

    The walk's statements go straight to the DB-API cursor: each level may return tens of
    thousands of rows, and plain tuples cost a fraction of SQLAlchemy rows.
    """

    def __init__(self, store: SqlCore, dbapi_conn: Any, snapshot: int) -> None:
        self._cursor = dbapi_conn.cursor()
        self._sqlite = store._sqlite
        self._snapshot = snapshot
        # The accounts the caller sees, looked up once; no filter when they are all there
        # are (a store of one account, or one that sees every account it holds).
        self.visible, everything = store._visibility_on(dbapi_conn)
        self.view = view_of(store.account, None if store.unrestricted else self.visible)
        self.accounts = None if everything else self.visible
        self._accounts: Any = None
        if self.accounts is not None:
            self._accounts = json.dumps(self.accounts) if self._sqlite else self.accounts
        st = _statements(self._sqlite, self.accounts is not None, store._enforced)
        self._keys, self._columns, self._edges = st.keys, st.columns, st.edges
        self._attrs, self._attrs_props, self._resolve = st.attrs, st.attrs_props, st.resolve
        self._hidden = st.hidden

    def _run(self, sql: str, values: Sequence[Any], walk: str | None = None) -> list[Any]:
        """Run a walk statement over ``values``: entity ids, or ARNs for :meth:`resolve`."""
        if not self._sqlite:
            param: Any = list(values)
        elif values and type(values[0]) is int:
            # Ids are ints from the database: their JSON array is their decimal text, a
            # third of json.dumps's cost, paid by every statement of a walk.
            param = "[" + ",".join(map(str, values)) + "]"
        else:
            param = json.dumps(values)
        self._cursor.execute(
            sql, {"ids": param, "accounts": self._accounts, "walk": walk, "snap": self._snapshot}
        )
        rows: list[Any] = self._cursor.fetchall()
        return rows

    def resolve(self, arns: Sequence[str]) -> dict[str, int]:
        return dict(self._run(self._resolve, arns))

    def _array(self, sql: str, values: Sequence[Any]) -> list[Any]:
        (found,) = self._run(sql, values)
        return list(found[0] or ()) if not self._sqlite else json.loads(found[0])

    def next_keys(self, frontier: Sequence[int], direction: str) -> Iterable[int]:
        return self._array(self._keys[direction], frontier)

    def columns(self, keys: Sequence[int]) -> tuple[list[int], list[str], list[str], list[str]]:
        (found,) = self._run(self._columns, keys)
        if self._sqlite:
            ids, arns, types, kinds = (json.loads(c) for c in found)
            return ids, arns, types, kinds
        ids, arns, types, kinds = (list(c or ()) for c in found)
        return ids, arns, types, kinds

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
