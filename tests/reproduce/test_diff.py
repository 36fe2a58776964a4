"""diff and the input check of reproduce on two real runs: a changed parameter and input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage.cli import main as cli

pytestmark = pytest.mark.slow


def _tunable_dag(base: Path) -> Any:
    import pendulum
    from airflow.sdk import DAG

    from airflow_lineage.operators.steps import Data, MLStepOperator

    def train(step: Any) -> None:
        rows = step.inputs["data"].path.read_text().splitlines()
        step.log_metric("rows", len(rows))
        step.outputs["model"].path.write_text(
            json.dumps({"lr": step.parameters["learning_rate"], "rows": rows})
        )

    with DAG("tunable_training", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:
        MLStepOperator(
            task_id="train",
            python_callable=train,
            step_type="Training",
            inputs={"data": Data(f"file://{base}/external/data.csv")},
            outputs={"model": Data(f"file://{base}/runs/{{{{ run_id }}}}/model.json", "Model")},
            parameters={
                "learning_rate": "{{ dag_run.conf.get('learning_rate', 0.1) }}",
                "epochs": 5,
            },
        )
    return dag


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
