"""OpenLineage out and back in: our lineage → run events → a fresh store, graph intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("openlineage.client")

from airflow_lineage import records
from airflow_lineage.capture.lineage import ContextRef, DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.cli import main
from airflow_lineage.model import (
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    SourceIdType,
    SourceType,
)
from airflow_lineage.openlineage.facets import validate
from airflow_lineage.store import connect
from tests.conftest import create_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RAW = "s3://ml-data/raw/iris.csv"
FEATURES = "file:///data/features.csv"
MODEL = "s3://ml-models/iris/model.tar.gz"
OLD_MODEL = "s3://ml-models/iris/model-v1.tar.gz"


def _digest(text: str) -> tuple[SourceType, ...]:
    return (SourceType(SourceIdType.CUSTOM, f"sha256:{text * 64}"[:71]),)


def _pipeline(url: str) -> None:
    """Record a small ML pipeline with the capture's own record builder."""
    prepare = StepLineage(
        step_type="DataPreparation",
        inputs=(DataRef(RAW, digests=_digest("a")),),
        outputs=(DataRef(FEATURES, digests=_digest("b")),),
        parameters={"test_size": "0.2"},
    )
    steps = [
        *(
            (
                TaskRun("iris", "prepare", "manual__1", try_number=n, operator="x.PythonOperator"),
                prepare,
                status,
                error,
            )
            for n, status, error in [
                (1, ActionStatus.FAILED, "disk full"),
                (2, ActionStatus.COMPLETED, None),
            ]
        ),
        (
            TaskRun("iris", "train", "manual__1", operator="x.MLStepOperator"),
            StepLineage(
                step_type="Training",
                inputs=(DataRef(FEATURES, digests=_digest("b")),),
                outputs=(DataRef(MODEL, "Model", _digest("c"), {"framework": "sklearn"}),),
                parameters={"max_depth": "3", "seed": "7"},
                metrics={"train_accuracy": "0.97", "note": "n/a"},
                properties={"code_version": "0123456789abcdef0123456789abcdef01234567"},
            ),
            ActionStatus.COMPLETED,
            None,
        ),
        (
            TaskRun("iris", "deploy", "manual__1", operator="x.Deploy"),
            StepLineage(
                step_type="ModelDeployment",
                inputs=(DataRef(MODEL, "Model", _digest("c"), {"framework": "sklearn"}),),
                contexts=(ContextRef("iris-endpoint", "Endpoint", "serving://iris"),),
            ),
            ActionStatus.COMPLETED,
            None,
        ),
    ]
    with connect(url) as store:
        for n, (run, lineage, status, error) in enumerate(steps):
            at = T0 + timedelta(minutes=n)
            rec = build_record(
                run, lineage, status, now=at + timedelta(seconds=30), started=at, error=error
            )
            store.write(rec.entities, rec.associations, upsert=rec.upsert)
        old = Artifact.new(OLD_MODEL, "Model", created=T0 - timedelta(days=1))
        model = store.list_entities("Artifact", source_uri=MODEL).items[0]
        store.write([old], [Association(model.arn, old.arn, AssociationType.DERIVED_FROM, T0)])


def _dump(url: str) -> list[str]:
    with connect(url) as store:
        return sorted(records.dumps(i) for i in store.export())


@pytest.fixture
def pipeline(store_url: str) -> str:
    _pipeline(store_url)
    return store_url


def test_round_trip_preserves_the_whole_graph(pipeline: str, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    assert main(["--store", pipeline, "openlineage", "export", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 4  # one run event per action (per try)
    for line in lines:
        event = validate(line)  # openlineage-python's model takes every event back
        assert json.loads(line)["run"]["runId"] == event.run.runId
    fresh = create_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert main(["--store", fresh, "openlineage", "import", str(out)]) == 0
    assert _dump(fresh) == _dump(pipeline)
    # Importing again changes nothing.
    assert main(["--store", fresh, "openlineage", "import", str(out)]) == 0
    assert _dump(fresh) == _dump(pipeline)


def test_ml_facets_and_standard_fields(pipeline: str, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    assert main(["--store", pipeline, "openlineage", "export", "-o", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    by_job: dict[str, list[dict]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    assert sorted(by_job) == ["iris.deploy", "iris.prepare", "iris.train"]
    failed, retried = by_job["iris.prepare"]
    assert (failed["eventType"], retried["eventType"]) == ("FAIL", "COMPLETE")
    assert failed["run"]["facets"]["errorMessage"]["message"] == "disk full"
    assert failed["run"]["runId"] != retried["run"]["runId"]
    train = by_job["iris.train"][0]
    facets = train["run"]["facets"]
    assert facets["mlHyperparameters"]["parameters"] == {"max_depth": "3", "seed": "7"}
    assert facets["mlMetrics"]["metrics"] == {"train_accuracy": 0.97, "note": "n/a"}
    assert facets["mlCodeVersion"]["version"].startswith("0123456789abcdef")
    assert facets["parent"]["job"]["name"] == "iris"
    for name in ("mlHyperparameters", "mlMetrics", "mlCodeVersion", "sagemakerLineage"):
        assert facets[name]["_schemaURL"].startswith("https://")
        assert facets[name]["_schemaURL"].endswith(".json")
    (inp,) = train["inputs"]
    assert (inp["namespace"], inp["name"]) == ("file", "/data/features.csv")
    (out_ds,) = train["outputs"]
    assert (out_ds["namespace"], out_ds["name"]) == ("s3://ml-models", "iris/model.tar.gz")
    assert out_ds["facets"]["mlModel"]["modelType"] == "Model"
    assert out_ds["facets"]["datasetVersion"]["datasetVersion"].startswith("sha256:")
    assert train["job"]["facets"]["jobType"]["integration"] == "AIRFLOW"


def test_export_of_a_query_holds_only_its_graph(pipeline: str, tmp_path: Path) -> None:
    out = tmp_path / "up.jsonl"
    code = main(
        [
            "--store",
            pipeline,
            "openlineage",
            "export",
            "--uri",
            FEATURES,
            "--direction",
            "ascendants",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    names = sorted(json.loads(line)["job"]["name"] for line in out.read_text().splitlines())
    assert names == ["iris.prepare", "iris.prepare"]
    fresh = create_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert main(["--store", fresh, "openlineage", "import", str(out)]) == 0
    with connect(fresh) as store:
        assert not store.list_entities("Artifact", source_uri=MODEL).items


def test_a_graph_without_an_action_exports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = create_store(f"sqlite:///{tmp_path / 'l.db'}")
    with connect(url) as store:
        store.create_artifact(RAW, "DataSet")
    assert main(["--store", url, "openlineage", "export", "--uri", RAW]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no action" in captured.err


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.update(eventTime="yesterday"), "eventTime"),
        (lambda e: e["run"].update(runId="not-a-uuid"), "UUID"),
        (lambda e: e.pop("job"), "'run' and 'job'"),
        (lambda e: e["run"]["facets"]["mlHyperparameters"].update(extra=1), "extra"),
        (
            lambda e: e["run"]["facets"]["mlHyperparameters"].update(_schemaURL="x"),
            "serialise back",
        ),
    ],
)
def test_an_invalid_event_imports_nothing(
    pipeline: str, tmp_path: Path, mutate, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "events.jsonl"
    assert main(["--store", pipeline, "openlineage", "export", "-o", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    mutate(events[2])
    out.write_text("".join(json.dumps(e) + "\n" for e in events))
    fresh = create_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert main(["--store", fresh, "openlineage", "import", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 3" in err and message in err
    assert _dump(fresh) == []
