"""Faults of the store while a real DAG runs (``dag.test()``): down, hanging, locked.

After each fault recovers, the outbox is replayed and the store must hold exactly the
graph a healthy run records: nothing lost, nothing doubled.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage.capture.outbox import Outbox
from airflow_lineage.cli import main as cli

from ..conftest import create_store
from .conftest import CAPTURE_TIMEOUT, ProxiedStore
from .dag import assert_nothing_lost, fault_dag

pytestmark = pytest.mark.slow


def _states(dr: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dr.get_task_instances()}


def _durations(dr: Any) -> dict[str, float]:
    return {
        ti.task_id: (ti.end_date - ti.start_date).total_seconds() for ti in dr.get_task_instances()
    }


def test_postgres_unreachable_mid_run_then_back_loses_nothing(
    proxied_store: ProxiedStore, run_dag: Callable[..., Any], lineage_home: Path
) -> None:
    outbox = Outbox(lineage_home / "outbox")
    waiting: list[int] = []

    def mend() -> None:
        waiting.append(len(outbox.pending()))
        proxied_store.proxy.set("forward")

    data = lineage_home / "data"
    dag = fault_dag(data, during={"use": lambda: proxied_store.proxy.set("refuse"), "finish": mend})
    dr = run_dag(dag)
    assert _states(dr) == dict.fromkeys(("make", "use", "finish"), "success")
    assert waiting == [1]  # the down store really kept use's record out
    assert cli(["outbox", "replay"]) == 0  # the store is back: drain what is left
    assert outbox.pending() == [] and outbox.dead() == []
    assert_nothing_lost(proxied_store.url, data, dr.run_id)


def test_a_hanging_store_loses_nothing(
    proxied_store: ProxiedStore, run_dag: Callable[..., Any], lineage_home: Path
) -> None:
    stalled_for = 8.0  # then the proxy forwards again, whatever capture did

    def hang() -> None:
        proxied_store.proxy.set("stall")
        threading.Timer(stalled_for, proxied_store.proxy.set, ("forward",)).start()

    data = lineage_home / "data"
    dr = run_dag(fault_dag(data, during={"use": hang}))
    assert _states(dr) == dict.fromkeys(("make", "use", "finish"), "success")
    assert cli(["outbox", "replay"]) == 0
    assert_nothing_lost(proxied_store.url, data, dr.run_id)


def test_a_capture_against_a_hanging_store_keeps_its_deadline(
    proxied_store: ProxiedStore, lineage_home: Path
) -> None:
    from airflow_lineage.capture.runtime import deliver

    from .records import record

    assert deliver(record("first"))  # the store answers; its connection stays open
    proxied_store.proxy.set("stall")
    threading.Timer(10.0, proxied_store.proxy.set, ("forward",)).start()
    started = time.monotonic()
    delivered = deliver(record("second"))
    took = time.monotonic() - started
    assert took < CAPTURE_TIMEOUT + 2.0, f"the capture took {took:.1f} s"
    assert not delivered and len(Outbox(lineage_home / "outbox").pending()) == 1


def test_sqlite_locked_by_another_writer_loses_nothing(
    lineage_home: Path, run_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ..capture.conftest import reset_lineage_settings

    db = lineage_home / "lineage.db"
    url = create_store(f"sqlite:///{db}")
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__CAPTURE_TIMEOUT", "1")
    reset_lineage_settings()
    outbox = Outbox(lineage_home / "outbox")
    locker: list[subprocess.Popen[str]] = []
    waiting: list[int] = []
    hold = 4.0  # seconds, longer than capture_timeout

    def lock() -> None:
        script = (
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True);"
            "time.sleep(float(sys.argv[2])); c.execute('ROLLBACK')"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", script, str(db), str(hold)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        locker.append(proc)

    def unlock() -> None:
        waiting.append(len(outbox.pending()))
        locker[0].wait(timeout=30)

    data = lineage_home / "data"
    started = time.monotonic()
    dr = run_dag(fault_dag(data, during={"use": lock, "finish": unlock}))
    assert _states(dr) == dict.fromkeys(("make", "use", "finish"), "success")
    assert waiting == [1]  # the lock kept use's record out of the store
    assert _durations(dr)["use"] < 1 + 3.0
    assert time.monotonic() - started < 60
    assert cli(["outbox", "replay"]) == 0
    assert outbox.pending() == [] and outbox.dead() == []
    assert_nothing_lost(url, data, dr.run_id)
