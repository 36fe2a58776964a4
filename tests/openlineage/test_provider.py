"""The OpenLineage provider records through our transport: a real ``airflow dags test`` of
SQL operators that only the provider has lineage for (no extractor of ours)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("airflow.providers.openlineage")
pytest.importorskip("airflow.providers.sqlite")

from airflow_lineage import Action, Context, connect
from airflow_lineage.cli import main
from airflow_lineage.openlineage.facets import validate
from tests.conftest import create_store

pytestmark = pytest.mark.slow

DAGS = Path(__file__).resolve().parent / "dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
TASKS = {"create_tables", "build_features"}


def _run(base: Path, *, listener: bool) -> dict[str, object]:
    """Run ``openlineage_sql`` with the provider sending to our transport and to a file."""
    events = base / "events.jsonl"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "OPENLINEAGE")) and k != "AIRFLOW_HOME"
    }
    env |= {
        "AIRFLOW_HOME": str(base / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__ML_LINEAGE__STORE_URL": f"sqlite:///{base / 'lineage.db'}",
        "AIRFLOW__ML_LINEAGE__OUTBOX_DIR": str(base / "outbox"),
        "AIRFLOW__ML_LINEAGE__ENABLED": str(listener),
        "AIRFLOW_CONN_SQLITE_OL": json.dumps({"conn_type": "sqlite", "host": str(base / "d.db")}),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {
                "type": "composite",
                "transports": {
                    "lineage": {"type": "airflow_lineage.openlineage.transport.LineageTransport"},
                    "file": {"type": "file", "log_file_path": str(events), "append": True},
                },
            }
        ),
    }
    for args in (["db", "migrate"], ["dags", "test", "openlineage_sql"]):
        done = subprocess.run(
            [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with connect(f"sqlite:///{base / 'lineage.db'}") as store:
        actions = [e for e in store.list_entities("Action").items if isinstance(e, Action)]
        contexts = [e for e in store.list_entities("Context").items if isinstance(e, Context)]
        signed = store.attestations([a.arn for a in actions])  # type: ignore[attr-defined]
    key = base / "home" / "lineage-signing-key.pem"
    return {
        "actions": actions,
        "contexts": contexts,
        "events": events,
        "signed": signed,
        "key": key,
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _run(tmp_path_factory.mktemp("both"), listener=True)


@pytest.fixture(scope="module")
def transport_only(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _run(tmp_path_factory.mktemp("alone"), listener=False)


def _by_task(actions: object) -> dict[str, list[Action]]:
    out: dict[str, list[Action]] = {}
    for action in actions:  # type: ignore[attr-defined]
        out.setdefault(action.properties["airflow:task_id"], []).append(action)
    return out


def test_both_capture_paths_make_one_action_per_task(both: dict[str, object]) -> None:
    tasks = _by_task(both["actions"])
    assert set(tasks) == TASKS
    assert all(len(actions) == 1 for actions in tasks.values()), tasks
    for (action,) in tasks.values():
        assert action.status.value == "Completed"
        assert action.type == "SQLExecuteQueryOperator"
        assert action.name.split("-")[-2] == "try1"
    # The transport saw each task: its run context is there, one per task run.
    runs = [c for c in both["contexts"] if c.type == "OpenLineageRun"]  # type: ignore[attr-defined]
    assert sorted(c.properties["openlineage:job"] for c in runs) == [
        "default/openlineage_sql.build_features",
        "default/openlineage_sql.create_tables",
    ]


def test_the_transport_alone_captures_the_sql_tasks(transport_only: dict[str, object]) -> None:
    tasks = _by_task(transport_only["actions"])
    assert set(tasks) == TASKS
    for (action,) in tasks.values():
        # Made from the provider's events only: START, then COMPLETE moved the status on.
        assert "openlineage:run_id" in action.properties
        assert action.status.value == "Completed"
        assert action.type == "SQLExecuteQueryOperator"
    # Not signed: only the listener's capture signs a step (README, OpenLineage in).
    assert transport_only["signed"] == {}


def test_the_file_transports_output_imports_as_the_same_actions(
    both: dict[str, object], tmp_path: Path
) -> None:
    lines = Path(str(both["events"])).read_text().splitlines()
    assert len(lines) > len(TASKS)  # DAG run, tasks, and the queries of each task
    for line in lines:
        validate(line)
    fresh = create_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert main(["--store", fresh, "openlineage", "import", str(both["events"])]) == 0
    with connect(fresh) as store:
        imported = store.list_entities("Action").items
    assert sorted(a.arn for a in imported) == sorted(a.arn for a in both["actions"])  # type: ignore[attr-defined]
