"""Parallel runs of the example pipeline under Airflow's real scheduler capture separate graphs.

Airflow 3.3's api-server, dag-processor and scheduler (LocalExecutor: a new process per
task) on PostgreSQL, started and stopped here. Eight runs of dags/ml_pipeline_local.py
go at once and capture into a PostgreSQL lineage store through the ``lineage``
connection. Each run's graph must be exactly the one a lone run records, joined to the
others only through the shared raw data set and the DAG's own context.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import Action, Artifact, Association, Context, LineageQuery, connect
from airflow_lineage.capture.relay import RelayClient
from tests.capture.graph import key, sha256_of
from tests.capture.test_local_pipeline import (
    DATA_EDGES,
    EXPECTED_VERTICES,
    TASKS,
    structural_edges,
    task_run_context,
)
from tests.conftest import require_postgres

from .cluster import Deployment

pytestmark = [pytest.mark.slow, pytest.mark.deployment]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "ml_pipeline_local"
RUNS = 8
PIPELINE = f"Pipeline:airflow://dags/{DAG_ID}"
SHARED = {"file://BASE/raw/iris.csv", PIPELINE}
"""The only vertices two runs may share: the raw data set and the DAG's context."""


def _run_graph(
    items: list[Any], run_id: str, base: Path
) -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str | None]], set[str], set[int]]:
    """Return one run's vertices and edges (keyed as in the local pipeline's test).

    A run's graph is its actions, everything they touch, and its run context's own edges.
    Returns the vertices, the edges, the ARNs of its entities and the ids of its edges.
    """
    entities = {e.arn: e for e in items if not isinstance(e, Association)}
    edges = [a for a in items if isinstance(a, Association)]
    actions = {
        arn
        for arn, e in entities.items()
        if isinstance(e, Action) and e.properties.get("airflow:run_id") == run_id
    }
    run_ctx = {
        arn
        for arn, e in entities.items()
        if isinstance(e, Context) and e.source_uri == f"airflow://dags/{DAG_ID}/runs/{run_id}"
    }
    own = [a for a in edges if {a.source_arn, a.destination_arn} & (actions | run_ctx)]
    arns = {arn for a in own for arn in (a.source_arn, a.destination_arn)} | actions | run_ctx

    def k(arn: str) -> str:
        return key(entities[arn], base).replace(run_id, "RUN")

    vertices = {(entities[a].lineage_type.value, entities[a].type, k(a)) for a in arns}
    keyed = {(k(a.source_arn), k(a.destination_arn), a.association_type.value) for a in own}
    return vertices, keyed, arns, {id(a) for a in own}


def _expected_graph() -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str | None]]]:
    run_key = f"PipelineExecution:airflow://dags/{DAG_ID}/runs/RUN"
    task_runs = {("Context", "TaskRun", task_run_context(t)) for t in TASKS}
    vertices = EXPECTED_VERTICES | task_runs | {("Context", "PipelineExecution", run_key)}
    return vertices, DATA_EDGES | structural_edges(run_key, TASKS)


def test_parallel_runs_capture_complete_separate_graphs(tmp_path: Path) -> None:
    require_postgres()
    base = tmp_path / "ml"
    deployment = Deployment(
        [REPO / "dags" / f"{DAG_ID}.py", REPO / "dags" / "policies"],
        env={"ML_PIPELINE_DIR": str(base)},
    )
    run_ids = [f"run-{i:02d}-{deployment.id}" for i in range(RUNS)]
    t0 = time.monotonic()
    with deployment:
        started = time.monotonic()
        deployment.wait_for_dags([DAG_ID])
        deployment.unpause(DAG_ID)
        for run_id in run_ids:
            deployment.trigger(DAG_ID, run_id)
        states = deployment.wait_for_runs(DAG_ID, run_ids, timeout=900)
        finished = time.monotonic()
        tis = {r: deployment.task_instances(DAG_ID, r) for r in run_ids}
        failed = {
            r: [(t["task_id"], t["state"]) for t in tis[r] if t["state"] != "success"]
            for r in run_ids
            if states[r] != "success"
        }
        logs = deployment.log_tails() if failed else ""
        with connect(deployment.lineage_url) as store:
            items = list(store.export())
            # From a run's endpoint, one query reaches that run's lineage and no other's.
            reached = {}
            for run_id in run_ids:
                uri = f"file://{base}/serving/iris-{run_id}"
                (endpoint,) = store.list_entities("Context", source_uri=uri).items
                query = LineageQuery(start_arns=(endpoint.arn,), direction="Ascendants")
                result = store.query(query)
                reached[run_id] = {store.get(v.arn).source_uri for v in result.vertices}
        outbox = sorted(p.name for p in deployment.outbox.glob("*"))
        # The scheduler started the lineage relay beside it, and every try's record went
        # through it (none was written by the task process itself).
        relay = RelayClient(deployment.home / "lineage-relay.sock")
        relayed = relay.stats(time.monotonic() + 10)
        relay.close()
    stopped = time.monotonic()
    durations = [t["duration"] for r in run_ids for t in tis[r] if t["duration"] is not None]
    print(
        f"\ndeployment: start {started - t0:.1f} s, {RUNS} runs {finished - started:.1f} s, "
        f"stop {stopped - finished:.1f} s; task duration median "
        f"{statistics.median(durations):.2f} s, max {max(durations):.2f} s"
    )

    assert deployment.survivors() == [], "processes outlived the deployment"
    assert states == dict.fromkeys(run_ids, "success"), f"{failed}\n{logs}"
    assert outbox == [], "capture fell back to the outbox"
    assert relayed == {"written": RUNS * len(TASKS), "failed": 0, "stores": 1}

    entities = {e.arn: e for e in items if not isinstance(e, Association)}
    associations = [a for a in items if isinstance(a, Association)]
    actions = [e for e in entities.values() if isinstance(e, Action)]
    # One action per task run, all completed: nothing lost, duplicated or left InProgress.
    per_task = Counter(
        (a.properties.get("airflow:run_id"), a.properties.get("airflow:task_id")) for a in actions
    )
    assert per_task == Counter({(r, t): 1 for r in run_ids for t in TASKS})
    assert Counter(a.status.value for a in actions) == {"Completed": RUNS * len(TASKS)}

    want_vertices, want_edges = _expected_graph()
    seen_arns: Counter[str] = Counter()
    seen_edges: Counter[int] = Counter()
    for run_id in run_ids:
        vertices, edges, arns, edge_ids = _run_graph(items, run_id, base)
        assert vertices == want_vertices, run_id
        assert edges == want_edges, run_id
        seen_arns.update(arns)
        seen_edges.update(edge_ids)
        # Upstream of its endpoint: its 8 steps, its 7 files and the raw data; through the
        # raw data, which every run's ingest writes, the other runs' ingests (only those).
        own = {u for u in reached[run_id] if run_id in u or u == f"file://{base}/raw/iris.csv"}
        others = reached[run_id] - own
        assert len(own) == 16, sorted(own)
        assert len(others) == RUNS - 1 and all(u.endswith("/tasks/ingest") for u in others), others
    # Runs are separate: only the shared vertices are in more than one run's graph, every
    # entity and association in the store belongs to a run, and each edge to one run only.
    shared = {key(entities[a], base) for a, n in seen_arns.items() if n > 1}
    assert shared == SHARED
    assert set(seen_arns) == set(entities)
    assert len(seen_edges) == len(associations) and set(seen_edges.values()) == {1}

    # Every recorded digest is the sha256 of that run's file as it is on disk.
    for artifact in (e for e in entities.values() if isinstance(e, Artifact)):
        recorded = tuple(st.value for st in artifact.source_types)
        assert recorded == (sha256_of(artifact.source_uri),), artifact.source_uri
