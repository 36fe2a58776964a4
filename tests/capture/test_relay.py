"""The lineage relay: task processes hand their records to one long-lived process.

Each test starts a real relay process (``python -m airflow_lineage.capture.relay``) on
a socket of its own and runs real captures against it: the example pipeline with
``dag.test()``, and single captures of a real operator.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import Action, connect
from airflow_lineage.capture.outbox import Outbox
from airflow_lineage.capture.relay import RelayClient, RelayError, StoreSpec, socket_path

from ..conftest import create_store
from .conftest import reset_lineage_settings
from .graph import captured
from .test_local_pipeline import TASKS, assert_expected_graph, run_pipeline


def _start_relay(
    sock: Path, env: dict[str, str], parent: int | None = None
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_lineage.capture.relay",
            str(sock),
            str(parent or os.getpid()),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the relay exited with {proc.returncode}: {proc.stderr.read()}")
        assert time.monotonic() < deadline, "the relay did not start within 30 s"
        time.sleep(0.05)
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def relay_home(lineage_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A migrated embedded store, a relay serving it, and capture pointed at the relay."""
    url = create_store(f"sqlite:///{lineage_home / 'lineage.db'}")
    sock = lineage_home / "relay.sock"
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__RELAY_SOCKET", str(sock))
    reset_lineage_settings()
    proc = _start_relay(sock, dict(os.environ))
    yield {"url": url, "sock": sock, "proc": proc, "home": lineage_home}
    _stop(proc)


def _stats(sock: Path) -> dict[str, int]:
    client = RelayClient(sock)
    try:
        return client.stats(time.monotonic() + 5)
    finally:
        client.close()


def _actions(url: str) -> list[Action]:
    with connect(url) as store:
        return [e for e in store.export() if isinstance(e, Action)]


def test_the_pipeline_captured_through_the_relay_is_the_exact_graph(
    relay_home: dict[str, Any], load_dag: Callable[..., Any], run_dag: Callable[..., Any]
) -> None:
    # Only the OS user running Airflow may reach the relay (README: owner-only socket).
    assert relay_home["sock"].stat().st_mode & 0o077 == 0
    dr = run_pipeline(load_dag, run_dag)
    assert dr.state == "success"
    assert_expected_graph(captured(relay_home["url"], relay_home["home"] / "ml"))
    # Every try's record went through the relay, none was written directly or queued.
    assert _stats(relay_home["sock"]) == {"written": len(TASKS), "failed": 0, "stores": 1}
    assert len(Outbox(relay_home["home"] / "outbox")) == 0
    # The relay signed every step (the gate in the pipeline requires it, and passed).
    actions = _actions(relay_home["url"])
    with connect(relay_home["url"]) as store:
        assert set(store.attestations([a.arn for a in actions])) == {a.arn for a in actions}


def _one_step_dag(dag_id: str, data: Path) -> Any:
    import pendulum
    from airflow.sdk import DAG, Asset, task

    (data / "in.csv").write_text("a\n")
    with DAG(dag_id, start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

        @task(
            inlets=[Asset((data / "in.csv").as_uri())], outlets=[Asset((data / "out.csv").as_uri())]
        )
        def step() -> None:
            (data / "out.csv").write_text((data / "in.csv").read_text() + "b\n")

        step()
    return dag


def test_without_a_relay_the_task_writes_directly(
    lineage_home: Path, monkeypatch: pytest.MonkeyPatch, run_dag: Callable[..., Any]
) -> None:
    url = create_store(f"sqlite:///{lineage_home / 'lineage.db'}")
    stale = lineage_home / "stale.sock"  # left by a relay that was killed: nobody listens
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(stale))
    server.close()
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__RELAY_SOCKET", str(stale))
    reset_lineage_settings()
    assert run_dag(_one_step_dag("relay_absent", lineage_home)).state == "success"
    assert [a.status.value for a in _actions(url)] == ["Completed"]
    assert len(Outbox(lineage_home / "outbox")) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can hand a socket to another user")
def test_a_socket_of_another_user_gets_no_record(
    relay_home: dict[str, Any], run_dag: Callable[..., Any]
) -> None:
    os.chown(relay_home["sock"], 65534, 65534)
    assert run_dag(_one_step_dag("relay_foreign", relay_home["home"])).state == "success"
    assert len(_actions(relay_home["url"])) == 1  # written directly
    os.chown(relay_home["sock"], 0, 0)
    assert _stats(relay_home["sock"])["written"] == 0


@pytest.fixture
def relay_without_store(
    lineage_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A relay whose store was never created: it refuses it, as a direct write would.

    Yields the store's (missing) file and the relay's process; strict mode may be set
    before this fixture is requested.
    """
    missing = lineage_home / "not-yet" / "lineage.db"
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__STORE_URL", f"sqlite:///{missing}")
    sock = lineage_home / "relay.sock"
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__RELAY_SOCKET", str(sock))
    reset_lineage_settings()
    proc = _start_relay(sock, dict(os.environ))
    yield missing, proc
    _stop(proc)


def test_a_store_the_relay_cannot_open_leaves_the_record_in_the_outbox(
    relay_without_store: tuple[Path, subprocess.Popen[str]],
    lineage_home: Path,
    run_dag: Callable[..., Any],
) -> None:
    missing, _ = relay_without_store
    assert run_dag(_one_step_dag("relay_no_store", lineage_home)).state == "success"
    outbox = Outbox(lineage_home / "outbox")
    assert len(outbox) == 1
    # Once the store exists, the record replays into it: nothing was lost.
    url = create_store(f"sqlite:///{missing}")
    with connect(url) as store:
        assert outbox.replay(store).pending == 0
    assert [a.status.value for a in _actions(url)] == ["Completed"]


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__STRICT", "True")


def test_strict_mode_fails_the_task_when_the_relay_cannot_write(
    strict: None,
    relay_without_store: tuple[Path, subprocess.Popen[str]],
    lineage_home: Path,
    run_dag: Callable[..., Any],
) -> None:
    dr = run_dag(_one_step_dag("relay_strict", lineage_home))
    assert dr.state == "failed"
    assert len(Outbox(lineage_home / "outbox")) >= 1  # still kept for replay


def test_a_relay_that_stalls_costs_the_task_one_capture_deadline(
    lineage_home: Path, monkeypatch: pytest.MonkeyPatch, run_dag: Callable[..., Any]
) -> None:
    url = create_store(f"sqlite:///{lineage_home / 'lineage.db'}")
    sock = lineage_home / "stall.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    server.listen(8)
    held: list[socket.socket] = []

    def accept_and_say_nothing() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__RELAY_SOCKET", str(sock))
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__CAPTURE_TIMEOUT", "1")
    reset_lineage_settings()
    try:
        t0 = time.monotonic()
        dr = run_dag(_one_step_dag("relay_stalls", lineage_home))
        elapsed = time.monotonic() - t0
    finally:
        server.close()
        for conn in held:
            conn.close()
    assert dr.state == "success"
    ti = dr.get_task_instance("step")
    # The step's capture waited one deadline (1 s), not forever.
    assert ti.duration < 5, ti.duration
    assert elapsed < 30
    outbox = Outbox(lineage_home / "outbox")
    assert len(outbox) == 1
    # Meant for the relay (which signs), the record was signed before it was kept.
    assert len(outbox.read_attestations(outbox.pending()[0])) == 1
    with connect(url) as store:
        assert outbox.replay(store).pending == 0
        actions = _actions(url)
        assert [a.status.value for a in actions] == ["Completed"]
        assert set(store.attestations([actions[0].arn])) == {actions[0].arn}


def test_one_relay_per_socket_and_it_ends_with_its_parent(tmp_path: Path) -> None:
    sock = tmp_path / "r.sock"
    env = {**os.environ, "AIRFLOW__ML_LINEAGE__STORE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    # A parent that starts a relay beside itself, prints its pid, and exits after a while.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from airflow_lineage.capture import relay;"
            f"relay.start_beside(Path({str(sock)!r})); print(relay._started.pid, flush=True);"
            "time.sleep(float(sys.argv[1]))",
            "4",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    relay_pid = int(parent.stdout.readline())
    deadline = time.monotonic() + 30
    while not sock.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = subprocess.run(
        [sys.executable, "-m", "airflow_lineage.capture.relay", str(sock), str(os.getpid())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1, second.stderr  # the first one keeps serving
    assert _stats(sock)["written"] == 0
    parent.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _alive(relay_pid):
        assert time.monotonic() < deadline, "the relay outlived its parent"
        time.sleep(0.05)
    assert not sock.exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive either (it is waiting to be reaped by init).
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_bad_requests_get_an_error_answer_and_change_nothing(relay_home: dict[str, Any]) -> None:
    client = RelayClient(relay_home["sock"])
    deadline = time.monotonic() + 10
    spec = StoreSpec("lineage_default", 10.0)  # the spec the relay warmed at its start
    bad = [
        {"op": "write", "store": spec.as_json(), "record": {"entities": "nope"}},
        {"op": "write", "store": spec.as_json(), "record": None},
        {"op": "open", "store": {"conn_id": 3, "timeout": 1}},
        {"op": "open", "store": {"conn_id": "lineage_default", "timeout": -1}},
        {"op": "drop tables"},
    ]
    for request in bad:
        with pytest.raises(RelayError, match="could not"):
            client._ask(request, deadline)
    assert client.place(spec, deadline) == ("000000000000", "local")
    client.close()
    assert _actions(relay_home["url"]) == []
    assert _stats(relay_home["sock"]) == {"written": 0, "failed": 2, "stores": 1}


def test_a_long_socket_path_moves_to_a_short_one(tmp_path: Path) -> None:
    long = tmp_path / ("x" * 120) / "relay.sock"
    short = socket_path(long)
    assert short != long and len(os.fsencode(short)) < 108
    assert socket_path(long) == short  # both ends derive the same one
    assert socket_path(tmp_path / "r.sock") == tmp_path / "r.sock"


def test_a_changed_connection_applies_once_the_relay_looks_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_lineage.capture import relay as relay_module

    first = create_store(f"sqlite:///{tmp_path / 'first.db'}")
    second = create_store(f"sqlite:///{tmp_path / 'second.db'}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINEAGE_RELAY_TEST",
        f'{{"conn_type": "lineage", "extra": {{"url": "{first}"}}}}',
    )
    relay = relay_module._Relay()
    spec = StoreSpec("lineage_relay_test", 5.0)
    try:
        assert relay._store(spec).url == first
        monkeypatch.setenv(
            "AIRFLOW_CONN_LINEAGE_RELAY_TEST",
            f'{{"conn_type": "lineage", "extra": {{"url": "{second}"}}}}',
        )
        assert relay._store(spec).url == first  # trusted for RELOCATE_S
        monkeypatch.setattr(relay_module, "RELOCATE_S", 0.0)
        assert relay._store(spec).url == second
    finally:
        relay.close()


def test_the_cli_shows_a_running_relays_counts(
    relay_home: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_lineage.cli import main as cli

    assert cli(["relay", "--status", "--socket", str(relay_home["sock"])]) == 0
    # (stores: 0 or 1, as the relay may still be opening the store it warms at start)
    assert capsys.readouterr().out.startswith("written=0 failed=0 stores=")
    missing = relay_home["home"] / "none.sock"
    assert cli(["relay", "--status", "--socket", str(missing)]) == 1
    assert "no lineage relay at" in capsys.readouterr().err
