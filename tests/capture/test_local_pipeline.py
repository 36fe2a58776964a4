"""The local ML pipeline, run for real: every step's lineage is captured automatically."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import ActionStatus, LineageQuery, connect
from airflow_lineage.cli import main as cli

from .conftest import REPO, reset_lineage_settings
from .graph import captured, sha256_of

pytestmark = pytest.mark.slow

DAG_FILE = REPO / "dags" / "ml_pipeline_local.py"
TASKS = ["ingest", "prepare", "extract_features", "train", "evaluate", "register", "gate", "deploy"]
B = "file://BASE"
R = f"{B}/runs/RUN"  # what one run writes; only the raw data is shared (under B)
GATE_JSON = f"{B}/reports/gate/ml_pipeline_local/RUN/gate.json"
GATE_MD = f"{B}/reports/gate/ml_pipeline_local/RUN/gate.md"

EXPECTED_VERTICES = {
    ("Action", "DataIngestion", "task:ingest"),
    ("Action", "DataPreparation", "task:prepare"),
    ("Action", "FeatureExtraction", "task:extract_features"),
    ("Action", "Training", "task:train"),
    ("Action", "Evaluation", "task:evaluate"),
    ("Action", "Registration", "task:register"),
    ("Action", "Approval", "task:gate"),
    ("Action", "ModelDeployment", "task:deploy"),
    ("Artifact", "Report", GATE_JSON),
    ("Artifact", "Report", GATE_MD),
    ("Artifact", "DataSet", f"{B}/raw/iris.csv"),
    ("Artifact", "DataSet", f"{R}/prepared/train.csv"),
    ("Artifact", "DataSet", f"{R}/prepared/test.csv"),
    ("Artifact", "DataSet", f"{R}/features/train_features.csv"),
    ("Artifact", "Model", f"{R}/features/scaler.json"),
    ("Artifact", "Model", f"{R}/models/iris/model.pkl"),
    ("Artifact", "Report", f"{R}/reports/evaluation.json"),
    ("Artifact", "Model", f"{R}/registry/iris/1/model.pkl"),
    ("Context", "Endpoint", f"Endpoint:{B}/serving/iris-RUN"),
    ("Context", "Pipeline", "Pipeline:airflow://dags/ml_pipeline_local"),
}
DATA_EDGES = {
    ("task:ingest", f"{B}/raw/iris.csv", "Produced"),
    (f"{B}/raw/iris.csv", "task:prepare", "ContributedTo"),
    ("task:prepare", f"{R}/prepared/train.csv", "Produced"),
    ("task:prepare", f"{R}/prepared/test.csv", "Produced"),
    (f"{R}/prepared/train.csv", "task:extract_features", "ContributedTo"),
    ("task:extract_features", f"{R}/features/train_features.csv", "Produced"),
    ("task:extract_features", f"{R}/features/scaler.json", "Produced"),
    (f"{R}/features/train_features.csv", "task:train", "ContributedTo"),
    ("task:train", f"{R}/models/iris/model.pkl", "Produced"),
    (f"{R}/models/iris/model.pkl", "task:evaluate", "ContributedTo"),
    (f"{R}/features/scaler.json", "task:evaluate", "ContributedTo"),
    (f"{R}/prepared/test.csv", "task:evaluate", "ContributedTo"),
    ("task:evaluate", f"{R}/reports/evaluation.json", "Produced"),
    (f"{R}/models/iris/model.pkl", "task:register", "ContributedTo"),
    (f"{R}/reports/evaluation.json", "task:register", "ContributedTo"),
    ("task:register", f"{R}/registry/iris/1/model.pkl", "Produced"),
    (f"{R}/registry/iris/1/model.pkl", "task:gate", "ContributedTo"),
    ("task:gate", GATE_JSON, "Produced"),
    ("task:gate", GATE_MD, "Produced"),
    ("task:gate", "task:deploy", "AssociatedWith"),
    (f"{R}/registry/iris/1/model.pkl", "task:deploy", "ContributedTo"),
    (f"{R}/features/scaler.json", "task:deploy", "ContributedTo"),
    ("task:deploy", f"Endpoint:{B}/serving/iris-RUN", "AssociatedWith"),
}


def run_pipeline(load_dag: Callable[..., Any], run_dag: Callable[..., Any]) -> Any:
    dag = load_dag(DAG_FILE, "ml_pipeline_local")
    return run_dag(dag)


def _no_run_id(graph: dict[str, Any]) -> dict[str, Any]:
    """Replace the run id in the gate's report paths and task-run contexts with RUN."""

    def fix(key: str) -> str:
        return re.sub(r"(runs/|serving/iris-|reports/gate/ml_pipeline_local/)[^/]+", r"\1RUN", key)

    out = dict(graph)
    out["vertices"] = {(a, b, fix(c)) for a, b, c in graph["vertices"]}
    out["edges"] = {(fix(a), fix(b), c) for a, b, c in graph["edges"]}
    out["digests"] = {fix(k): v for k, v in graph["digests"].items()}
    return out


def task_run_context(task_id: str) -> str:
    """Return the key of the context that links the tries of one task run."""
    return f"TaskRun:airflow://dags/ml_pipeline_local/runs/RUN/tasks/{task_id}"


def structural_edges(run_key: str, tasks: list[str]) -> set[tuple[str, str, str]]:
    """Return the edges that place each try in its task run and DAG run."""
    return (
        {(f"task:{t}", run_key, "AssociatedWith") for t in tasks}
        | {(f"task:{t}", task_run_context(t), "AssociatedWith") for t in tasks}
        | {(run_key, "Pipeline:airflow://dags/ml_pipeline_local", "AssociatedWith")}
    )


def assert_expected_graph(graph: dict[str, Any]) -> None:
    """Check the exact graph a healthy run of the local pipeline records."""
    graph = _no_run_id(graph)
    runs = {v for v in graph["vertices"] if v[1] == "PipelineExecution"}
    assert len(runs) == 1
    (run,) = runs
    task_runs = {("Context", "TaskRun", task_run_context(t)) for t in TASKS}
    assert graph["vertices"] - runs == EXPECTED_VERTICES | task_runs
    run_key = run[2]
    structural = structural_edges(run_key, TASKS)
    assert graph["edges"] == DATA_EDGES | structural
    assert graph["statuses"] == {f"task:{t}": "Completed" for t in TASKS}


def test_pipeline_records_the_exact_graph(
    lineage_home: Path,
    load_dag: Callable[..., Any],
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__PUSH_XCOM", "always")
    reset_lineage_settings()
    dr = run_pipeline(load_dag, run_dag)
    assert dr.state == "success"
    graph = captured(f"sqlite:///{lineage_home / 'lineage.db'}", lineage_home / "ml")
    assert_expected_graph(graph)

    # Every artifact carries the sha256 of its content, and it is the content on disk.
    artifacts = [e for e in graph["entities"].values() if hasattr(e, "source_types")]
    assert len(artifacts) == 10
    for artifact in artifacts:
        digests = tuple(st.value for st in artifact.source_types)
        assert digests == (sha256_of(artifact.source_uri),), artifact.source_uri

    # Parameters, metrics and the step type are on the actions.
    actions = {
        e.properties.get("airflow:task_id"): e
        for e in graph["entities"].values()
        if hasattr(e, "status")
    }
    train, evaluate = actions["train"], actions["evaluate"]
    assert train.properties["param:max_depth"] == "3"
    assert train.properties["param:algorithm"] == "DecisionTreeClassifier"
    assert 0.9 <= float(train.properties["metric:train_accuracy"]) <= 1.0
    run_dir = lineage_home / "ml" / "runs" / dr.run_id
    report = json.loads((run_dir / "reports" / "evaluation.json").read_text())
    assert evaluate.properties["metric:accuracy"] == str(report["accuracy"])
    assert actions["prepare"].properties["metric:test_rows"] == "45"
    assert train.properties["airflow:dag_id"] == "ml_pipeline_local"

    # The ARNs each task recorded were pushed to XCom for downstream tasks.
    deploy_ti = dr.get_task_instance("deploy")
    pushed = deploy_ti.xcom_pull(task_ids="deploy", key="lineage")
    assert pushed["action"] == actions["deploy"].arn
    train_out = deploy_ti.xcom_pull(task_ids="train", key="lineage")["outputs"]
    assert [graph["entities"][arn].source_uri for arn in train_out] == [
        f"file://{run_dir}/models/iris/model.pkl"
    ]


def test_xcom_is_pushed_only_for_consumers_by_default(
    lineage_home: Path, run_dag: Callable[..., Any]
) -> None:
    import pendulum
    from airflow.sdk import DAG, BaseOperator, task

    class Gatekeeper(BaseOperator):
        consumes_lineage_xcom = True

        def execute(self, context: Any) -> Any:
            return context["ti"].xcom_pull(task_ids="before_gate", key="lineage")

    with DAG("lineage_xcom_auto", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:

        @task
        def plain() -> None: ...

        @task
        def before_gate() -> None: ...

        plain()
        before_gate() >> Gatekeeper(task_id="gate")

    dr = run_dag(dag)
    assert dr.state == "success"
    gate = dr.get_task_instance("gate")
    assert gate.xcom_pull(task_ids="gate")["action"].endswith(
        gate.xcom_pull(task_ids="before_gate", key="lineage")["action"].rsplit("/", 1)[1]
    )
    assert gate.xcom_pull(task_ids="plain", key="lineage") is None


def test_one_query_from_the_endpoint_reaches_the_raw_data(
    lineage_home: Path,
    load_dag: Callable[..., Any],
    run_dag: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    dr = run_pipeline(load_dag, run_dag)
    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    endpoint_uri = f"file://{lineage_home / 'ml'}/serving/iris-{dr.run_id}"
    with connect(url) as store:
        (endpoint,) = store.list_entities("Context", source_uri=endpoint_uri).items
        result = store.query(
            LineageQuery(start_arns=(endpoint.arn,), direction="Ascendants", include_edges=True)
        )
        reached = {store.get(v.arn).source_uri for v in result.vertices}
    assert f"file://{lineage_home / 'ml'}/raw/iris.csv" in reached
    assert len(result.vertices) == 17  # every step, every artifact, and the endpoint
    assert (
        cli(
            [
                "--store",
                url,
                "query",
                "--uri",
                endpoint_uri,
                "--direction",
                "ascendants",
                "--format",
                "tree",
            ]
        )
        == 0
    )
    tree = capsys.readouterr().out
    assert "raw/iris.csv (Artifact DataSet)" in tree and "(Action Training)" in tree


def test_a_failed_step_is_recorded_failed(
    lineage_home: Path, run_dag: Callable[..., Any], tmp_path: Path
) -> None:
    import pendulum
    from airflow.sdk import DAG

    from airflow_lineage.operators.steps import Data, ml_step

    source = tmp_path / "in.csv"
    source.write_text("a\n1\n")
    with DAG(
        "lineage_failing_step", start_date=pendulum.datetime(2026, 1, 1), schedule=None
    ) as dag:

        @ml_step(
            step_type="Training",
            inputs={"data": Data(source.as_uri())},
            outputs={"model": Data((tmp_path / "model.pkl").as_uri(), "Model")},
        )
        def train(step: Any) -> None:
            raise ValueError("the data has no label column")

        train()

    dr = run_dag(dag)
    assert dr.state == "failed"
    graph = captured(f"sqlite:///{lineage_home / 'lineage.db'}")
    assert graph["statuses"] == {"task:train": ActionStatus.FAILED.value}
    (action,) = [e for e in graph["entities"].values() if hasattr(e, "status")]
    assert action.properties["error"] == "ValueError: the data has no label column"
    # The input it read is recorded, with the digest taken before the step ran; no output.
    assert (source.as_uri(), "task:train", "ContributedTo") in graph["edges"]
    assert graph["digests"] == {source.as_uri(): (sha256_of(source.as_uri()),)}


def test_store_outage_keeps_every_record_for_replay(
    lineage_home: Path,
    load_dag: Callable[..., Any],
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing listens on port 9: the store is unreachable for the whole run.
    down = json.dumps(
        {"conn_type": "lineage", "extra": {"url": "postgresql+psycopg://postgres@127.0.0.1:9/none"}}
    )
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", down)
    reset_lineage_settings()
    dr = run_pipeline(load_dag, run_dag)
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    # Capture never breaks a task: every step succeeds. The gate cannot read the
    # lineage it must verify, so it fails closed and the deployment never runs.
    steps = TASKS[:-2]
    assert states == {
        **dict.fromkeys(steps, "success"),
        "gate": "failed",
        "deploy": "upstream_failed",
    }
    report = json.loads(
        next((lineage_home / "ml" / "reports" / "gate").rglob("gate.json")).read_text()
    )
    assert report["verdict"] == "rejected"
    assert "StoreError" in report["rules"][0]["detail"]
    outbox = lineage_home / "outbox"
    # One record for every try that ran, written when it ended (the gate's is its failure).
    assert len(list(outbox.glob("*.json"))) == len(steps) + 1

    healthy = f"sqlite:///{lineage_home / 'replayed.db'}"
    assert cli(["--store", healthy, "outbox", "replay"]) == 1  # no store there yet: kept
    assert len(list(outbox.glob("*.json"))) == len(steps) + 1
    assert cli(["--store", healthy, "db", "upgrade"]) == 0
    assert cli(["--store", healthy, "outbox", "replay"]) == 0
    assert list(outbox.glob("*.json")) == []
    for _ in range(2):  # replaying again changes nothing (idempotent, no duplicates)
        graph = _no_run_id(captured(healthy, lineage_home / "ml"))
        runs = {v for v in graph["vertices"] if v[1] == "PipelineExecution"}
        deployed = {"task:deploy", f"Endpoint:{B}/serving/iris-RUN"}
        ran = [*steps, "gate"]
        assert graph["vertices"] - runs == {
            v for v in EXPECTED_VERTICES if v[2] not in deployed
        } | {("Context", "TaskRun", task_run_context(t)) for t in ran}
        (run_key,) = {v[2] for v in runs}
        expected_edges = {
            e
            for e in DATA_EDGES
            if not {e[0], e[1]} & deployed and e[1] != "task:gate"  # the model was never read
        }
        expected_edges |= structural_edges(run_key, ran)
        assert graph["edges"] == expected_edges
        assert graph["statuses"] == {
            **{f"task:{t}": "Completed" for t in steps},
            "task:gate": "Failed",
        }
        assert cli(["--store", healthy, "outbox", "replay"]) == 0


def test_strict_mode_fails_the_task_when_lineage_cannot_be_recorded(
    lineage_home: Path,
    load_dag: Callable[..., Any],
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    down = json.dumps(
        {"conn_type": "lineage", "extra": {"url": "postgresql+psycopg://postgres@127.0.0.1:9/none"}}
    )
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", down)
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__STRICT", "True")
    reset_lineage_settings()
    dr = run_pipeline(load_dag, run_dag)
    assert dr.state == "failed"
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert states["ingest"] == "failed"
    # It failed before the step ran: nothing was ingested.
    assert not (lineage_home / "ml" / "raw" / "iris.csv").exists()
