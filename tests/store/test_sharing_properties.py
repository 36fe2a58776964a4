"""Property-based: a query sees exactly the lineage shared with the caller, nothing more.

Random graphs over three accounts, random shares, accepts and revocations, random
queries (start, direction, depth, filters, with or without edges) as a random caller.
Each result is compared with a reference computed here by a plain BFS over the caller's
visible subgraph. SQLite runs ``SQLITE_EXAMPLES`` cases, PostgreSQL ``PG_EXAMPLES``.
"""

from __future__ import annotations

import tempfile
from collections import deque
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_lineage import EntityNotFoundError, LineageQuery
from airflow_lineage.model import Action, Artifact, Association, Context, Entity
from airflow_lineage.query import LineageFilter
from airflow_lineage.store.sql import SqlStore

from ..conftest import create_store

SQLITE_EXAMPLES = 500
PG_EXAMPLES = 150
ACCOUNTS = ("111111111111", "222222222222", "333333333333")
TYPES = ("DataSet", "Model", "Training")


@dataclass
class Scenario:
    nodes: list[tuple[int, str, str]]  # (account index, lineage type, type)
    edges: list[tuple[int, int]]
    share_ops: list[tuple[str, int, int]]  # (op, owner index, consumer index)
    queries: list[tuple[int, int, str, int, tuple[str, ...], bool]]


@st.composite
def scenarios(draw: Any) -> Scenario:
    n = draw(st.integers(2, 12))
    nodes = [
        (
            draw(st.integers(0, 2)),
            draw(st.sampled_from(["Artifact", "Action", "Context"])),
            draw(st.sampled_from(TYPES)),
        )
        for _ in range(n)
    ]
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1])
    edges = list(dict.fromkeys(draw(st.lists(pairs, max_size=3 * n))))
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["share", "accept", "revoke"]),
                st.integers(0, 2),
                st.integers(0, 2),
            ).filter(lambda o: o[1] != o[2]),
            max_size=10,
        )
    )
    queries = draw(
        st.lists(
            st.tuples(
                st.integers(0, 2),  # caller
                st.integers(0, n - 1),  # start
                st.sampled_from(["Ascendants", "Descendants", "Both"]),
                st.integers(0, 4),  # depth
                st.sampled_from([(), ("Artifact",), ("Action", "Context")]),
                st.booleans(),  # include edges
            ),
            min_size=1,
            max_size=4,
        )
    )
    return Scenario(nodes, edges, ops, queries)


def _entity(i: int, account: str, lineage_type: str, kind: str) -> Entity:
    if lineage_type == "Artifact":
        return Artifact.new(f"s3://b/{i}", kind, account=account)
    if lineage_type == "Action":
        return Action.new(f"n{i}", kind, f"u{i}", account=account)
    return Context.new(f"n{i}", kind, f"u{i}", account=account)


class World:
    """One database, an unrestricted writer and one store per account, reset per case."""

    def __init__(self, url: str) -> None:
        create_store(url)
        self.admin = SqlStore(url, unrestricted=True)
        self.stores = [SqlStore(url, account=a) for a in ACCOUNTS]

    def reset(self) -> None:
        with self.admin._engine.begin() as conn:
            for table in (
                "lineage_associations",
                "lineage_entities",
                "lineage_groups",
                "lineage_shares",
            ):
                conn.execute(sa.text(f"DELETE FROM {table}"))
        for s in (self.admin, *self.stores):
            s._known_groups.clear()
            s._pager.clear()

    def close(self) -> None:
        for s in (self.admin, *self.stores):
            s.close()


def _reference(
    visible_edges: list[tuple[str, str]],
    start: str,
    direction: str,
    depth: int,
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """BFS distances from ``start`` within ``depth`` and the walk's adjacency."""
    adj: dict[str, list[str]] = {}
    for s, d in visible_edges:
        if direction in ("Descendants", "Both"):
            adj.setdefault(s, []).append(d)
        if direction in ("Ascendants", "Both"):
            adj.setdefault(d, []).append(s)
    dist = {start: 0}
    todo = deque([start])
    while todo:
        u = todo.popleft()
        if dist[u] == depth:
            continue
        for v in adj.get(u, ()):
            if v not in dist:
                dist[v] = dist[u] + 1
                todo.append(v)
    return dist, adj


def check(world: World, sc: Scenario) -> None:
    world.reset()
    ents = [_entity(i, ACCOUNTS[a], lt, kind) for i, (a, lt, kind) in enumerate(sc.nodes)]
    arns = [e.arn for e in ents]
    account_of = {e.arn: e.account for e in ents}
    lineage_type_of = {e.arn: e.lineage_type.value for e in ents}
    world.admin.write(ents, [Association(arns[s], arns[d]) for s, d in sc.edges])

    status: dict[tuple[int, int], str] = {}
    for op, owner, consumer in sc.share_ops:
        key = (owner, consumer)
        now = status.get(key)
        try:
            if op == "share":
                world.stores[owner].share(ACCOUNTS[consumer])
                status[key] = "Pending" if now in (None, "Revoked") else now  # type: ignore[assignment]
            elif op == "accept":
                world.stores[consumer].accept(ACCOUNTS[owner])
                assert now in ("Pending", "Accepted")
                status[key] = "Accepted"
            else:
                world.stores[owner].revoke(ACCOUNTS[consumer])
                assert now is not None
                status[key] = "Revoked"
        except EntityNotFoundError:
            assert (op == "accept" and now not in ("Pending", "Accepted")) or (
                op == "revoke" and now is None
            )

    for caller, start_i, direction, depth, lineage_types, include_edges in sc.queries:
        store = world.stores[caller]
        sees = {ACCOUNTS[caller]} | {
            ACCOUNTS[o] for (o, c), s in status.items() if c == caller and s == "Accepted"
        }
        visible = {a for a in arns if account_of[a] in sees}
        visible_edges = [
            (arns[s], arns[d]) for s, d in sc.edges if arns[s] in visible and arns[d] in visible
        ]
        assert {g.account for g in store.lineage_groups()} <= sees
        start = arns[start_i]
        query = LineageQuery(
            start_arns=[start],
            direction=direction,
            max_depth=depth,
            include_edges=include_edges,
            filters=LineageFilter(lineage_types=lineage_types),  # type: ignore[arg-type]
        )
        if start not in visible:
            with pytest.raises(EntityNotFoundError) as err:
                store.query(query)
            assert str(err.value) == f"no lineage entity has the ARN {start}"
            assert store.get_many([start]) == {}
            continue
        result = store.query(query)
        got = [v.arn for v in result.vertices]
        assert set(got) <= visible, "an invisible vertex was returned"
        for e in result.edges:
            assert (e.source_arn, e.destination_arn) in visible_edges, "an invisible edge"
        dist, adj = _reference(visible_edges, start, direction, depth)

        match = {
            a
            for a in dist
            if a != start and (not lineage_types or lineage_type_of[a] in lineage_types)
        }
        if not include_edges:
            assert got == sorted(match, key=lambda a: (dist[a], a))
            continue
        assert start in got and match <= set(got) and set(got) <= set(dist)
        got_edges = {(e.source_arn, e.destination_arn) for e in result.edges}
        assert all(s in got and d in got for s, d in got_edges)
        if direction == "Both":
            continue
        # Directed walks: the path subgraph from the start to every match, exactly.
        into: dict[str, list[str]] = {}
        for u, vs in adj.items():
            for v in vs:
                into.setdefault(v, []).append(u)
        togo = dict.fromkeys(match, 0)
        todo = deque(match)
        while todo:
            v = todo.popleft()
            for u in into.get(v, ()):
                if u not in togo:
                    togo[u] = togo[v] + 1
                    todo.append(u)
        kept = {start} | {a for a in dist if a in togo and dist[a] + togo[a] <= depth}
        assert set(got) == kept
        want_edges = set()
        for u, vs in adj.items():
            for v in vs:
                if u in dist and dist[u] < depth and v in togo and dist[u] + 1 + togo[v] <= depth:
                    want_edges.add((u, v) if direction == "Descendants" else (v, u))
        assert got_edges == want_edges

    # Every read of every caller holds only what it sees, and all of it.
    for caller, store in enumerate(world.stores):
        sees = {ACCOUNTS[caller]} | {
            ACCOUNTS[o] for (o, c), s in status.items() if c == caller and s == "Accepted"
        }
        visible = {a for a in arns if account_of[a] in sees}
        visible_edges = {
            (arns[s], arns[d]) for s, d in sc.edges if arns[s] in visible and arns[d] in visible
        }
        assert set(store.get_many(arns)) == visible
        listed = {
            e.arn for lt in ("Artifact", "Action", "Context") for e in store.list_entities(lt).items
        }
        assert listed == visible
        assert {
            (a.source_arn, a.destination_arn) for a in store.list_associations().items
        } == visible_edges
        assert {
            (a.source_arn, a.destination_arn) for a in store.associations_among(arns)
        } == visible_edges
        exported = list(store.export())
        assert {x.arn for x in exported if not isinstance(x, Association)} == visible
        assert {
            (x.source_arn, x.destination_arn) for x in exported if isinstance(x, Association)
        } == visible_edges


_WORLDS: dict[str, World] = {}


def _world(backend: str) -> World:
    if backend not in _WORLDS:
        if backend == "sqlite":
            url = f"sqlite:///{tempfile.mkdtemp(prefix='lineage-sharing-')}/lineage.db"
        else:
            import uuid

            from tests.conftest import PG_URL

            schema = f"lineage_test_{uuid.uuid4().hex[:12]}"
            engine = sa.create_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
            engine.dispose()
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
        _WORLDS[backend] = World(url)
    return _WORLDS[backend]


@pytest.fixture(scope="module", autouse=True)
def _close_worlds() -> Any:
    yield
    for backend, world in list(_WORLDS.items()):
        world.close()
        if backend == "postgres":
            from tests.conftest import PG_URL

            schema = world.admin.url.split("%3D")[-1]
            engine = sa.create_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            engine.dispose()
    _WORLDS.clear()


@settings(
    max_examples=SQLITE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sc=scenarios())
def test_queries_see_exactly_the_shared_lineage_sqlite(sc: Scenario) -> None:
    check(_world("sqlite"), sc)


@settings(
    max_examples=PG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sc=scenarios())
def test_queries_see_exactly_the_shared_lineage_postgres(sc: Scenario) -> None:
    from tests.conftest import require_postgres

    require_postgres()
    check(_world("postgres"), sc)
