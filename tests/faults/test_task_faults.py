"""Faults of the task process and its machine: SIGKILL mid-capture, an unwritable
outbox, a poison record waiting in the outbox. Real DAG runs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import Action, connect
from airflow_lineage.capture.outbox import Outbox
from airflow_lineage.cli import main as cli

from ..capture.graph import captured
from ..conftest import create_store
from .conftest import ProxiedStore, reset_lineage_settings
from .dag import assert_nothing_lost, expected_graph, fault_dag
from .records import put, record

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _states(dr: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dr.get_task_instances()}


def _run_ids(url: str) -> list[str]:
    """Return the DAG runs the store knows, oldest first."""
    with connect(url) as store:
        runs = store.list_entities("Context", type="PipelineExecution", ascending=True)
    return [c.source_uri.rsplit("/runs/", 1)[1] for c in runs.items]  # type: ignore[union-attr]


def test_sigkill_in_the_middle_of_a_capture_leaves_no_half_record(
    proxied_store: ProxiedStore,
    airflow_db: None,
    lineage_home: Path,
    tmp_path: Path,
) -> None:
    data = lineage_home / "data"
    env = dict(os.environ)
    env |= {
        # An Airflow of its own: the session's metadata database is reset by other
        # tests' fixtures, which a process outliving its test must not meet.
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).parent / "dags"),
        "AIRFLOW__ML_LINEAGE__CAPTURE_TIMEOUT": "30",  # the kill comes first
        "PYTHONPATH": str(REPO),
        "FAULTS_DATA": str(data / "run1"),
        "FAULTS_PAUSE": "2",
    }
    migrated = subprocess.run(
        [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    log = open(tmp_path / "killed.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [AIRFLOW, "dags", "test", "faults"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (data / "run1" / "use.done").exists():
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the step never ran"
            time.sleep(0.05)
        proxied_store.proxy.set("stall")  # use's capture will wait on the store...
        time.sleep(2 + 1.5)  # ...after its 2 s pause; it is waiting now
        assert proc.poll() is None, "the capture finished before the kill"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the task process and all it started
        proc.wait(timeout=30)
        log.close()
    proxied_store.proxy.set("forward")
    assert proc.returncode == -signal.SIGKILL

    # What the killed try left: nothing. Neither in the store (its transaction never
    # committed) nor in the outbox (it never got there); make's record is whole.
    outbox = Outbox(lineage_home / "outbox")
    assert outbox.pending() == [] and outbox.dead() == []
    (killed_run,) = _run_ids(proxied_store.url)
    graph = captured(proxied_store.url, data)
    left = expected_graph(data, killed_run, tasks=("make",), sub="run1")
    for part in ("vertices", "edges", "statuses", "digests"):
        assert graph[part] == left[part], part

    # Recovery: the DAG runs again (a new run, as a re-run after the crash) and records
    # its whole graph beside the killed run's finished step.
    env |= {"FAULTS_DATA": str(data / "run2"), "FAULTS_PAUSE": "0"}
    again = subprocess.run(
        [AIRFLOW, "dags", "test", "faults"], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert outbox.pending() == []
    killed, rerun = _run_ids(proxied_store.url)
    assert killed == killed_run
    graph = captured(proxied_store.url, data)
    whole = expected_graph(data, rerun, sub="run2")
    for part in ("vertices", "edges", "digests"):
        assert graph[part] == left[part] | whole[part], part
    actions = [e for e in graph["entities"].values() if isinstance(e, Action)]
    assert len(actions) == 4 and {a.status.value for a in actions} == {"Completed"}


def _unwritable(lineage_home: Path, monkeypatch: pytest.MonkeyPatch, strict: bool) -> Path:
    """Make the outbox a folder that cannot be created (a file is in the way, which
    stops root too) and the store unreachable."""
    blocker = lineage_home / "not-a-folder"
    blocker.write_text("a file where the outbox's parent should be")
    down = {"conn_type": "lineage", "extra": {"url": f"sqlite:///{lineage_home}/missing.db"}}
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(down))
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__OUTBOX_DIR", str(blocker / "outbox"))
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__STRICT", str(strict))
    reset_lineage_settings()
    return blocker


@pytest.fixture
def unwritable_run(
    lineage_home: Path,
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Any, Path, list[tuple[int, str]]]:
    """Run the DAG (not strict) with an unwritable outbox and the store down; return
    the DAG run, the file in the outbox's way, and what was logged (level, message)."""
    blocker = _unwritable(lineage_home, monkeypatch, strict=False)
    logged: list[tuple[int, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append((record.levelno, record.getMessage()))

    keep = Keep(logging.WARNING)
    logger = logging.getLogger("airflow_lineage")
    logger.addHandler(keep)
    try:
        dr = run_dag(fault_dag(lineage_home / "data"))
    finally:
        logger.removeHandler(keep)
    return dr, blocker, logged


def test_an_unwritable_outbox_never_fails_a_task(
    unwritable_run: tuple[Any, Path, list[tuple[int, str]]],
) -> None:
    dr, blocker, logged = unwritable_run
    assert _states(dr) == dict.fromkeys(("make", "use", "finish"), "success")
    assert any(str(blocker) in m for _, m in logged), "the lost lineage was not logged"


def test_an_unwritable_outbox_is_logged_as_an_error(
    unwritable_run: tuple[Any, Path, list[tuple[int, str]]],
) -> None:
    _, blocker, logged = unwritable_run
    loud = [m for level, m in logged if level >= logging.ERROR]
    assert any(str(blocker) in m and "lost" in m.lower() for m in loud), loud


def test_an_unwritable_outbox_fails_the_task_in_strict_mode(
    lineage_home: Path, run_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _unwritable(lineage_home, monkeypatch, strict=True)
    dr = run_dag(fault_dag(lineage_home / "data"))
    assert _states(dr)["make"] == "failed"


def test_a_poison_record_in_the_outbox_goes_to_dead_letter_and_the_run_is_recorded(
    lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    url = create_store(f"sqlite:///{lineage_home / 'lineage.db'}")
    outbox = Outbox(lineage_home / "outbox")
    (outbox.directory).mkdir()
    poison = outbox.directory / "00000000000000000001-0-poison.json"
    poison.write_text('{"entities": [{"lineage_type": "Artifact"}], "associations": []}')
    earlier = record("earlier")
    put(outbox, earlier)  # a good record queued behind the poison one
    data = lineage_home / "data"
    dr = run_dag(fault_dag(data))
    assert _states(dr) == dict.fromkeys(("make", "use", "finish"), "success")
    assert outbox.pending() == []
    assert [p.name for p in outbox.dead()] == [poison.name]
    assert "not a lineage outbox record" in outbox.error_of(outbox.dead()[0])
    with connect(url) as store:
        assert store.get(earlier.action_arn).arn == earlier.action_arn  # it went through
        # The run's own graph is whole; take the earlier record out to compare exactly.
        for entity in earlier.entities:
            store.delete(entity.arn, disassociate=True)
    assert_nothing_lost(url, data, dr.run_id)
    assert cli(["outbox", "replay"]) == 1  # the dead record is still to be dealt with
