"""Race-free hand-off: a step's lineage is committed before anyone can see it succeed.

Airflow reports success *before* its success listener runs, so lineage written by that
listener can be missing when a downstream task (a deployment gate) starts. Here the
upstream step's capture is slowed by 2 s, and a watcher stands in for the scheduler: the
moment Airflow's database says the upstream task succeeded, it reads the step's lineage.
The downstream task, too, reads it as soon as it starts. Both must see the whole record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import ActionStatus, connect
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun
from airflow_lineage.model import Action

from .conftest import reset_lineage_settings

pytestmark = pytest.mark.slow

DELAY = 2.0


def _operator_class() -> type:
    from airflow.sdk import BaseOperator

    class SlowlyDescribedOperator(BaseOperator):
        """Writes one file; describing its lineage takes DELAY seconds."""

        def __init__(self, *, path: str, finished: list[float], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.path = path
            self.finished = finished

        def execute(self, context: Any) -> None:
            Path(self.path).write_text("features\n")

        def get_lineage_on_start(self, context: Any) -> StepLineage:
            return StepLineage(step_type="FeatureExtraction")

        def get_lineage_on_complete(self, context: Any, result: Any) -> StepLineage:
            time.sleep(DELAY)
            self.finished.append(time.monotonic())
            return StepLineage(outputs=(DataRef(Path(self.path).as_uri(), "DataSet"),))

    return SlowlyDescribedOperator


def _read_record(url: str, arn: str) -> tuple[str | None, int]:
    """Return the action's status and its number of outputs (None if not there)."""
    with connect(url) as store:
        found = store.get_many([arn]).get(arn)
        if found is None:
            return None, 0
        outputs = store.list_associations(source_arn=arn, association_type="Produced").items
        assert isinstance(found, Action)
        return found.status.value, len(outputs)


def test_downstream_sees_the_complete_upstream_record(
    lineage_home: Path,
    run_dag: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pendulum
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk import DAG, task
    from airflow.utils.session import create_session
    from sqlalchemy import select

    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__PUSH_XCOM", "always")
    reset_lineage_settings()
    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    finished: list[float] = []
    seen_by_watcher: dict[str, Any] = {}
    stop = threading.Event()

    def action_arn(run_id: str) -> str:
        name = TaskRun("lineage_race", "produce", run_id).action_name
        return f"arn:aws:sagemaker:local:000000000000:action/{name}"

    def watch() -> None:
        """Play the scheduler: react the instant the upstream task is reported a success."""
        while not stop.is_set():
            with create_session() as session:
                ti = session.scalars(
                    select(TaskInstance).where(
                        TaskInstance.dag_id == "lineage_race", TaskInstance.task_id == "produce"
                    )
                ).first()
                if ti is not None and ti.state == "success":
                    seen_by_watcher["at"] = time.monotonic()
                    seen_by_watcher["record"] = _read_record(url, action_arn(ti.run_id))
                    return
            time.sleep(0.005)

    slow_op = _operator_class()
    with DAG("lineage_race", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:
        produce = slow_op(task_id="produce", path=str(tmp_path / "features.csv"), finished=finished)

        @task
        def consume(ti: Any = None) -> dict[str, Any]:
            pushed = ti.xcom_pull(task_ids="produce", key="lineage")
            status, outputs = _read_record(url, pushed["action"])
            return {"status": status, "outputs": outputs, "pushed_outputs": len(pushed["outputs"])}

        produce >> consume()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        dr = run_dag(dag)
    finally:
        stop.set()
        watcher.join(5)
    assert dr.state == "success"
    # Capture really was slow, and success became visible only after it had finished.
    assert finished and seen_by_watcher["at"] >= finished[0]
    assert seen_by_watcher["record"] == (ActionStatus.COMPLETED.value, 1)
    seen_downstream = dr.get_task_instance("consume").xcom_pull(task_ids="consume")
    assert seen_downstream == {"status": "Completed", "outputs": 1, "pushed_outputs": 1}
