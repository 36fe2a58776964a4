"""One training step: an external data file and a learning rate from the run's conf."""

from __future__ import annotations

import json
import os
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_lineage.operators.steps import Data, MLStepOperator

BASE = os.environ["ML_PIPELINE_DIR"]


def train(step: Any) -> None:
    """Write a 'model' of the data rows and the learning rate."""
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
        inputs={"data": Data(f"file://{BASE}/external/data.csv")},
        outputs={"model": Data(f"file://{BASE}/runs/{{{{ run_id }}}}/model.json", "Model")},
        parameters={
            "learning_rate": "{{ dag_run.conf.get('learning_rate', 0.1) }}",
            "epochs": 5,
        },
    )
