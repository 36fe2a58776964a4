"""The gate operator in a real DAG run: a rejection stops the deployment and is itself
recorded as lineage (a Failed approval with its report)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import connect

from .graph import captured

pytestmark = pytest.mark.slow


def test_a_rejection_stops_the_deployment_and_is_recorded(
    lineage_home: Path, run_dag: Callable[..., Any], tmp_path: Path
) -> None:
    import pendulum
    from airflow.sdk import DAG

    from airflow_lineage.operators.gate import LineageGateOperator
    from airflow_lineage.operators.steps import Data, ml_step

    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,0\n")
    model_uri = (tmp_path / "model.pkl").as_uri()
    deployed = tmp_path / "deployed"
    with DAG(
        "lineage_gate_rejects", start_date=pendulum.datetime(2026, 1, 1), schedule=None
    ) as dag:

        @ml_step(
            step_type="Training",
            inputs={"data": Data(data.as_uri())},
            outputs={"model": Data(model_uri, "Model")},
        )
        def train(step: Any) -> None:
            step.outputs["model"].path.write_text("weights")
            step.log_metric("accuracy", 0.7)

        gate = LineageGateOperator(
            task_id="gate",
            model_task_id="train",
            report_dir=str(tmp_path / "reports"),
            policy={"metrics": [{"step_type": "Training", "metric": "accuracy", "min": 0.9}]},
        )

        @ml_step(step_type="ModelDeployment", inputs={"model": Data(model_uri, "Model")})
        def deploy(step: Any) -> None:
            deployed.write_text("deployed")

        train() >> gate >> deploy()

    dr = run_dag(dag)
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states == {"train": "success", "gate": "failed", "deploy": "upstream_failed"}
    assert not deployed.exists()
    gate_ti = dr.get_task_instance("gate")
    assert gate_ti.try_number == 1  # AirflowFailException: no retries burned

    report_file = next((tmp_path / "reports").rglob("gate.json"))
    report = json.loads(report_file.read_text())
    assert report["verdict"] == "rejected"
    failed = [r for r in report["rules"] if not r["passed"]]
    assert [r["rule"] for r in failed] == ["Training metric accuracy >= 0.9"]
    assert "accuracy=0.7 is outside the bound" in failed[0]["detail"]
    assert (report_file.with_suffix(".md")).read_text().startswith("# Deployment gate: REJECTED")

    graph = captured(f"sqlite:///{lineage_home / 'lineage.db'}")
    assert graph["statuses"] == {"task:train": "Completed", "task:gate": "Failed"}
    approval = next(
        e for e in graph["entities"].values() if e.properties.get("airflow:task_id") == "gate"
    )
    assert approval.type == "Approval"
    assert approval.properties["verdict"] == "rejected"
    assert (model_uri, "task:gate", "ContributedTo") in graph["edges"]
    assert ("task:gate", report_file.as_uri(), "Produced") in graph["edges"]
    assert not any(edge[1] == "task:deploy" for edge in graph["edges"])


def _gate_report(folder: Path) -> dict[str, Any]:
    return dict(json.loads(next(folder.rglob("gate.json")).read_text()))


GATE_DAG = """
import pendulum
from airflow.sdk import DAG, task

from airflow_lineage.operators.gate import LineageGateOperator

with DAG("{dag_id}", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

    @task
    def train():
        pass

    train() >> LineageGateOperator(
        task_id="gate", model="{model}", policy={policy!r}, retries=3, report_dir="{reports}"
    )
"""


@pytest.mark.parametrize(
    ("policy_file", "text", "message"),
    [
        ("missing.yaml", None, "missing.yaml does not exist"),
        ("broken.yaml", "required: [ {type: DataSet\n", "is not valid YAML"),
        ("empty.yaml", "verify_digests: true\n", "at least one rule"),
        ("bad.yaml", "required: [{colour: red}]\n", "unknown field"),
    ],
)
def test_a_policy_that_cannot_be_loaded_fails_at_once(
    lineage_home: Path,
    run_dag: Callable[..., Any],
    load_dag: Callable[[Path, str], Any],
    tmp_path: Path,
    policy_file: str,
    text: str | None,
    message: str,
) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    if text is not None:
        (dags / policy_file).write_text(text)
    dag_id = f"gate_policy_{policy_file.split('.')[0]}"
    (dags / "gate_dag.py").write_text(
        GATE_DAG.format(
            dag_id=dag_id,
            model=(tmp_path / "model.pkl").as_uri(),
            policy=policy_file,  # relative: read next to the DAG file, not from the cwd
            reports=tmp_path / "reports",
        )
    )
    dr = run_dag(load_dag(dags / "gate_dag.py", dag_id))
    gate = dr.get_task_instance("gate")
    assert gate.state == "failed"
    assert gate.try_number == 1  # AirflowFailException: retries=3 are not burned
    assert not (tmp_path / "reports").exists()  # it never got as far as a verdict
    graph = captured(f"sqlite:///{lineage_home / 'lineage.db'}")
    error = next(
        e for e in graph["entities"].values() if e.properties.get("airflow:task_id") == "gate"
    ).properties["error"]
    assert "AirflowFailException" in error and message in error, error


def test_a_relative_policy_path_is_read_next_to_the_dag_file(
    lineage_home: Path,
    run_dag: Callable[..., Any],
    load_dag: Callable[[Path, str], Any],
    tmp_path: Path,
) -> None:
    dags = tmp_path / "dags"
    (dags / "policies").mkdir(parents=True)
    (dags / "policies" / "gate.yaml").write_text(
        "required: [{lineage_type: Action, type: Training}]\n"
    )
    (dags / "gate_dag.py").write_text(
        GATE_DAG.format(
            dag_id="gate_policy_relative",
            model=(tmp_path / "model.pkl").as_uri(),
            policy="policies/gate.yaml",
            reports=tmp_path / "reports",
        )
    )
    dr = run_dag(load_dag(dags / "gate_dag.py", "gate_policy_relative"))
    assert dr.get_task_instance("gate").state == "failed"  # the model has no lineage...
    report = _gate_report(tmp_path / "reports")  # ... but the policy was read and applied
    assert report["rules"][0]["rule"] == "model identified"
    assert "no artifact of a model type" in report["rules"][0]["detail"]


def _training_dag(
    dag_id: str, tmp_path: Path, *, declared: bool, extra_model: bool = False
) -> tuple[Any, str]:
    """A DAG whose model task records a model; declared as an output, or not at all."""
    import pendulum
    from airflow.sdk import DAG, BaseOperator

    from airflow_lineage.capture.lineage import DataRef, StepLineage
    from airflow_lineage.operators.gate import LineageGateOperator
    from airflow_lineage.operators.steps import Data, MLStepOperator

    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,0\n")
    model_uri = f"file://{tmp_path}/runs/{{{{ run_id }}}}/model.pkl"  # rendered per run

    class TrainInHouse(BaseOperator):
        """Describes its model only to capture (no outlets, not an ML step)."""

        def execute(self, context: Any) -> None:
            self._model = Path(str(tmp_path / "inhouse-model.pkl"))
            self._model.write_text("weights")

        def get_lineage_on_start(self, context: Any) -> StepLineage:
            return StepLineage(step_type="Training", inputs=(DataRef(data.as_uri()),))

        def get_lineage_on_complete(self, context: Any, result: Any) -> StepLineage:
            return StepLineage(
                step_type="Training", outputs=(DataRef(self._model.as_uri(), "Model"),)
            )

    with DAG(dag_id, start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:
        if declared:
            outputs = {"model": Data(model_uri, "Model")}
            if extra_model:
                outputs["scaler"] = Data((tmp_path / "scaler.json").as_uri(), "Model")

            def train(step: Any) -> None:
                for out in step.outputs.values():
                    out.path.write_text("weights")

            trained = MLStepOperator(
                task_id="train",
                python_callable=train,
                step_type="Training",
                inputs={"data": Data(data.as_uri())},
                outputs=outputs,
            )
        else:
            trained = TrainInHouse(task_id="train")
        gate = LineageGateOperator(
            task_id="gate",
            model_task_id="train",
            report_dir=str(tmp_path / "reports"),
            policy={"required": [{"lineage_type": "Action", "type": "Training"}]},
        )
        trained >> gate
    return dag, model_uri


@pytest.mark.parametrize("declared", [True, False], ids=["declared-output", "store-only"])
def test_the_gate_finds_the_model_without_capture_xcom(
    lineage_home: Path,
    run_dag: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    declared: bool,
) -> None:
    from .conftest import reset_lineage_settings

    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__PUSH_XCOM", "never")
    reset_lineage_settings()
    dag, _ = _training_dag(f"gate_finds_model_{declared}", tmp_path, declared=declared)
    dr = run_dag(dag)
    assert {ti.task_id: ti.state for ti in dr.get_task_instances()} == {
        "train": "success",
        "gate": "success",
    }
    assert dr.get_task_instance("train").xcom_pull(task_ids="train", key="lineage") is None
    report = _gate_report(tmp_path / "reports")
    assert report["verdict"] == "passed"
    with connect(f"sqlite:///{lineage_home / 'lineage.db'}") as store:
        model = store.get(report["model"])
    assert model.type == "Model"
    expected = f"/runs/{dr.run_id}/model.pkl" if declared else "/inhouse-model.pkl"
    assert model.source_uri.endswith(expected)


def test_several_declared_models_are_an_explained_rejection(
    lineage_home: Path, run_dag: Callable[..., Any], tmp_path: Path
) -> None:
    dag, _ = _training_dag("gate_two_models", tmp_path, declared=True, extra_model=True)
    dr = run_dag(dag)
    assert dr.get_task_instance("gate").state == "failed"
    detail = _gate_report(tmp_path / "reports")["rules"][0]["detail"]
    assert "declares 2 outputs of a model type" in detail and "scaler.json" in detail
    assert "model=" in detail


@pytest.mark.parametrize("declared", [True, False], ids=["declared-output", "nothing-declared"])
def test_with_capture_off_the_gate_says_so(
    lineage_home: Path,
    run_dag: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    declared: bool,
) -> None:
    from .conftest import reset_lineage_settings

    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__ENABLED", "False")
    reset_lineage_settings()
    dag, _ = _training_dag(f"gate_capture_off_{declared}", tmp_path, declared=declared)
    dr = run_dag(dag)
    assert dr.get_task_instance("gate").state == "failed"
    assert dr.get_task_instance("gate").try_number == 1
    rule = _gate_report(tmp_path / "reports")["rules"][0]
    assert rule["rule"] == "model identified"
    assert "lineage capture is off" in rule["detail"]
    if not declared:
        assert "name the model with model=" in rule["detail"]
