"""A run that an Asset event started is linked to the try that produced the event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.model import Action, Direction
from airflow_lineage.recipe import walk

pytestmark = pytest.mark.slow


def _dags(base: Path) -> tuple[Any, Any]:
    import pendulum
    from airflow.sdk import DAG, Asset

    from airflow_lineage.operators.steps import Data, MLStepOperator

    ready = Asset("team_a_features_ready")  # names no data: no shared URI convention

    def featurise(step: Any) -> None:
        step.outputs["features"].path.write_text(step.inputs["raw"].path.read_text().upper())

    def train(step: Any) -> None:
        # Reads team A's features by a path of its own, declared nowhere as an input.
        features = (base / "team_a" / "features.csv").read_text()
        step.outputs["model"].path.write_text(f"model of {len(features)} bytes")

    start = pendulum.datetime(2026, 1, 1)
    with DAG("team_a_features", start_date=start, schedule=None) as producer:
        MLStepOperator(
            task_id="featurise",
            python_callable=featurise,
            step_type="FeatureExtraction",
            inputs={"raw": Data(f"file://{base}/raw.csv")},
            outputs={"features": Data(f"file://{base}/team_a/features.csv")},
            outlets=[ready],
        )
    with DAG("team_b_training", start_date=start, schedule=[ready]) as consumer:
        MLStepOperator(
            task_id="train",
            python_callable=train,
            step_type="Training",
            outputs={"model": Data(f"file://{base}/team_b/model.txt", "Model")},
        )
    return producer, consumer


def _started_by_events_of(producer_dag_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next ``dag.test()`` run consume the producer's Asset events, as the
    scheduler's asset-triggered run would (dag.test itself makes a manual run)."""
    from airflow.models import dagrun
    from airflow.models.asset import AssetEvent
    from sqlalchemy import select

    original = dagrun.get_or_create_dagrun

    def with_events(**kwargs: Any) -> Any:
        dr = original(**kwargs)
        session = kwargs["session"]
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.source_dag_id == producer_dag_id)
        ).all()
        assert events, "the producer's run registered no Asset event"
        dr.consumed_asset_events.extend(events)
        session.commit()
        return dr

    monkeypatch.setattr(dagrun, "get_or_create_dagrun", with_events)


def test_an_asset_triggered_run_is_linked_to_the_producing_try(
    lineage_home: Path, run_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = lineage_home / "ml"
    base.mkdir()
    (base / "raw.csv").write_text("a,b\n")
    producer, consumer = _dags(base)
    produced = run_dag(producer)
    assert produced.state == "success"
    _started_by_events_of("team_a_features", monkeypatch)
    consumed = run_dag(consumer)
    assert consumed.state == "success"

    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    with connect(url) as store:
        (model,) = store.list_entities(
            "Artifact", source_uri=f"file://{base}/team_b/model.txt"
        ).items
        entities, _ = walk(store, [model.arn], Direction.ASCENDANTS)
    steps = {
        (
            e.properties["airflow:dag_id"],
            e.properties["airflow:task_id"],
            e.properties["airflow:run_id"],
        )
        for e in entities.values()
        if isinstance(e, Action)
    }
    assert steps == {
        ("team_b_training", "train", consumed.run_id),
        ("team_a_features", "featurise", produced.run_id),
    }
    # Team A's input is upstream of team B's model: lineage crossed the DAG boundary.
    assert f"file://{base}/raw.csv" in {e.source_uri for e in entities.values()}


def test_a_run_no_event_started_is_linked_to_nothing(
    lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    base = lineage_home / "ml"
    (base / "team_a").mkdir(parents=True)
    (base / "team_a" / "features.csv").write_text("x\n")
    _, consumer = _dags(base)
    assert run_dag(consumer).state == "success"
    with connect(f"sqlite:///{lineage_home / 'lineage.db'}") as store:
        (model,) = store.list_entities(
            "Artifact", source_uri=f"file://{base}/team_b/model.txt"
        ).items
        entities, _ = walk(store, [model.arn], Direction.ASCENDANTS)
    assert [
        e.properties["airflow:task_id"] for e in entities.values() if isinstance(e, Action)
    ] == ["train"]
