"""Each step of a walk reads an association from one B-tree, whichever way it walks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from airflow_lineage.store.sql_graph import _statements
from tests.conftest import create_store

DIRECTIONS = ("Ascendants", "Descendants", "Both")


def _plan(db: Path, sql: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        params = {"ids": "[1]", "snap": 0, "accounts": "[]", "walk": None}
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("kind", ["keys", "edges"])
def test_a_walk_step_reads_each_association_once(tmp_path: Path, kind: str, direction: str) -> None:
    # The snapshot bound reads each association's creation time: an index without it
    # sends every step back to the table, a second search per association walked.
    db = tmp_path / "lineage.db"
    create_store(f"sqlite:///{db}")
    statements = _statements(sqlite=True, filtered=False, enforced=False)
    sql = getattr(statements, kind)[direction]
    searches = [step for step in _plan(db, sql) if " a USING " in step]
    assert searches, _plan(db, sql)
    for step in searches:
        assert "COVERING INDEX" in step or "PRIMARY KEY" in step, step
