"""A worker whose clock runs one hour ahead must not freeze an action's status.

Status moves forward only: by try (each try is its own action) and, within a try, by
status rank (InProgress before Completed, Failed or Stopped), never by the writer's
clock. Records are built as capture builds them and written as capture writes them.
"""

from __future__ import annotations

from datetime import timedelta

from airflow_lineage import ActionStatus, connect
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import LineageRecord, TaskRun, build_record
from airflow_lineage.model import utcnow

AHEAD = timedelta(hours=1)
LINEAGE = StepLineage(
    inputs=(DataRef("file:///data/train.csv"),),
    outputs=(DataRef("file:///models/model.pkl", "Model"),),
)


def _record(try_number: int, status: ActionStatus, *, skew: timedelta) -> LineageRecord:
    now = utcnow() + skew
    run = TaskRun("clock", "train", "manual__1", try_number=try_number)
    return build_record(run, LINEAGE, status, now=now, started=now - timedelta(seconds=1))


def _write(url: str, rec: LineageRecord) -> None:
    with connect(url) as store:
        store.write(rec.entities, rec.associations, upsert=rec.upsert)


def _status(url: str, arn: str) -> str:
    with connect(url) as store:
        return store.get(arn).status.value  # type: ignore[union-attr]


def test_a_later_try_with_the_real_clock_is_recorded_beside_a_fast_clocks_try(
    store_url: str,
) -> None:
    fast = _record(1, ActionStatus.COMPLETED, skew=AHEAD)
    _write(store_url, fast)
    second = _record(2, ActionStatus.FAILED, skew=timedelta(0))
    _write(store_url, second)
    assert _status(store_url, fast.action_arn) == "Completed"
    assert _status(store_url, second.action_arn) == "Failed"  # its own action, untouched


def test_a_stale_start_record_never_rolls_a_finished_try_back(store_url: str) -> None:
    # Completed by a worker one hour ahead; the InProgress record of the same try
    # arrives later (an outbox replay) stamped with the real clock.
    _write(store_url, done := _record(1, ActionStatus.COMPLETED, skew=AHEAD))
    _write(store_url, _record(1, ActionStatus.IN_PROGRESS, skew=timedelta(0)))
    assert _status(store_url, done.action_arn) == "Completed"


def test_a_fast_clocks_in_progress_record_does_not_freeze_the_status(store_url: str) -> None:
    # The try started on a worker one hour ahead (strict mode records InProgress there);
    # its end is recorded with the real clock (e.g. by the process that saw it fail).
    _write(store_url, started := _record(1, ActionStatus.IN_PROGRESS, skew=AHEAD))
    _write(store_url, _record(1, ActionStatus.FAILED, skew=timedelta(0)))
    assert _status(store_url, started.action_arn) == "Failed"
