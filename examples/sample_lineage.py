"""Build a sample ML lineage graph in the embedded store and show it end to end.

raw data -> data preparation -> features -> training -> model -> approval
-> deployment -> endpoint, with a second model trained on the same features, then one
query from the endpoint walks all the way back to the raw data.

Run: ``python examples/sample_lineage.py [STORE_URL]``.
"""

from __future__ import annotations

import sys

from airflow_lineage import Action, Artifact, Association, Context, LineageQuery, connect
from airflow_lineage.cli import main as cli


def build(url: str | None) -> str:
    """Record the sample graph (idempotent) and return the endpoint context's ARN."""
    raw = Artifact.new(
        "s3://ml-demo/raw/iris.csv", "DataSet", source_types=[("Custom", "sha256:0f1e")]
    )
    prep = Action.new(
        "iris-prep-run-1", "DataPreparation", "airflow://ml_pipeline/prep", status="Completed"
    )
    features = Artifact.new("s3://ml-demo/features/iris.parquet", "DataSet")
    image = Artifact.new("ecr://sklearn:1.5", "Image")
    train = Action.new(
        "iris-train-run-1",
        "Training",
        "airflow://ml_pipeline/train",
        status="Completed",
        properties={"max_depth": "3"},
    )
    model = Artifact.new(
        "s3://ml-demo/models/iris/model.pkl", "Model", properties={"accuracy": "0.97"}
    )
    train2 = Action.new(
        "iris-train-run-2", "Training", "airflow://ml_pipeline/train", status="Completed"
    )
    model2 = Artifact.new("s3://ml-demo/models/iris/model-v2.pkl", "Model")
    approval = Action.new(
        "iris-approval-run-1", "Approval", "airflow://ml_pipeline/gate", status="Completed"
    )
    deploy = Action.new(
        "iris-deploy-run-1", "ModelDeployment", "file://serving/iris", status="Completed"
    )
    endpoint = Context.new("iris-endpoint", "Endpoint", "file://serving/iris")
    edges = [
        (raw, prep, "ContributedTo"),
        (prep, features, "Produced"),
        (features, train, "ContributedTo"),
        (image, train, "ContributedTo"),
        (train, model, "Produced"),
        (features, train2, "ContributedTo"),
        (train2, model2, "Produced"),
        (model, approval, "ContributedTo"),
        (approval, deploy, "AssociatedWith"),
        (model, deploy, "ContributedTo"),
        (deploy, endpoint, "AssociatedWith"),
    ]
    with connect(url) as store:
        store.write(
            [raw, prep, features, image, train, model, train2, model2, approval, deploy, endpoint],
            [Association(s.arn, d.arn, kind) for s, d, kind in edges],  # type: ignore[arg-type]
        )
        result = store.query(LineageQuery(start_arns=(endpoint.arn,), direction="Ascendants"))
        print(f"Stored {len(result.vertices) + 1} entities upstream of the endpoint in {store!r}\n")
    return endpoint.arn


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else None
    endpoint_arn = build(url)
    store_args = ["--store", url] if url else []
    print("The endpoint's whole lineage, raw data to endpoint, in one query:\n")
    sys.exit(
        cli([*store_args, "query", endpoint_arn, "--direction", "ascendants", "--format", "tree"])
    )
