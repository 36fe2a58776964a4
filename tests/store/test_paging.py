"""The query pager's cache is an optimisation that holds one big result at most."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_lineage import Action, Association, LineageQuery, connect
from airflow_lineage.store import querying

from ..conftest import create_store


def test_cached_walks_stay_within_their_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(querying, "_CACHE_ITEMS", 10)
    with connect(create_store(f"sqlite:///{tmp_path / 'l.db'}")) as store:
        hub = Action.new("hub", "Processing", "u")
        spokes = [Action.new(f"s{i}", "Processing", "u") for i in range(12)]
        store.write([hub, *spokes], [Association(hub.arn, s.arn) for s in spokes])
        ask = LineageQuery(start_arns=[hub.arn], direction="Descendants", max_results=5)
        first = store.query(ask)
        second = store.query(ask)  # another read of the same query: another snapshot
        cache = store._pager._cache
        assert len(cache) == 1  # 12 vertices each: the older walk made room
        # Both reads go on, the evicted one by walking again as of its snapshot.
        for page in (first, second):
            rest = store.query(LineageQuery(**{**vars_of(ask), "next_token": page.next_token}))
            assert len(rest.vertices) == 5


def vars_of(query: LineageQuery) -> dict[str, object]:
    return {f: getattr(query, f) for f in query.__dataclass_fields__}


def test_page_order_does_not_depend_on_the_order_the_store_returns_vertices() -> None:
    import random

    from airflow_lineage.traversal import _in_page_order

    rng = random.Random(7)
    levels = [[rng.randrange(10**6) for _ in range(rng.randrange(1, 30))] for _ in range(40)]
    seen: set[int] = set()
    for i, level in enumerate(levels):  # a key at its first depth only, as the walk has it
        levels[i] = [k for k in dict.fromkeys(level) if k not in seen]
        seen.update(levels[i])
    levels = [level for level in levels if level]
    keys = [k for level in levels for k in level]
    prefix = "arn:aws:sagemaker:local:000000000000:artifact/"
    arn = {k: f"{prefix}{rng.getrandbits(64):016x}" for k in keys}
    depth = {k: d for d, level in enumerate(levels, 1) for k in level}

    def columns(order: list[int]) -> tuple[list[int], list[str], list[str], list[str]]:
        return order, [arn[k] for k in order], [f"T{k}" for k in order], ["Artifact"] * len(order)

    shuffled = keys[:]
    rng.shuffle(shuffled)
    expected = sorted(keys, key=lambda k: (depth[k], arn[k]))
    for order in (keys, shuffled):  # the level order the walk asked in, and any other
        arns, types, kinds, depths = _in_page_order(columns(order), levels)
        assert arns == [arn[k] for k in expected]
        assert types == [f"T{k}" for k in expected]
        assert depths == [depth[k] for k in expected]
        assert kinds == ["Artifact"] * len(keys)
