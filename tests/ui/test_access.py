"""DAG attribution of lineage vertices, on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    Context,
)
from airflow_lineage.store.base import LineageStore
from airflow_lineage.ui.access import Attribution, Reader, context_dag

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_only_the_name_capture_derives_makes_a_run_context_count() -> None:
    run = TaskRun("dag_a", "", "manual__2026-01-01T00:00:00+00:00")
    real = Context.new(
        run.run_context_name, "PipelineExecution", f"airflow://dags/dag_a/runs/{run.run_id}"
    )
    assert context_dag(real) == "dag_a"
    dag = Context.new(run.dag_context_name, "Pipeline", "airflow://dags/dag_a")
    assert context_dag(dag) == "dag_a"
    # The same URI and properties under another name, the right name with another URI,
    # or another context type: none is the DAG's.
    for fake in (
        Context.new(
            "dag-a-run-000000000000",
            "PipelineExecution",
            real.source_uri,
            properties={"airflow:dag_id": "dag_a"},
        ),
        Context.new(run.run_context_name, "PipelineExecution", "airflow://dags/dag_b/runs/x"),
        Context.new(run.run_context_name, "Endpoint", real.source_uri),
        Context.new(run.dag_context_name, "Pipeline", "airflow://dags/dag_a/extra"),
    ):
        assert context_dag(fake) is None, fake
    action = Action.new("a", "T", real.source_uri, properties={"airflow:dag_id": "dag_a"})
    assert context_dag(action) is None  # type: ignore[arg-type]


def test_reader_rules() -> None:
    everyone, some = Reader(True), Reader(False, frozenset({"a"}))
    assert everyone.sees(()) and not some.sees(())  # no DAG established: fail closed
    assert some.sees((frozenset({"a"}),)) and not some.sees((frozenset({"a", "b"}),))
    assert some.sees((frozenset({"b"}), frozenset({"a"})))  # one visible claim suffices
    assert some.shown_dags((frozenset({"b"}), frozenset({"a"}))) == ["a"]
    assert everyone.shown_dags((frozenset({"b"}), frozenset({"a"}))) == ["a", "b"]
    assert some.with_dag("c").dags == {"a", "c"} and everyone.with_dag("c") is everyone
    with pytest.raises(TypeError, match="all_dags"):
        Reader("yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="frozenset"):
        Reader(False, {"a"})  # type: ignore[arg-type]


def test_attribution_through_run_contexts(store: LineageStore) -> None:
    a = build_record(
        TaskRun("dag_a", "make", "r1"),
        StepLineage(outputs=(DataRef("s3://x/data.csv"),), properties={"airflow:dag_id": "b"}),
        ActionStatus.COMPLETED,
        now=NOW,
    )
    b = build_record(
        TaskRun("dag_b", "use", "r1"),
        StepLineage(inputs=(DataRef("s3://x/data.csv"),)),
        ActionStatus.COMPLETED,
        now=NOW,
    )
    both = build_record(
        TaskRun("dag_a", "both", "r1"),
        StepLineage(outputs=(DataRef("s3://x/both.csv"),)),
        ActionStatus.COMPLETED,
        now=NOW,
    )
    lone = Action.new("lone", "T", "x://lone", properties={"airflow:dag_id": "dag_a"})
    lone_out = Artifact.new("s3://x/lone.csv", "DataSet")
    store.write(
        [*a.entities, *b.entities, *both.entities, lone, lone_out],
        [
            *a.associations,
            *b.associations,
            *both.associations,
            Association(both.action_arn, b.entities[1].arn, AssociationType.ASSOCIATED_WITH),
            Association(lone.arn, lone_out.arn, AssociationType.PRODUCED),
        ],
    )
    data = a.outputs[0]
    attribution = Attribution(store)
    arns = [a.action_arn, b.action_arn, both.action_arn, data, both.outputs[0], lone.arn]
    found = store.get_many(arns)
    attribution.resolve([found[x].vertex() for x in arns])
    claims = {x: attribution.claims(x) for x in arns}
    assert claims[a.action_arn] == (frozenset({"dag_a"}),)  # its property says "b"
    assert claims[b.action_arn] == (frozenset({"dag_b"}),)
    assert claims[both.action_arn] == (frozenset({"dag_a", "dag_b"}),)
    assert set(claims[data]) == {frozenset({"dag_a"}), frozenset({"dag_b"})}
    assert claims[both.outputs[0]] == (frozenset({"dag_a", "dag_b"}),)
    assert claims[lone.arn] == ()
    only_b = Reader(False, frozenset({"dag_b"}))
    shown = attribution.visible(only_b, [found[x].vertex() for x in arns])
    assert [v.arn for v in shown] == [b.action_arn, data]
