"""``store.bulk_load()``: many batches written faster, nothing lost, on every backend.

On SQLite the block lets the write-ahead log grow instead of copying it into the
database after every batch, and checkpoints it on the way out. The tests read the
database file alone (a copy without its ``-wal``) to see where the rows are.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from airflow_lineage import Artifact, Association, connect
from airflow_lineage.store.base import LineageStore
from tests.conftest import create_store

BATCHES, PER_BATCH = 40, 150


def _write_batches(store: LineageStore, tag: str) -> None:
    """Write BATCHES batches of PER_BATCH artifacts, each batch a chain."""
    for b in range(BATCHES):
        arts = [
            Artifact.new(f"s3://bulk/{tag}/{b}/{i}", "DataSet", properties={"i": str(i)})
            for i in range(PER_BATCH)
        ]
        links = [Association(x.arn, y.arn) for x, y in pairwise(arts)]
        store.write(arts, links)


def _count_elsewhere(url: str) -> tuple[int, int]:
    """Count entities and associations from a new store in a new process."""
    code = (
        "import sys; from airflow_lineage import Association, connect\n"
        "items = list(connect(sys.argv[1]).export())\n"
        "links = sum(isinstance(x, Association) for x in items)\n"
        "print(len(items) - links, links)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_every_batch_of_a_bulk_load_is_there_for_other_processes(store_url: str) -> None:
    store = connect(store_url)
    try:
        with store.bulk_load():
            _write_batches(store, "a")
            during = _count_elsewhere(store_url)
        after = _count_elsewhere(store_url)
    finally:
        store.close()
    expected = (BATCHES * PER_BATCH, BATCHES * (PER_BATCH - 1))
    assert during == expected  # each write is committed as it returns
    assert after == expected


def _rows_in_database_file(path: Path, tmp_path: Path) -> int:
    """Count the entities the database file holds by itself (without its WAL)."""
    copy = tmp_path / f"copy-{len(list(tmp_path.glob('copy-*')))}.db"
    shutil.copyfile(path, copy)
    con = sqlite3.connect(copy)
    try:
        (n,) = con.execute("SELECT count(*) FROM lineage_entities").fetchone()
    finally:
        con.close()
    return int(n)


def test_a_bulk_load_checkpoints_once_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    store = connect(create_store(f"sqlite:///{path}"))
    try:
        with store.bulk_load():
            _write_batches(store, "a")
            wal = Path(f"{path}-wal").stat().st_size
            in_file_during = _rows_in_database_file(path, tmp_path)
        in_file_after = _rows_in_database_file(path, tmp_path)
        # Outside the block, SQLite's own threshold (1,000 pages) applies again.
        _write_batches(store, "b")
        in_file_later = _rows_in_database_file(path, tmp_path)
    finally:
        store.close()
    assert wal > 2 * 1000 * 4096, "the WAL should grow past SQLite's threshold"
    assert in_file_during == 0, "no batch should have been checkpointed inside the block"
    assert in_file_after == BATCHES * PER_BATCH, "the block's end should checkpoint"
    assert in_file_later > BATCHES * PER_BATCH, "writes after it should checkpoint as usual"


def test_a_bulk_load_left_by_an_error_checkpoints_and_ends(tmp_path: Path) -> None:
    path = tmp_path / "lineage.db"
    store = connect(create_store(f"sqlite:///{path}"))
    try:
        with pytest.raises(ValueError, match="stop"), store.bulk_load():
            _write_batches(store, "a")
            raise ValueError("stop")
        assert _rows_in_database_file(path, tmp_path) == BATCHES * PER_BATCH
        _write_batches(store, "b")
        assert _rows_in_database_file(path, tmp_path) > BATCHES * PER_BATCH
    finally:
        store.close()
