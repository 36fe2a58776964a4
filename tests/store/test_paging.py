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
