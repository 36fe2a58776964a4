"""Real lineage records of task tries, for outbox tests (built as capture builds them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_lineage import ActionStatus
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.outbox import Outbox
from airflow_lineage.capture.record import LineageRecord, TaskRun, build_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(task: str, *, try_number: int = 1, at: datetime = T0) -> LineageRecord:
    """Return the Completed record of one try that reads ``<task>.in`` and writes ``.out``."""
    run = TaskRun("queued", task, "manual__1", try_number=try_number)
    lineage = StepLineage(
        inputs=(DataRef(f"file:///data/{task}.in"),),
        outputs=(DataRef(f"file:///data/{task}.out", "Model"),),
    )
    return build_record(
        run, lineage, ActionStatus.COMPLETED, now=at + timedelta(seconds=1), started=at
    )


def put(outbox: Outbox, rec: LineageRecord) -> None:
    """Queue a record as capture does."""
    outbox.put(rec.entities, rec.associations, rec.upsert)
