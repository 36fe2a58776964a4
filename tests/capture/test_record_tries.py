"""The record of one try: names, the task-run link, and edge times (no Airflow needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_lineage import ActionStatus, AssociationType, Context
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TASK_RUN_CONTEXT_TYPE, TaskRun, build_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_each_try_has_its_own_stable_action_name_and_one_task_run_context() -> None:
    first = TaskRun("dag", "train", "manual__1", try_number=1)
    second = TaskRun("dag", "train", "manual__1", try_number=2)
    assert first.action_name != second.action_name
    assert first.action_name == TaskRun("dag", "train", "manual__1", try_number=1).action_name
    assert "-try1-" in first.action_name and "-try2-" in second.action_name
    assert first.task_run_context_name == second.task_run_context_name
    other_run = TaskRun("dag", "train", "manual__2", try_number=1)
    assert other_run.task_run_context_name != first.task_run_context_name
    long = TaskRun("d" * 250, "t" * 250, "r" * 250, map_index=12345, try_number=99)
    assert len(long.action_name) <= 120 and len(long.task_run_context_name) <= 120


@pytest.mark.parametrize("bad", [-1, True, "2", 1.0])
def test_a_bad_try_number_is_refused(bad: object) -> None:
    with pytest.raises((TypeError, ValueError), match="try_number"):
        TaskRun("dag", "train", "r", try_number=bad)  # type: ignore[arg-type]


def test_a_try_links_to_its_task_run_and_its_input_edges_follow_the_action() -> None:
    run = TaskRun("dag", "train", "r", try_number=3)
    lineage = StepLineage(
        inputs=(DataRef("file:///data/b.csv"),), outputs=(DataRef("file:///m.pkl", "Model"),)
    )
    record = build_record(
        run, lineage, ActionStatus.COMPLETED, now=T0 + timedelta(seconds=5), started=T0
    )
    entities = {e.arn: e for e in record.entities}
    action = entities[record.action_arn]
    assert action.name == run.action_name
    assert action.properties["airflow:try_number"] == "3"
    assert action.created == T0
    task_runs = [
        e for e in record.entities if isinstance(e, Context) and e.type == TASK_RUN_CONTEXT_TYPE
    ]
    assert [c.name for c in task_runs] == [run.task_run_context_name]
    assert "airflow:try_number" not in task_runs[0].properties  # shared by every try
    out_of_action = {
        (entities[a.destination_arn].lineage_type.value, a.association_type)
        for a in record.associations
        if a.source_arn == action.arn
    }
    assert ("Context", AssociationType.ASSOCIATED_WITH) in out_of_action
    # Nothing points into the task-run context but the try's own action.
    into_task_run = [a for a in record.associations if a.destination_arn == task_runs[0].arn]
    assert [a.source_arn for a in into_task_run] == [action.arn]
    inputs = [
        a for a in record.associations if a.association_type is AssociationType.CONTRIBUTED_TO
    ]
    assert inputs and all(a.created >= action.created for a in inputs)
