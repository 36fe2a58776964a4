"""Tries are runs: a real ``airflow dags test`` whose step fails on try 1 with input A and
passes on try 2 with input B; the model's lineage holds B only, and the gate passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_lineage import Action, Context, Direction, LineageQuery, connect

from .graph import sha256_of

pytestmark = pytest.mark.slow

DAGS = Path(__file__).resolve().parent / "dags"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _airflow(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def retried(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run ``lineage_retry`` once with ``airflow dags test``; return what it recorded."""
    base = tmp_path_factory.mktemp("tries")
    data = base / "data"
    data.mkdir()
    (data / "input-a.csv").write_text("bad rows\n")
    (data / "input-b.csv").write_text("good rows\n")
    url = f"sqlite:///{base / 'lineage.db'}"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_")) and k != "AIRFLOW_HOME"
    }
    env |= {
        "AIRFLOW_HOME": str(base / "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__ML_LINEAGE__STORE_URL": url,
        "AIRFLOW__ML_LINEAGE__OUTBOX_DIR": str(base / "outbox"),
        "LINEAGE_RETRY_DIR": str(data),
    }
    migrated = _airflow(["db", "migrate"], env)
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    run = _airflow(["dags", "test", "lineage_retry"], env)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert not list((base / "outbox").glob("*.json"))  # every record reached the store
    return {"url": url, "data": data, "log": run.stdout + run.stderr}


def _actions(store: object) -> dict[str, Action]:
    found = store.list_entities("Action").items  # type: ignore[attr-defined]
    return {
        f"{a.properties['airflow:task_id']}#{a.properties['airflow:try_number']}": a for a in found
    }


def test_each_try_is_its_own_action_and_the_failed_one_keeps_input_a(
    retried: dict[str, object],
) -> None:
    data = retried["data"]
    assert isinstance(data, Path)
    a, b = (data / "input-a.csv").as_uri(), (data / "input-b.csv").as_uri()
    assert "input-a.csv is unusable" in str(retried["log"])
    with connect(str(retried["url"])) as store:
        actions = _actions(store)
        assert set(actions) == {"train#1", "train#2", "gate#1"}
        first, second = actions["train#1"], actions["train#2"]
        assert first.status.value == "Failed"
        assert first.properties["error"] == f"ValueError: {a} is unusable"
        assert second.status.value == "Completed"
        assert actions["gate#1"].status.value == "Completed"
        assert actions["gate#1"].properties["verdict"] == "passed"

        def edges_of(action: Action) -> set[tuple[str, str, str]]:
            assocs = store.list_associations(destination_arn=action.arn).items
            assocs += store.list_associations(source_arn=action.arn).items
            ents = store.get_many(
                [x.source_arn for x in assocs] + [x.destination_arn for x in assocs]
            )
            return {
                (
                    ents[x.source_arn].source_uri,
                    ents[x.destination_arn].source_uri,
                    x.association_type.value,
                )
                for x in assocs
                if x.source_arn != action.arn or not isinstance(ents[x.destination_arn], Context)
            }

        # Try 1 read A (digested before it ran) and produced nothing; try 2 read B only.
        assert edges_of(first) == {(a, first.source_uri, "ContributedTo")}
        model_uri = (data / "model.txt").as_uri()
        assert edges_of(second) == {
            (b, second.source_uri, "ContributedTo"),
            (second.source_uri, model_uri, "Produced"),
        }
        (artifact_a,) = store.list_entities("Artifact", source_uri=a).items
        assert [st.value for st in artifact_a.source_types] == [sha256_of(a)]

        # Both tries belong to one task run (a TaskRun context), each to the DAG run.
        for action in (first, second):
            targets = {
                store.get(x.destination_arn)
                for x in store.list_associations(source_arn=action.arn).items
            }
            kinds = sorted(t.type for t in targets if isinstance(t, Context))
            assert kinds == ["PipelineExecution", "TaskRun"]
        task_runs = [
            {x.destination_arn for x in store.list_associations(source_arn=t.arn).items}
            for t in (first, second)
        ]
        (shared,) = task_runs[0] & task_runs[1] - {
            x.arn for x in store.list_entities("Context", type="PipelineExecution").items
        }
        assert store.get(shared).type == "TaskRun"

        # Every input edge of a try was created at or after the try's action.
        for action in (first, second):
            for edge in store.list_associations(destination_arn=action.arn).items:
                if edge.association_type and edge.association_type.value == "ContributedTo":
                    assert edge.created >= action.created, (edge, action.created)


def test_the_models_lineage_holds_b_only_and_the_gate_passed(retried: dict[str, object]) -> None:
    data = retried["data"]
    assert isinstance(data, Path)
    a, b = (data / "input-a.csv").as_uri(), (data / "input-b.csv").as_uri()
    with connect(str(retried["url"])) as store:
        actions = _actions(store)
        (model,) = store.list_entities("Artifact", type="Model").items
        up = store.query(
            LineageQuery(
                start_arns=(model.arn,), direction=Direction.ASCENDANTS, include_edges=True
            )
        )
        reached = store.get_many([v.arn for v in up.vertices])
        uris = {e.source_uri for e in reached.values() if not isinstance(e, Action)}
        assert uris == {model.source_uri, b}
        assert {e.arn for e in reached.values() if isinstance(e, Action)} == {
            actions["train#2"].arn
        }
        # ...and nothing flows from the failed try's input to the model.
        (artifact_a,) = store.list_entities("Artifact", source_uri=a).items
        down = store.query(
            LineageQuery(start_arns=(artifact_a.arn,), direction=Direction.DESCENDANTS)
        )
        assert model.arn not in {v.arn for v in down.vertices}
        assert actions["train#2"].arn not in {v.arn for v in down.vertices}
    reports = list((data / "reports").rglob("gate.json"))
    assert len(reports) == 1
    assert json.loads(reports[0].read_text())["verdict"] == "passed"
