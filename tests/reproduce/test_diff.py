"""diff and the input check of reproduce on two real runs: a changed parameter and input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage.cli import main as cli

pytestmark = pytest.mark.slow


DAG_FILE = Path(__file__).parent / "dags" / "tunable_training.py"


def _tunable_dag(base: Path) -> Any:
    """Return the DAG of ``dags/tunable_training.py`` (its files under ``base``, which is
    ``$ML_PIPELINE_DIR``)."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    assert os.environ["ML_PIPELINE_DIR"] == str(base)
    bag = DagBag(dag_folder=str(DAG_FILE), safe_mode=False)
    assert not bag.import_errors, bag.import_errors
    return bag.dags["tunable_training"]


def _model(base: Path, run_id: str) -> str:
    return f"file://{base}/runs/{run_id}/model.json"


def test_diff_shows_exactly_a_changed_parameter_and_a_changed_input(
    lineage_home: Path, run_dag: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = lineage_home / "ml"
    data = base / "external" / "data.csv"
    data.parent.mkdir(parents=True)
    data.write_text("1,2\n3,4\n")
    dag = _tunable_dag(base)
    first = run_dag(dag, run_conf={"learning_rate": 0.1})
    data.write_text("1,2\n3,5\n")  # same number of rows: the metric stays the same
    second = run_dag(dag, run_conf={"learning_rate": 0.2})
    assert (first.state, second.state) == ("success", "success")
    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    a, b = _model(base, first.run_id), _model(base, second.run_id)
    capsys.readouterr()

    assert cli(["--store", url, "diff", a, b, "--format", "json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["same"] is False
    assert found["inputs"]["added"] == [] and found["inputs"]["removed"] == []
    (changed,) = found["inputs"]["changed"]
    assert (changed["uri"], changed["type"]) == (f"file://{data}", "DataSet")
    assert changed["a"]["Custom"] != changed["b"]["Custom"]
    assert found["parameters"] == {"train.learning_rate": {"a": "0.1", "b": "0.2"}}
    assert (found["code"], found["steps"], found["metrics"]) == ({}, {}, {})

    assert cli(["--store", url, "diff", a, b]) == 0
    table = capsys.readouterr().out
    assert "input changed" in table and "train.learning_rate" in table
    assert "metric" not in table.split("what", 1)[1]

    assert cli(["--store", url, "diff", a, a]) == 0
    assert "No differences" in capsys.readouterr().out

    # The first model's external input has changed since: reproduce names it, and
    # --trigger starts nothing.
    code = cli(["--store", url, "reproduce", a, "--trigger", "--local"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert f"MISSING  DataSet  file://{data}" in out and "changed" in out
    assert "Not triggered" in out and "New run" not in out

    # --force reruns all the same; the new model is built on other data: exit 4.
    code = cli(["--store", url, "reproduce", a, "--trigger", "--local", "--force"])
    out, err = capsys.readouterr()
    assert code == 4, out + err
    assert "digest equal: no (digest differs" in out


def test_a_scheduler_run_that_does_not_end_in_time_is_reported(
    lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    from airflow_lineage import airflow_runs
    from airflow_lineage.exceptions import AirflowRunError

    base = lineage_home / "ml"
    (base / "external").mkdir(parents=True)
    (base / "external" / "data.csv").write_text("1,2\n")
    first = run_dag(_tunable_dag(base), run_conf={"learning_rate": 0.3})
    info = airflow_runs.run_info("tunable_training", first.run_id)
    assert (info.state, info.conf, info.dag_version) == ("success", {"learning_rate": 0.3}, 1)

    # No scheduler runs here: the queued run never ends, and waiting says so.
    run_id = airflow_runs.trigger("tunable_training", {"learning_rate": 0.3})
    assert airflow_runs.run_info("tunable_training", run_id).conf == {"learning_rate": 0.3}
    with pytest.raises(AirflowRunError, match=r"still queued after 0\.2 s"):
        airflow_runs.wait("tunable_training", run_id, timeout=0.2, poll=0.1)
    with pytest.raises(AirflowRunError, match="has no run"):
        airflow_runs.run_info("tunable_training", "no-such-run")


def test_diff_and_reproduce_reject_what_is_not_a_model(
    lineage_home: Path, run_dag: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    base = lineage_home / "ml"
    (base / "external").mkdir(parents=True)
    (base / "external" / "data.csv").write_text("1,2\n")
    assert run_dag(_tunable_dag(base)).state == "success"
    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    capsys.readouterr()
    assert cli(["--store", url, "diff", f"file://{base}/external/data.csv", "x"]) == 1
    assert "no model" in capsys.readouterr().err
    assert cli(["--store", url, "reproduce"]) == 2
    assert "MODEL" in capsys.readouterr().err
    bad = lineage_home / "bad.json"
    bad.write_text("{}")
    assert cli(["--store", url, "reproduce", "--from", str(bad)]) == 2
    assert "not a manifest" in capsys.readouterr().err
