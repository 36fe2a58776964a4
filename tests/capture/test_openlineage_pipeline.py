"""The example pipeline's real lineage → OpenLineage run events → a fresh store: the
same graph, and every event one openlineage-python's model takes back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import records
from airflow_lineage.cli import main
from airflow_lineage.store import connect
from tests.conftest import create_store

from .conftest import reset_lineage_settings
from .test_local_pipeline import run_pipeline

pytest.importorskip("openlineage.client")
pytestmark = pytest.mark.slow


def _dump(url: str) -> list[str]:
    with connect(url) as store:
        return sorted(records.dumps(item) for item in store.export())


def test_the_pipelines_lineage_survives_a_round_trip_through_openlineage(
    lineage_home: Path, load_dag: Callable[..., Any], run_dag: Callable[..., Any]
) -> None:
    from airflow_lineage.openlineage.facets import validate

    reset_lineage_settings()
    assert run_pipeline(load_dag, run_dag).state == "success"
    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    events = lineage_home / "events.jsonl"
    assert main(["--store", url, "openlineage", "export", "-o", str(events)]) == 0
    lines = events.read_text().splitlines()
    for line in lines:
        validate(line)
    by_job = {json.loads(line)["job"]["name"]: json.loads(line) for line in lines}
    assert len(lines) == len(by_job) == 8  # one try per task, one event per try
    train = by_job["ml_pipeline_local.train"]["run"]["facets"]
    assert train["mlHyperparameters"]["parameters"]["max_depth"] == "3"
    assert "train_accuracy" in train["mlMetrics"]["metrics"]
    assert train["parent"]["job"]["name"] == "ml_pipeline_local"
    (model,) = by_job["ml_pipeline_local.train"]["outputs"]
    assert model["facets"]["mlModel"]["version"].startswith("sha256:")

    fresh = create_store(f"sqlite:///{lineage_home / 'fresh.db'}")
    assert main(["--store", fresh, "openlineage", "import", str(events)]) == 0
    assert _dump(fresh) == _dump(url)
