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
from airflow_lineage.ui.access import Attribution, Reader, context_dag, task_run_of

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


def test_only_the_name_capture_derives_makes_a_task_run_context_count() -> None:
    def context(run: TaskRun) -> Context:
        return Context.new(run.task_run_context_name, "TaskRun", run.uri)

    plain = TaskRun("dag_a", "group.train", "manual__2026-01-01T00:00:00+00:00")
    mapped = TaskRun("dag_a", "train", "r1", map_index=3)
    # A run id that itself holds "/tasks/": the name's hash decides which split is true.
    odd = TaskRun("dag_a", "x", "r/tasks/y", map_index=0)
    for run in (plain, mapped, odd):
        assert task_run_of(context(run)) == ("dag_a", run.run_id), run
    real = context(plain)
    for fake in (
        Context.new("dag-a-group-train-000000000000", "TaskRun", real.source_uri),
        Context.new(real.arn.rsplit("/", 1)[1], "TaskRun", f"{real.source_uri}/0"),
        Context.new(real.arn.rsplit("/", 1)[1], "TaskRun", "airflow://dags/dag_b/runs/r1/tasks/t"),
        Context.new(real.arn.rsplit("/", 1)[1], "Endpoint", real.source_uri),
        Context.new(context(mapped).arn.rsplit("/", 1)[1], "TaskRun", f"{mapped.uri[:-1]}03"),
    ):
        assert task_run_of(fake) is None, fake
    action = Action.new("a", "T", real.source_uri)
    assert task_run_of(action) is None  # type: ignore[arg-type]
    assert context_dag(real) is None  # not a DAG or DAG-run context


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


def _task_run_context(entities: tuple[object, ...]) -> Context:
    (found,) = [e for e in entities if isinstance(e, Context) and e.type == "TaskRun"]
    return found


def test_task_run_contexts_belong_to_their_own_dags_steps(store: LineageStore) -> None:
    """A task-run context is claimed by the steps of its own DAG linked to it; a step of
    another DAG claims nothing, and a context capture would not name so has no DAG."""
    a = build_record(TaskRun("dag_a", "make", "r1"), StepLineage(), ActionStatus.COMPLETED, now=NOW)
    retry = build_record(
        TaskRun("dag_a", "make", "r1", try_number=2), StepLineage(), ActionStatus.FAILED, now=NOW
    )
    b = build_record(TaskRun("dag_b", "use", "r1"), StepLineage(), ActionStatus.COMPLETED, now=NOW)
    both = build_record(
        TaskRun("dag_a", "both", "r1"), StepLineage(), ActionStatus.COMPLETED, now=NOW
    )
    a_task, b_task, both_task = (_task_run_context(r.entities) for r in (a, b, both))
    forged = Context.new(
        "dag-b-use-000000000000",
        "TaskRun",
        b_task.source_uri,
        properties={"airflow:dag_id": "dag_b"},
    )
    orphan = Context.new(
        TaskRun("dag_a", "gone", "r1").task_run_context_name,
        "TaskRun",
        TaskRun("dag_a", "gone", "r1").uri,
    )
    link = AssociationType.ASSOCIATED_WITH
    store.write(
        [*a.entities, *retry.entities, *b.entities, *both.entities, forged, orphan],
        [
            *a.associations,
            *retry.associations,
            *b.associations,
            *both.associations,
            Association(b.action_arn, a_task.arn, link),  # dag_b claims dag_a's task run
            Association(both.action_arn, b.entities[1].arn, link),  # and dag_b's run
            Association(b.action_arn, forged.arn, link),
            Association(a.action_arn, forged.arn, link),
        ],
    )
    assert retry.action_arn != a.action_arn and _task_run_context(retry.entities) == a_task
    arns = [a_task.arn, b_task.arn, both_task.arn, forged.arn, orphan.arn]
    attribution = Attribution(store)
    found = store.get_many(arns)
    attribution.resolve([found[x].vertex() for x in arns])
    claims = {x: attribution.claims(x) for x in arns}
    assert claims[a_task.arn] == (frozenset({"dag_a"}),)  # both tries; dag_b's link ignored
    assert claims[b_task.arn] == (frozenset({"dag_b"}),)
    assert claims[both_task.arn] == (frozenset({"dag_a", "dag_b"}),)
    assert claims[forged.arn] == ()
    assert claims[orphan.arn] == ()  # no step: no DAG established
    only_b = Reader(False, frozenset({"dag_b"}))
    only_a = Reader(False, frozenset({"dag_a"}))
    vertices = [found[x].vertex() for x in arns]
    assert [v.arn for v in attribution.visible(only_b, vertices)] == [b_task.arn]
    assert [v.arn for v in attribution.visible(only_a, vertices)] == [a_task.arn]
    assert len(attribution.visible(Reader(True), vertices)) == len(arns)
