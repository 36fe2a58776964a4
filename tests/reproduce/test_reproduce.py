"""Reproduce the example pipeline's model from its manifest, for real."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.cli import main as cli
from airflow_lineage.model import AssociationType
from tests.capture.conftest import REPO

pytestmark = pytest.mark.slow

DAG_FILE = REPO / "dags" / "ml_pipeline_local.py"


def _registered(home: Path, run_id: str) -> str:
    return f"file://{home / 'ml'}/runs/{run_id}/registry/iris/1/model.pkl"


def test_reproduce_the_example_model_from_its_manifest(
    lineage_home: Path,
    load_dag: Callable[..., Any],
    run_dag: Callable[..., Any],
    capfd: pytest.CaptureFixture[str],
) -> None:
    dr = run_dag(load_dag(DAG_FILE, "ml_pipeline_local"))
    assert dr.state == "success"
    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    model_uri = _registered(lineage_home, dr.run_id)
    manifest_file = lineage_home / "manifest.json"

    assert cli(["--store", url, "reproduce", model_uri, "-o", str(manifest_file)]) == 0
    manifest = json.loads(manifest_file.read_text())
    dag = manifest["dag"]
    assert (dag["dag_id"], dag["run_id"], dag["airflow"]) == (
        "ml_pipeline_local",
        dr.run_id,
        "recorded",
    )
    assert dag["conf"] == {} and dag["dag_version"] == 1 and dag["bundle_name"] == "dags-folder"
    assert dag["file"] == str(DAG_FILE)
    assert manifest["parameters"]["train.max_depth"] == "3"
    assert manifest["parameters"]["prepare.seed"] == "7"
    inputs = {i["uri"]: i for i in manifest["inputs"]}
    raw = inputs[f"file://{lineage_home / 'ml'}/raw/iris.csv"]
    assert raw["digests"]["Custom"].startswith("sha256:") and raw["produced_in_run"]
    assert [s["task"] for s in manifest["steps"]] == [
        "ingest",
        "prepare",
        "extract_features",
        "train",
        "evaluate",
        "register",
    ]
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    code_versions = manifest["code"]["steps"]
    assert code_versions["train"] in (head, f"{head}-dirty")
    assert manifest["code"]["dirty"] == code_versions["train"].endswith("-dirty")
    (old,) = manifest["models"]
    assert (old["uri"], old["task_id"]) == (model_uri, "register")
    capfd.readouterr()

    code = cli(["--store", url, "reproduce", "--from", str(manifest_file), "--trigger", "--local"])
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert "digest equal: yes" in out
    assert "[DAG TEST]" not in out  # the run's own logs go to stderr

    with connect(url) as store:
        links = store.list_associations(
            destination_arn=old["arn"], association_type=AssociationType.DERIVED_FROM
        ).items
        assert len(links) == 1
        new = store.get(links[0].source_arn)
    assert new.source_uri != model_uri and new.source_uri.endswith("/registry/iris/1/model.pkl")
    assert dict((s.id_type.value, s.value) for s in new.source_types) == old["digests"]
