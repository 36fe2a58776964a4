"""A small three-step DAG whose middle step can break the store while it runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pendulum

TASKS = ("make", "use", "finish")


def fault_dag(
    data: Path,
    *,
    dag_id: str = "faults",
    during: dict[str, Callable[[], None]] | None = None,
) -> Any:
    """Return a DAG make → use → finish over local files in ``data``.

    :param during: task id → a function its step calls before it returns (to break or
        mend the store while the task runs).
    """
    from airflow.sdk import DAG, Asset, task

    during = during or {}
    files = {t: data / f"{t}.out" for t in TASKS}
    assets = {t: Asset(files[t].as_uri()) for t in TASKS}
    data.mkdir(parents=True, exist_ok=True)

    def step(task_id: str, source: Path | None) -> None:
        text = source.read_text() if source else "raw"
        files[task_id].write_text(f"{text} → {task_id}")
        if task_id in during:
            during[task_id]()

    with DAG(dag_id, start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

        @task(task_id="make", outlets=[assets["make"]])
        def make() -> None:
            step("make", None)

        @task(task_id="use", inlets=[assets["make"]], outlets=[assets["use"]])
        def use() -> None:
            step("use", files["make"])

        @task(task_id="finish", inlets=[assets["use"]], outlets=[assets["finish"]])
        def finish() -> None:
            step("finish", files["use"])

        make() >> use() >> finish()
    return dag


B = "file://BASE"
EXPECTED_DATA_EDGES = {
    ("task:make", f"{B}/make.out", "Produced"),
    (f"{B}/make.out", "task:use", "ContributedTo"),
    ("task:use", f"{B}/use.out", "Produced"),
    (f"{B}/use.out", "task:finish", "ContributedTo"),
    ("task:finish", f"{B}/finish.out", "Produced"),
}
"""The data edges a healthy run of :func:`fault_dag` records (files relative to BASE)."""


def expected_graph(
    data: Path, run_id: str, *, tasks: tuple[str, ...] = TASKS, sub: str = ""
) -> dict[str, Any]:
    """Return the vertices, edges, statuses and digests a healthy run records, keyed as
    :func:`tests.capture.graph.captured` keys them (files relative to ``data``).

    :param tasks: the tasks that ran (a prefix of :data:`TASKS`).
    :param sub: the run's data folder under ``data`` ("" for ``data`` itself).
    """
    from ..capture.graph import sha256_of

    run = f"PipelineExecution:airflow://dags/faults/runs/{run_id}"
    task_run = f"TaskRun:airflow://dags/faults/runs/{run_id}/tasks"
    files = f"{B}/{sub}".rstrip("/")
    vertices = {("Action", "PythonDecoratedOperator", f"task:{t}") for t in tasks}
    vertices |= {("Artifact", "DataSet", f"{files}/{t}.out") for t in tasks}
    vertices |= {("Context", "TaskRun", f"{task_run}/{t}") for t in tasks}
    vertices |= {("Context", "Pipeline", "Pipeline:airflow://dags/faults")}
    vertices |= {("Context", "PipelineExecution", run)}
    edges = {
        (a.replace(B, files), b.replace(B, files), kind)
        for a, b, kind in EXPECTED_DATA_EDGES
        if {a, b} & {f"task:{t}" for t in tasks} == {a, b} & {f"task:{t}" for t in TASKS}
    }
    edges |= {(f"task:{t}", run, "AssociatedWith") for t in tasks}
    edges |= {(f"task:{t}", f"{task_run}/{t}", "AssociatedWith") for t in tasks}
    edges |= {(run, "Pipeline:airflow://dags/faults", "AssociatedWith")}
    folder = data / sub if sub else data
    return {
        "vertices": vertices,
        "edges": edges,
        "statuses": {f"task:{t}": "Completed" for t in tasks},
        "digests": {
            f"{files}/{t}.out": (sha256_of((folder / f"{t}.out").as_uri()),) for t in tasks
        },
    }


def assert_nothing_lost(url: str, data: Path, run_id: str) -> None:
    """Check that the store holds exactly the graph a healthy run records."""
    from ..capture.graph import captured

    graph = captured(url, data)
    expected = expected_graph(data, run_id)
    for part in ("vertices", "edges", "statuses", "digests"):
        assert graph[part] == expected[part], part
