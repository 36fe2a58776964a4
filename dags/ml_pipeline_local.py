"""An end-to-end ML pipeline that runs on one machine, with no cloud.

ingest → prepare → extract features → train → evaluate → register → gate → deploy

It uses scikit-learn's bundled copy of the classic iris data set, trains a decision
tree, evaluates it on a held-out split, registers it in a local model registry folder
and deploys it to a local serving folder that stands in for an endpoint. Every step's
lineage is captured automatically: the DAG has no bookkeeping code, each step only names
what it reads and writes. Before deployment, a lineage gate checks the registered
model's provenance against ``policies/ml_pipeline_local.yaml`` (completed training and
evaluation, accuracy, content digests re-verified) and stops the deployment if it fails.

Files go under ``$ML_PIPELINE_DIR`` (default ``$AIRFLOW_HOME/ml_pipeline_local``). Runs
may go in parallel: everything a run writes is under ``runs/<run_id>/`` and it deploys to
an endpoint of its own, ``serving/iris-<run_id>``; only the raw data set, the same for
every run, is shared (``raw/iris.csv``, replaced atomically).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pendulum
from airflow.sdk import DAG, chain

from airflow_lineage.operators.gate import LineageGateOperator
from airflow_lineage.operators.steps import Data, MLStepOperator, ml_step

BASE = Path(
    os.environ.get("ML_PIPELINE_DIR")
    or Path(os.environ.get("AIRFLOW_HOME", "~/airflow")).expanduser() / "ml_pipeline_local"
)
RUN = f"{BASE}/runs/{{{{ run_id }}}}"
"""One run's folder (templated; Airflow's run ids are safe as a path component)."""
RAW = Data(f"file://{BASE}/raw/iris.csv")
TRAIN_SPLIT = Data(f"file://{RUN}/prepared/train.csv")
TEST_SPLIT = Data(f"file://{RUN}/prepared/test.csv")
FEATURES = Data(f"file://{RUN}/features/train_features.csv")
SCALER = Data(f"file://{RUN}/features/scaler.json", "Model")
MODEL = Data(f"file://{RUN}/models/iris/model.pkl", "Model")
REPORT = Data(f"file://{RUN}/reports/evaluation.json", "Report")
REGISTERED = Data(f"file://{RUN}/registry/iris/1/model.pkl", "Model")
ENDPOINT = f"file://{BASE}/serving/iris-{{{{ run_id }}}}"
"""Each run deploys to an endpoint of its own: a shared one would join every run's graph."""
POLICY = Path(__file__).parent / "policies" / "ml_pipeline_local.yaml"


def _read_csv(path: Path) -> tuple[list[list[float]], list[int]]:
    rows = [line.split(",") for line in path.read_text().splitlines()[1:]]
    return [[float(v) for v in r[:-1]] for r in rows], [int(r[-1]) for r in rows]


def _write_csv(path: Path, header: list[str], xs: list[list[float]], ys: list[int]) -> None:
    lines = [",".join(header)] + [
        ",".join(f"{v:.6f}" for v in x) + f",{y}" for x, y in zip(xs, ys, strict=True)
    ]
    # Write aside, then rename: a parallel run reading (and hashing) the shared raw data
    # sees the old file or the new one, never a truncated one.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, path)


with DAG(
    dag_id="ml_pipeline_local",
    description="Iris: ingest, prepare, featurise, train, evaluate, register, deploy.",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    tags=["ml", "lineage"],
) as dag:

    @ml_step(step_type="DataIngestion", outputs={"raw": RAW})
    def ingest(step):
        """Copy the iris data set that scikit-learn ships into the raw zone."""
        from sklearn.datasets import load_iris

        iris = load_iris()
        header = [n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names] + ["label"]
        _write_csv(step.outputs["raw"].path, header, iris.data.tolist(), iris.target.tolist())

    @ml_step(
        step_type="DataPreparation",
        inputs={"raw": RAW},
        outputs={"train": TRAIN_SPLIT, "test": TEST_SPLIT},
        parameters={"test_size": 0.3, "seed": 7},
    )
    def prepare(step):
        """Drop incomplete rows and split into train and test sets, stratified."""
        from sklearn.model_selection import train_test_split

        xs, ys = _read_csv(step.inputs["raw"].path)
        header = step.inputs["raw"].path.read_text().splitlines()[0].split(",")
        p = step.parameters
        x_tr, x_te, y_tr, y_te = train_test_split(
            xs, ys, test_size=float(p["test_size"]), random_state=int(p["seed"]), stratify=ys
        )
        _write_csv(step.outputs["train"].path, header, x_tr, y_tr)
        _write_csv(step.outputs["test"].path, header, x_te, y_te)
        step.log_metric("train_rows", len(y_tr))
        step.log_metric("test_rows", len(y_te))

    @ml_step(
        step_type="FeatureExtraction",
        inputs={"train": TRAIN_SPLIT},
        outputs={"features": FEATURES, "scaler": SCALER},
    )
    def extract_features(step):
        """Standardise the training features; keep the scaler for serving."""
        from sklearn.preprocessing import StandardScaler

        xs, ys = _read_csv(step.inputs["train"].path)
        scaler = StandardScaler().fit(xs)
        header = step.inputs["train"].path.read_text().splitlines()[0].split(",")
        _write_csv(step.outputs["features"].path, header, scaler.transform(xs).tolist(), ys)
        step.outputs["scaler"].path.write_text(
            json.dumps({"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()})
        )

    @ml_step(
        step_type="Training",
        inputs={"features": FEATURES},
        outputs={"model": MODEL},
        parameters={"algorithm": "DecisionTreeClassifier", "max_depth": 3, "seed": 7},
    )
    def train(step):
        """Fit a decision tree on the standardised features."""
        from sklearn.tree import DecisionTreeClassifier

        xs, ys = _read_csv(step.inputs["features"].path)
        p = step.parameters
        model = DecisionTreeClassifier(max_depth=int(p["max_depth"]), random_state=int(p["seed"]))
        model.fit(xs, ys)
        step.log_metric("train_accuracy", round(float(model.score(xs, ys)), 4))
        step.outputs["model"].path.write_bytes(pickle.dumps(model))

    @ml_step(
        step_type="Evaluation",
        inputs={"model": MODEL, "scaler": SCALER, "test": TEST_SPLIT},
        outputs={"report": REPORT},
    )
    def evaluate(step):
        """Score the model on the held-out test set."""
        from sklearn.metrics import accuracy_score, f1_score

        model = pickle.loads(step.inputs["model"].path.read_bytes())
        scaler = json.loads(step.inputs["scaler"].path.read_text())
        xs, ys = _read_csv(step.inputs["test"].path)
        scaled = [
            [(v - m) / s for v, m, s in zip(x, scaler["mean"], scaler["scale"], strict=True)]
            for x in xs
        ]
        predicted = model.predict(scaled).tolist()
        report = {
            "accuracy": round(accuracy_score(ys, predicted), 4),
            "f1_macro": round(f1_score(ys, predicted, average="macro"), 4),
            "test_rows": len(ys),
        }
        step.outputs["report"].path.write_text(json.dumps(report, indent=2))
        step.log_metric("accuracy", report["accuracy"])
        step.log_metric("f1_macro", report["f1_macro"])

    @ml_step(
        step_type="Registration",
        inputs={"model": MODEL, "report": REPORT},
        outputs={"registered": REGISTERED},
        parameters={"model_group": "iris-classifier", "version": 1},
    )
    def register(step):
        """Copy the evaluated model into the local model registry as version 1."""
        shutil.copyfile(step.inputs["model"].path, step.outputs["registered"].path)

    @ml_step(
        step_type="ModelDeployment",
        inputs={"model": REGISTERED, "scaler": SCALER},
        endpoint=ENDPOINT,
    )
    def deploy(step, endpoint):
        """Install the registered model and its scaler in the run's serving folder."""
        serving = Path(endpoint.removeprefix("file://"))
        serving.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(step.inputs["model"].path, serving / "model.pkl")
        shutil.copyfile(step.inputs["scaler"].path, serving / "scaler.json")

    gate = LineageGateOperator(
        task_id="gate",
        policy=POLICY,
        model_task_id="register",
        report_dir=str(BASE / "reports" / "gate"),
    )

    tasks = [
        ingest(),
        prepare(),
        extract_features(),
        train(),
        evaluate(),
        register(),
        gate,
        deploy(endpoint=ENDPOINT),
    ]
    # @ml_step's operator does not template its inputs, outputs and endpoint yet (its
    # class takes the decorator's template_fields); the run-scoped paths need them.
    for step_task in dag.tasks:
        if isinstance(step_task, MLStepOperator):
            step_task.template_fields = MLStepOperator.template_fields
    chain(*tasks)


if __name__ == "__main__":
    dag.test()
