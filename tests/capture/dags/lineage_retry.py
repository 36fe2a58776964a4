"""A training step that fails on its first try (input A is bad) and succeeds on its
second (input B), then a lineage gate on the model it produced.

The step picks its input from the try number, as a fixed re-run would. Run by
``tests/capture/test_tries.py`` with ``airflow dags test``; the data folder is
``$LINEAGE_RETRY_DIR``.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_lineage.operators.gate import LineageGateOperator
from airflow_lineage.operators.steps import Data, ml_step

DATA = Path(os.environ.get("LINEAGE_RETRY_DIR", "/tmp/lineage-retry"))
POLICY = {
    "required": [
        {"lineage_type": "Action", "type": "Training", "status": "Completed"},
        {"lineage_type": "Artifact", "type": "DataSet"},
    ],
    "forbidden": [{"lineage_type": "Action", "status": "Failed"}],
    "verify_digests": True,
}

with DAG(
    "lineage_retry",
    start_date=pendulum.datetime(2026, 1, 1),
    schedule=None,
    default_args={"retries": 1, "retry_delay": timedelta(0)},
) as dag:

    @ml_step(
        step_type="Training",
        inputs={
            "data": Data(DATA.as_uri() + "/input-{{ 'a' if ti.try_number == 1 else 'b' }}.csv")
        },
        outputs={"model": Data((DATA / "model.txt").as_uri(), "Model")},
    )
    def train(step):  # type: ignore[no-untyped-def]
        """Train on the chosen input; input A is unusable."""
        text = step.inputs["data"].path.read_text()
        if "bad" in text:
            raise ValueError(f"{step.inputs['data'].uri} is unusable")
        step.outputs["model"].path.write_text(f"model trained on {text}")

    gate = LineageGateOperator(
        task_id="gate", policy=POLICY, model_task_id="train", report_dir=str(DATA / "reports")
    )
    train() >> gate
