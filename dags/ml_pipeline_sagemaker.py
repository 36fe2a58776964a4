"""End-to-end ML pipeline on Amazon SageMaker, with lineage captured automatically.

    upload_iris      @task + S3Hook: scikit-learn's iris data set, as CSV, to S3
    preprocess       SageMakerProcessingOperator: raw CSV → features prefix
    train            SageMakerTrainingOperator: features → model.tar.gz
    register_model   SageMakerRegisterModelVersionOperator: model.tar.gz → approved package
    create_model     SageMakerModelOperator: package → SageMaker model
    endpoint_config  SageMakerEndpointConfigOperator: model → endpoint config
    gate             LineageGateOperator: the model's provenance, checked against POLICY
    deploy           SageMakerEndpointOperator: endpoint config → endpoint

The model is created *from the registered package* (not from the raw model artifact), so
the approved package, and the approval, are ancestors of the deployed endpoint: the
lineage a deployment gate checks.

Nothing here records lineage: the airflow-lineage plugin captures every task, using the
S3Hook's hook-level lineage for the upload and the SageMaker extractors for the rest.

Runs against AWS as it is, or locally under moto (``mock_aws``) with ``aws_conn_id=None``
and fake credentials. moto runs no containers, so the processing job writes nothing: to
run under moto, put an object under ``FEATURES_URI`` first, standing in for the job's
output (the training operator checks that its input prefix exists). ``python
dags/ml_pipeline_sagemaker.py`` does that and runs the DAG once under moto.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointConfigOperator,
    SageMakerEndpointOperator,
    SageMakerModelOperator,
    SageMakerProcessingOperator,
    SageMakerRegisterModelVersionOperator,
    SageMakerTrainingOperator,
)
from airflow.providers.amazon.aws.utils.sagemaker import ApprovalStatus
from airflow.sdk import DAG, task

from airflow_lineage.operators.gate import LineageGateOperator

AWS_CONN_ID: str | None = None
"""None: boto3's default credential chain (environment, profile, instance role)."""

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
BUCKET = "airflow-lineage-iris"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecutionRole"
IMAGE_URI = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/sklearn-iris:1.0"

RAW_KEY = "iris/raw/iris.csv"
RAW_URI = f"s3://{BUCKET}/{RAW_KEY}"
FEATURES_URI = f"s3://{BUCKET}/iris/features/"
MODELS_URI = f"s3://{BUCKET}/iris/models/"

MODEL_PACKAGE_GROUP = "iris-classifier"
ENDPOINT_NAME = "iris-classifier"
"""The endpoint is long-lived: a later run updates it with its new endpoint config."""

CHECK_INTERVAL = 1
INSTANCE_TYPE = "ml.m5.large"

RUN_TAG = "{{ dag_run.run_after.strftime('%Y%m%d%H%M%S%f') }}"
"""Unique per run, so each run's jobs, model and endpoint config get their own names
(to the microsecond: runs triggered together in the same second must not share one)."""

HYPERPARAMETERS = {"n_estimators": "100", "max_depth": "3", "random_state": "42"}


# Relative to this file's folder; the policy says what is verified and what is exempted.
POLICY = "policies/ml_pipeline_sagemaker.yaml"

with DAG(
    dag_id="ml_pipeline_sagemaker",
    description="Iris classifier: S3 upload, SageMaker processing, training, registry, endpoint",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["ml", "sagemaker", "lineage"],
) as dag:

    @task
    def upload_iris() -> str:
        """Upload scikit-learn's bundled iris data set to S3 as CSV; return its URI."""
        from sklearn.datasets import load_iris

        iris = load_iris()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([*iris.feature_names, "species"])
        for features, target in zip(iris.data, iris.target, strict=True):
            writer.writerow([*(f"{x:g}" for x in features), iris.target_names[target]])

        hook = S3Hook(aws_conn_id=AWS_CONN_ID)
        if not hook.check_for_bucket(BUCKET):
            hook.create_bucket(bucket_name=BUCKET)
        hook.load_string(buffer.getvalue(), key=RAW_KEY, bucket_name=BUCKET, replace=True)
        return RAW_URI

    preprocess = SageMakerProcessingOperator(
        task_id="preprocess",
        aws_conn_id=AWS_CONN_ID,
        check_interval=CHECK_INTERVAL,
        config={
            "ProcessingJobName": f"iris-preprocess-{RUN_TAG}",
            "ProcessingInputs": [
                {
                    "InputName": "raw",
                    "S3Input": {
                        "S3Uri": RAW_URI,
                        "LocalPath": "/opt/ml/processing/input",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "features",
                        "S3Output": {
                            "S3Uri": FEATURES_URI,
                            "LocalPath": "/opt/ml/processing/features",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": INSTANCE_TYPE,
                    "VolumeSizeInGB": 5,
                }
            },
            "AppSpecification": {
                "ImageUri": IMAGE_URI,
                "ContainerEntrypoint": ["python3", "/opt/ml/code/preprocess.py"],
            },
            "RoleArn": ROLE_ARN,
            "StoppingCondition": {"MaxRuntimeInSeconds": 900},
        },
    )

    train = SageMakerTrainingOperator(
        task_id="train",
        aws_conn_id=AWS_CONN_ID,
        check_interval=CHECK_INTERVAL,
        print_log=False,
        config={
            "TrainingJobName": f"iris-train-{RUN_TAG}",
            "AlgorithmSpecification": {"TrainingImage": IMAGE_URI, "TrainingInputMode": "File"},
            "HyperParameters": HYPERPARAMETERS,
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": FEATURES_URI,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "ContentType": "text/csv",
                }
            ],
            "OutputDataConfig": {"S3OutputPath": MODELS_URI},
            "ResourceConfig": {
                "InstanceCount": 1,
                "InstanceType": INSTANCE_TYPE,
                "VolumeSizeInGB": 5,
            },
            "RoleArn": ROLE_ARN,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    )

    register_model = SageMakerRegisterModelVersionOperator(
        task_id="register_model",
        aws_conn_id=AWS_CONN_ID,
        image_uri=IMAGE_URI,
        model_url=(
            "{{ ti.xcom_pull(task_ids='train')['Training']['ModelArtifacts']['S3ModelArtifacts'] }}"
        ),
        package_group_name=MODEL_PACKAGE_GROUP,
        package_group_desc="Iris species classifiers",
        package_desc="Random forest on the iris data set",
        model_approval=ApprovalStatus.APPROVED,
    )

    create_model = SageMakerModelOperator(
        task_id="create_model",
        aws_conn_id=AWS_CONN_ID,
        config={
            "ModelName": f"iris-model-{RUN_TAG}",
            "PrimaryContainer": {
                "ModelPackageName": "{{ ti.xcom_pull(task_ids='register_model') }}",
            },
            "ExecutionRoleArn": ROLE_ARN,
        },
    )

    endpoint_config = SageMakerEndpointConfigOperator(
        task_id="endpoint_config",
        aws_conn_id=AWS_CONN_ID,
        config={
            "EndpointConfigName": f"iris-config-{RUN_TAG}",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": (
                        "{{ ti.xcom_pull(task_ids='create_model')['Model']['ModelName'] }}"
                    ),
                    "InitialInstanceCount": 1,
                    "InstanceType": INSTANCE_TYPE,
                }
            ],
        },
    )

    # Deploy only a model that was trained on processed data and approved in the registry.
    gate = LineageGateOperator(
        task_id="gate",
        model_task_id="create_model",
        policy=POLICY,
    )

    deploy = SageMakerEndpointOperator(
        task_id="deploy",
        aws_conn_id=AWS_CONN_ID,
        check_interval=CHECK_INTERVAL,
        config={
            "EndpointName": ENDPOINT_NAME,
            "EndpointConfigName": (
                "{{ ti.xcom_pull(task_ids='endpoint_config')['EndpointConfig']"
                "['EndpointConfigName'] }}"
            ),
        },
    )

    (
        upload_iris()
        >> preprocess
        >> train
        >> register_model
        >> create_model
        >> endpoint_config
        >> gate
        >> deploy
    )


if __name__ == "__main__":
    # A local demo under moto (a test dependency): stand in for the processing job's
    # output, then run the DAG once. Needs an initialised Airflow DB and this file in the
    # DAGs folder, e.g. AIRFLOW__CORE__DAGS_FOLDER=dags airflow db migrate.
    import os

    import boto3
    from moto import mock_aws

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        features_key = FEATURES_URI.removeprefix(f"s3://{BUCKET}/") + "train.csv"
        s3.put_object(Bucket=BUCKET, Key=features_key, Body=b"sepal_length,species\n5.1,setosa\n")
        run = dag.test()
        print(f"{dag.dag_id}: {run.state}")
