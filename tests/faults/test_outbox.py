"""The outbox cannot jam: poison records go to dead-letter, replay is bounded, renames
are flushed, and ``airflow-lineage outbox`` drains it and says what is left."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_lineage import connect
from airflow_lineage.capture.outbox import Outbox, store_unavailable
from airflow_lineage.cli import main as cli
from airflow_lineage.exceptions import (
    AccessDeniedError,
    EntityNotFoundError,
    StoreError,
    StoreUnavailableError,
)
from airflow_lineage.model import Association, AssociationType

from ..conftest import create_store
from .records import put, record


def _arns(url: str) -> set[str]:
    with connect(url) as store:
        return {getattr(e, "arn", "") for e in store.export() if not isinstance(e, Association)}


def test_a_poison_record_goes_to_dead_letter_and_later_records_are_written(
    store_url: str, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    first, second, third = record("a"), record("b"), record("c")
    put(outbox, first)
    (outbox.directory / "00000000000000000001-poison.json").write_text("{not json")
    put(outbox, second)
    # A record the store refuses: an edge to an entity that is nowhere.
    dangling = Association(
        source_arn=third.action_arn,
        destination_arn=third.action_arn.replace("action/", "action/missing-"),
        association_type=AssociationType.ASSOCIATED_WITH,
    )
    outbox.put(third.entities, (*third.associations, dangling), third.upsert)
    with connect(store_url) as store:
        result = outbox.replay(store)
    assert (result.replayed, result.dead, result.pending, result.stopped) == (2, 2, 0, None)
    assert {first.action_arn, second.action_arn} <= _arns(store_url)
    assert third.action_arn not in _arns(store_url)  # all or nothing: none of it written
    dead = outbox.dead()
    assert len(dead) == 2 and dead[0].name == "00000000000000000001-poison.json"
    assert "not a lineage outbox record" in outbox.error_of(dead[0])
    assert "EntityNotFoundError" in outbox.error_of(dead[1])
    assert outbox.pending() == []


def test_an_unavailable_store_stops_the_replay_and_keeps_every_record(tmp_path: Path) -> None:
    url = create_store(f"sqlite:///{tmp_path / 'lineage.db'}")
    outbox = Outbox(tmp_path / "outbox")
    recs = [record(t) for t in "abc"]
    for rec in recs:
        put(outbox, rec)
    locker = sqlite3.connect(tmp_path / "lineage.db", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with connect(url, timeout=0.5) as store, pytest.raises(StoreError) as caught:
            outbox.replay(store)
        assert store_unavailable(caught.value)
        assert len(outbox.pending()) == 3 and outbox.dead() == []
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    with connect(url) as store:
        assert outbox.replay(store).replayed == 3
    assert {r.action_arn for r in recs} <= _arns(url)


def test_replay_is_bounded_by_count_and_by_time(tmp_path: Path) -> None:
    url = create_store(f"sqlite:///{tmp_path / 'lineage.db'}")
    outbox = Outbox(tmp_path / "outbox")
    for task in "abcde":
        put(outbox, record(task))
    with connect(url) as store:
        result = outbox.replay(store, max_records=2)
        assert (result.replayed, result.pending) == (2, 3)
        assert result.stopped == "max_records=2 reached"
        started = time.monotonic()
        result = outbox.replay(store, time_budget=1e-9)
        assert time.monotonic() - started < 1.0
        assert result.pending >= 2 and result.stopped == "time_budget=1e-09s spent"
        assert outbox.replay(store, max_records=10, time_budget=30).pending == 0
        for bad in (0, -1, True):
            with pytest.raises(ValueError, match="max_records"):
                outbox.replay(store, max_records=bad)
        with pytest.raises(ValueError, match="time_budget"):
            outbox.replay(store, time_budget=0)


def test_put_and_dead_letter_flush_the_folder_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    outbox = Outbox(tmp_path / "outbox")
    path = outbox.put(*_parts(record("a")))
    assert synced == ["file", "dir"]  # the data, then the folder entry of the rename
    synced.clear()
    outbox.dead_letter(path, ValueError("refused"))
    assert synced.count("dir") >= 2 and outbox.dead() == [outbox.dead_directory / path.name]
    assert outbox.error_of(outbox.dead()[0]).endswith("ValueError: refused\n")


def _parts(rec):  # type: ignore[no-untyped-def]
    return rec.entities, rec.associations, rec.upsert


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (StoreUnavailableError("down"), True),
        (TimeoutError(), True),
        (ConnectionRefusedError(), True),
        (EntityNotFoundError("no such entity"), False),
        (AccessDeniedError("another account"), False),
        (ValueError("bad record"), False),
        (StoreError("a store error with no driver cause"), False),
    ],
)
def test_which_errors_say_the_store_is_unavailable(error: Exception, unavailable: bool) -> None:
    assert store_unavailable(error) is unavailable


def test_driver_errors_are_read_along_the_chain(tmp_path: Path) -> None:
    import sqlalchemy.exc as sa_exc

    def store_error(cause: BaseException) -> StoreError:
        try:
            raise StoreError("lineage store failed") from cause
        except StoreError as e:
            return e

    locked = sa_exc.OperationalError("INSERT", {}, Exception("database is locked"))
    refused = sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert store_unavailable(store_error(locked))
    assert not store_unavailable(store_error(refused))


def test_the_cli_drains_the_outbox_and_exits_1_while_records_wait_or_are_dead(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = create_store(f"sqlite:///{tmp_path / 'lineage.db'}")
    box = tmp_path / "outbox"
    outbox = Outbox(box)
    for task in "ab":
        put(outbox, record(task))
    (box / "00000000000000000001-poison.json").write_text("[]")
    assert cli(["outbox", "list", "--dir", str(box)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in out] == ["pending"] * 3
    assert cli(["--store", url, "outbox", "replay", "--dir", str(box)]) == 1  # one dead
    err = capsys.readouterr().err
    assert "replayed 2 record(s)" in err and "1 dead-lettered now; 0 waiting" in err
    assert cli(["outbox", "list", "--dir", str(box)]) == 0
    listed = capsys.readouterr().out
    assert (
        listed.startswith("dead\t00000000000000000001-poison.json\t") and "not a lineage" in listed
    )
    # Fixed by hand, the dead record goes back and through.
    fixed = record("c")
    (outbox.dead_directory / "00000000000000000001-poison.json").unlink()
    dead_path = outbox.dead_letter(outbox.put(*_parts(fixed)), ValueError("was refused"))
    assert dead_path is not None and outbox.pending() == []
    assert cli(["--store", url, "outbox", "replay", "--dir", str(box)]) == 1
    assert cli(["--store", url, "outbox", "replay", "--retry-dead", "--dir", str(box)]) == 0
    assert fixed.action_arn in _arns(url)
    assert outbox.pending() == [] and outbox.dead() == []


def test_two_replays_at_once_write_each_record_once_and_lose_none(tmp_path: Path) -> None:
    url = create_store(f"sqlite:///{tmp_path / 'lineage.db'}")
    outbox = Outbox(tmp_path / "outbox")
    recs = [record(f"t{i}") for i in range(30)]
    for rec in recs:
        put(outbox, rec)
    script = (
        "import sys; from pathlib import Path; from airflow_lineage import connect;"
        "from airflow_lineage.capture.outbox import Outbox;"
        "s = connect(sys.argv[1]); r = Outbox(Path(sys.argv[2])).replay(s); print(r.dead)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(outbox.directory)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outs == ["0", "0"]
    assert outbox.pending() == [] and outbox.dead() == []
    assert {r.action_arn for r in recs} <= _arns(url)


def test_a_postgresql_server_that_went_away_keeps_every_record(
    pg_schema_url: str, tmp_path: Path
) -> None:
    from sqlalchemy.engine import make_url

    from .proxy import Proxy

    create_store(pg_schema_url)
    u = make_url(pg_schema_url)
    proxy = Proxy((u.host or "127.0.0.1", u.port or 5432))
    via_proxy = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    outbox = Outbox(tmp_path / "outbox")
    recs = [record(t) for t in "abc"]
    for rec in recs:
        put(outbox, rec)
    try:
        with connect(via_proxy, timeout=2) as store:
            assert outbox.replay(store, max_records=1).replayed == 1  # the store answers
            proxy.set("refuse")  # the server goes away under an open connection
            with pytest.raises(StoreError) as caught:
                outbox.replay(store)
            assert store_unavailable(caught.value), caught.value
            assert len(outbox.pending()) == 2 and outbox.dead() == []
            proxy.set("forward")
        with connect(via_proxy, timeout=2) as store:
            assert outbox.replay(store).replayed == 2
    finally:
        proxy.close()
    assert {r.action_arn for r in recs} <= _arns(pg_schema_url)
