"""The SageMaker extractors, on what the amazon provider's operators really return.

Every operator is executed for real (its own ``execute``, against moto), once per module;
each test then asserts the exact :class:`StepLineage` its extractor makes of the
operator's config (``on_start``) and of the return value (``on_complete``). The rest
checks that extractors never raise on missing, partial or ill-typed data.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_lineage.capture.extractors import Extractor, extractor_for
from airflow_lineage.capture.extractors import sagemaker as sm
from airflow_lineage.capture.lineage import ContextRef, DataRef, StepLineage
from airflow_lineage.model import SourceIdType, SourceType

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"  # tests/conftest.py sets AWS_DEFAULT_REGION
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
BUCKET = "ml-bucket"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerRole"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sklearn:1.2"

RAW = f"s3://{BUCKET}/raw/iris.csv"
CODE = f"s3://{BUCKET}/code/preprocess.py"
FEATURES = f"s3://{BUCKET}/features/"
VALIDATION = f"s3://{BUCKET}/validation/"
EVALUATION = f"s3://{BUCKET}/evaluation/"
MODEL_DATA = f"s3://{BUCKET}/models/iris-train/output/model.tar.gz"
BATCH_IN = f"s3://{BUCKET}/batch/in/"
BATCH_OUT = f"s3://{BUCKET}/batch/out/"

PACKAGE_ARN = f"{ARN}:model-package/iris-models/1"
MODEL_ARN = f"{ARN}:model/iris-model"  # the model is named "Iris-Model": ARNs are lower case
HYPERPARAMETERS = {"max_depth": "3", "n_estimators": "50"}
EVALUATION_REPORT = {"accuracy": 0.96, "per_class": {"setosa": 1.0, "label": "setosa"}, "ok": True}


def dataset(uri: str) -> DataRef:
    return DataRef(uri, "DataSet")


def model(uri: str) -> DataRef:
    return DataRef(uri, "Model")


def image(uri: str = IMAGE) -> DataRef:
    return DataRef(uri, "Image")


@dataclass
class Run:
    """One operator, what its extractor said before it ran, and what ``execute`` returned."""

    task: Any
    start: StepLineage
    result: Any

    def complete(self) -> StepLineage:
        extractor = extractor_for(self.task)
        assert extractor is not None
        return extractor.on_complete(self.task, {}, self.result)


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


_RESOURCES = {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5}


def _operators() -> dict[str, Any]:
    """Build one operator of each kind, configured as a user would."""
    from airflow.providers.amazon.aws.operators import sagemaker as ops

    common: dict[str, Any] = {"aws_conn_id": None}
    waiting: dict[str, Any] = {**common, "check_interval": 1}
    model_container = {"Image": IMAGE, "ModelDataUrl": MODEL_DATA}
    variant = {
        "VariantName": "AllTraffic",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    return {
        "processing": ops.SageMakerProcessingOperator(
            task_id="processing",
            **waiting,
            output_files_to_xcom=[
                {"output_name": "evaluation", "file_name": "metrics.json", "result_name": "Report"}
            ],
            config={
                "ProcessingJobName": "iris-prep",
                "ProcessingInputs": [
                    {
                        "InputName": name,
                        "S3Input": {
                            "S3Uri": uri,
                            "LocalPath": f"/opt/ml/processing/{name}",
                            "S3DataType": "S3Prefix",
                            "S3InputMode": "File",
                        },
                    }
                    for name, uri in (("raw", RAW), ("code", CODE))
                ],
                "ProcessingOutputConfig": {
                    "Outputs": [
                        {
                            "OutputName": name,
                            "S3Output": {
                                "S3Uri": uri,
                                "LocalPath": f"/opt/ml/processing/{name}",
                                "S3UploadMode": "EndOfJob",
                            },
                        }
                        for name, uri in (("train", FEATURES), ("evaluation", EVALUATION))
                    ]
                },
                "ProcessingResources": {"ClusterConfig": _RESOURCES},
                "AppSpecification": {"ImageUri": IMAGE},
                "RoleArn": ROLE,
            },
        ),
        "training": ops.SageMakerTrainingOperator(
            task_id="training",
            **waiting,
            print_log=False,
            config={
                "TrainingJobName": "iris-train",
                "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                "HyperParameters": HYPERPARAMETERS,
                "InputDataConfig": [
                    _channel("train", FEATURES),
                    _channel("validation", VALIDATION),
                ],
                "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
                "ResourceConfig": _RESOURCES,
                "RoleArn": ROLE,
                "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            },
        ),
        "tuning": ops.SageMakerTuningOperator(
            task_id="tuning",
            **waiting,
            config={
                "HyperParameterTuningJobName": "iris-tune",
                "HyperParameterTuningJobConfig": {
                    "Strategy": "Bayesian",
                    "HyperParameterTuningJobObjective": {
                        "Type": "Maximize",
                        "MetricName": "validation:accuracy",
                    },
                    "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
                    "ParameterRanges": {
                        "IntegerParameterRanges": [
                            {"Name": "max_depth", "MinValue": "2", "MaxValue": "5"}
                        ]
                    },
                },
                "TrainingJobDefinition": {
                    "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                    "StaticHyperParameters": {"n_estimators": "50"},
                    "InputDataConfig": [_channel("train", FEATURES)],
                    "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/tuning/"},
                    "ResourceConfig": _RESOURCES,
                    "RoleArn": ROLE,
                    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
                },
            },
        ),
        "register": ops.SageMakerRegisterModelVersionOperator(
            task_id="register",
            **common,
            image_uri=IMAGE,
            model_url=MODEL_DATA,
            package_group_name="iris-models",
        ),
        "model": ops.SageMakerModelOperator(
            task_id="model",
            **common,
            config={
                "ModelName": "Iris-Model",
                "PrimaryContainer": model_container,
                "ExecutionRoleArn": ROLE,
            },
        ),
        "model_from_package": ops.SageMakerModelOperator(
            task_id="model_from_package",
            **common,
            config={
                "ModelName": "iris-packaged",
                "PrimaryContainer": {"ModelPackageName": PACKAGE_ARN},
                "ExecutionRoleArn": ROLE,
            },
        ),
        "endpoint_config": ops.SageMakerEndpointConfigOperator(
            task_id="endpoint_config",
            **common,
            config={
                "EndpointConfigName": "iris-config",
                "ProductionVariants": [{**variant, "ModelName": "Iris-Model"}],
            },
        ),
        "endpoint": ops.SageMakerEndpointOperator(
            task_id="endpoint",
            **waiting,
            config={"EndpointName": "iris", "EndpointConfigName": "iris-config"},
        ),
        "endpoint_all_in_one": ops.SageMakerEndpointOperator(
            task_id="endpoint_all_in_one",
            **waiting,
            config={
                "Model": {
                    "ModelName": "iris-model-2",
                    "PrimaryContainer": model_container,
                    "ExecutionRoleArn": ROLE,
                },
                "EndpointConfig": {
                    "EndpointConfigName": "iris-config-2",
                    "ProductionVariants": [{**variant, "ModelName": "iris-model-2"}],
                },
                "Endpoint": {"EndpointName": "iris-2", "EndpointConfigName": "iris-config-2"},
            },
        ),
        "transform": ops.SageMakerTransformOperator(
            task_id="transform",
            **waiting,
            config={
                "TransformJobName": "iris-batch",
                "ModelName": "Iris-Model",
                "TransformInput": {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": BATCH_IN}},
                    "ContentType": "text/csv",
                },
                "TransformOutput": {"S3OutputPath": BATCH_OUT},
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            },
        ),
    }


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    """Execute every operator once against moto, in pipeline order."""
    import boto3
    from moto import mock_aws

    out: dict[str, Run] = {}
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for uri in (RAW, CODE, FEATURES + "part-0.csv", VALIDATION + "part-0.csv", BATCH_IN + "x"):
            s3.put_object(Bucket=BUCKET, Key=uri.removeprefix(f"s3://{BUCKET}/"), Body=b"1,2\n")
        # moto runs no containers: stand in for the report the evaluation would write.
        report = json.dumps(EVALUATION_REPORT).encode()
        s3.put_object(Bucket=BUCKET, Key="evaluation/metrics.json", Body=report)
        for name, task in _operators().items():
            extractor = extractor_for(task)
            assert extractor is not None, name
            start = extractor.on_start(task, {})
            out[name] = Run(task, start, task.execute({}))
    return out


# -- registration ------------------------------------------------------------------------------


def test_register_does_not_import_the_amazon_provider() -> None:
    code = (
        "import sys\n"
        "from airflow_lineage.capture import extractors\n"
        "from airflow_lineage.capture.extractors import sagemaker\n"
        "sagemaker.register()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('airflow.providers.amazon'))\n"
        "assert not loaded, loaded\n"
        "print('\\n'.join(sorted(extractors._registry)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == sorted(
        f"airflow.providers.amazon.aws.operators.sagemaker.{name}" for name in sm.EXTRACTORS
    )


def test_registered_paths_name_the_providers_operator_classes() -> None:
    module = importlib.import_module(sm.OPERATORS_MODULE)
    for name in sm.EXTRACTORS:
        cls = getattr(module, name)
        assert f"{cls.__module__}.{cls.__qualname__}" == f"{sm.OPERATORS_MODULE}.{name}"
    assert set(sm.EXTRACTORS) == {
        "SageMakerProcessingOperator",
        "SageMakerTrainingOperator",
        "SageMakerTransformOperator",
        "SageMakerTuningOperator",
        "SageMakerModelOperator",
        "SageMakerRegisterModelVersionOperator",
        "SageMakerEndpointConfigOperator",
        "SageMakerEndpointOperator",
    }


def test_extractor_for_each_operator_and_its_subclasses() -> None:
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator

    expected = {
        "processing": sm.ProcessingExtractor,
        "training": sm.TrainingExtractor,
        "tuning": sm.TuningExtractor,
        "register": sm.RegisterModelVersionExtractor,
        "model": sm.ModelExtractor,
        "model_from_package": sm.ModelExtractor,
        "endpoint_config": sm.EndpointConfigExtractor,
        "endpoint": sm.EndpointExtractor,
        "endpoint_all_in_one": sm.EndpointExtractor,
        "transform": sm.TransformExtractor,
    }
    for name, task in _operators().items():
        assert type(extractor_for(task)) is expected[name], name

    class MyTraining(SageMakerTrainingOperator):
        pass

    task = MyTraining(task_id="mine", config={})
    assert type(extractor_for(task)) is sm.TrainingExtractor


# -- each operator, as moto runs it ------------------------------------------------------------


def test_processing(runs: dict[str, Run]) -> None:
    run = runs["processing"]
    inputs = (dataset(RAW), DataRef(CODE, "Code"), image())
    assert run.start == StepLineage(
        step_type="ProcessingJob", source_type="SageMakerProcessingJob", inputs=inputs
    )
    assert run.complete() == StepLineage(
        step_type="ProcessingJob",
        source_type="SageMakerProcessingJob",
        source_uri=f"{ARN}:processing-job/iris-prep",
        source_id="iris-prep",
        inputs=inputs,
        outputs=(dataset(FEATURES), dataset(EVALUATION)),
        metrics={"Report.accuracy": "0.96", "Report.per_class.setosa": "1.0"},
    )


def test_training(runs: dict[str, Run]) -> None:
    run = runs["training"]
    inputs = (dataset(FEATURES), dataset(VALIDATION), image())
    assert run.start == StepLineage(
        step_type="TrainingJob",
        source_type="SageMakerTrainingJob",
        inputs=inputs,
        parameters=HYPERPARAMETERS,
    )
    assert run.result["Training"]["ModelArtifacts"]["S3ModelArtifacts"] == MODEL_DATA
    assert run.complete() == StepLineage(
        step_type="TrainingJob",
        source_type="SageMakerTrainingJob",
        source_uri=f"{ARN}:training-job/iris-train",
        source_id="iris-train",
        inputs=inputs,
        outputs=(model(MODEL_DATA),),
        parameters=HYPERPARAMETERS,
        metrics={"train:progress": "100.0"},  # moto's canned FinalMetricDataList
    )


def test_tuning(runs: dict[str, Run]) -> None:
    run = runs["tuning"]
    inputs = (dataset(FEATURES), image())
    assert run.start == StepLineage(
        step_type="HyperParameterTuningJob",
        source_type="SageMakerHyperParameterTuningJob",
        inputs=inputs,
    )
    # moto describes a canned best training job ("FakeTrainingJobName", ARN
    # "FakeTrainingJobArn", which is no ARN and so is left out).
    assert run.complete() == StepLineage(
        step_type="HyperParameterTuningJob",
        source_type="SageMakerHyperParameterTuningJob",
        source_uri=f"{ARN}:hyper-parameter-tuning-job/iris-tune",
        source_id="iris-tune",
        inputs=inputs,
        outputs=(model(f"s3://{BUCKET}/tuning/FakeTrainingJobName/output/model.tar.gz"),),
        parameters={"n_estimators": "50", "string": "TunedHyperParameters"},
        metrics={"Accuracy": "1.0"},
        properties={"BestTrainingJobName": "FakeTrainingJobName"},
    )


def test_register_model_version(runs: dict[str, Run]) -> None:
    run = runs["register"]
    assert run.result == PACKAGE_ARN
    inputs = (model(MODEL_DATA), image())
    assert run.start == StepLineage(
        step_type="Approval", source_type="SageMakerModelPackage", inputs=inputs
    )
    assert run.complete() == StepLineage(
        step_type="Approval",
        source_type="SageMakerModelPackage",
        source_uri=PACKAGE_ARN,
        source_id="iris-models/1",
        inputs=inputs,
        outputs=(model(PACKAGE_ARN),),
        contexts=(
            ContextRef(
                "iris-models-model-group", "ModelGroup", f"{ARN}:model-package-group/iris-models"
            ),
        ),
        properties={"ModelApprovalStatus": "PendingManualApproval", "ModelPackageVersion": "1"},
    )


def test_model(runs: dict[str, Run]) -> None:
    run = runs["model"]
    assert run.result["Model"]["ModelArn"] == f"{ARN}:model/Iris-Model"  # moto keeps the case
    inputs = (model(MODEL_DATA), image())
    assert run.start == StepLineage(
        step_type="CreateModel", source_type="SageMakerModel", inputs=inputs
    )
    assert run.complete() == StepLineage(
        step_type="CreateModel",
        source_type="SageMakerModel",
        source_uri=MODEL_ARN,
        source_id="Iris-Model",
        inputs=inputs,
        outputs=(model(MODEL_ARN),),
    )


def test_model_from_a_package(runs: dict[str, Run]) -> None:
    run = runs["model_from_package"]
    assert run.start == StepLineage(
        step_type="CreateModel", source_type="SageMakerModel", inputs=(model(PACKAGE_ARN),)
    )
    assert run.complete() == StepLineage(
        step_type="CreateModel",
        source_type="SageMakerModel",
        source_uri=f"{ARN}:model/iris-packaged",
        source_id="iris-packaged",
        inputs=(model(PACKAGE_ARN),),
        outputs=(model(f"{ARN}:model/iris-packaged"),),
    )


def test_endpoint_config(runs: dict[str, Run]) -> None:
    run = runs["endpoint_config"]
    assert run.start == StepLineage(
        step_type="CreateEndpointConfig", source_type="SageMakerEndpointConfig"
    )
    config_arn = f"{ARN}:endpoint-config/iris-config"
    assert run.complete() == StepLineage(
        step_type="CreateEndpointConfig",
        source_type="SageMakerEndpointConfig",
        source_uri=config_arn,
        source_id="iris-config",
        inputs=(model(MODEL_ARN),),  # the model *name* "Iris-Model", as its ARN
        outputs=(DataRef(config_arn, "EndpointConfig"),),
    )


def test_endpoint(runs: dict[str, Run]) -> None:
    run = runs["endpoint"]
    assert run.start == StepLineage(step_type="ModelDeployment", source_type="SageMakerEndpoint")
    endpoint_arn = f"{ARN}:endpoint/iris"
    assert run.complete() == StepLineage(
        step_type="ModelDeployment",
        source_type="SageMakerEndpoint",
        source_uri=endpoint_arn,
        source_id="iris",
        inputs=(DataRef(f"{ARN}:endpoint-config/iris-config", "EndpointConfig"), model(MODEL_ARN)),
        contexts=(ContextRef("iris-endpoint", "Endpoint", endpoint_arn),),
        properties={"EndpointConfigName": "iris-config", "EndpointStatus": "InService"},
    )


def test_endpoint_that_creates_its_model_and_config(runs: dict[str, Run]) -> None:
    run = runs["endpoint_all_in_one"]
    from_config = (model(MODEL_DATA), image())
    assert run.start == StepLineage(
        step_type="ModelDeployment", source_type="SageMakerEndpoint", inputs=from_config
    )
    endpoint_arn = f"{ARN}:endpoint/iris-2"
    assert run.complete() == StepLineage(
        step_type="ModelDeployment",
        source_type="SageMakerEndpoint",
        source_uri=endpoint_arn,
        source_id="iris-2",
        inputs=(
            DataRef(f"{ARN}:endpoint-config/iris-config-2", "EndpointConfig"),
            model(f"{ARN}:model/iris-model-2"),
            *from_config,
        ),
        contexts=(ContextRef("iris-2-endpoint", "Endpoint", endpoint_arn),),
        properties={"EndpointConfigName": "iris-config-2", "EndpointStatus": "InService"},
    )


def test_transform(runs: dict[str, Run]) -> None:
    run = runs["transform"]
    assert run.start == StepLineage(
        step_type="TransformJob", source_type="SageMakerTransformJob", inputs=(dataset(BATCH_IN),)
    )
    assert run.complete() == StepLineage(
        step_type="TransformJob",
        source_type="SageMakerTransformJob",
        source_uri=f"{ARN}:transform-job/iris-batch",
        source_id="iris-batch",
        inputs=(dataset(BATCH_IN), model(MODEL_ARN), model(MODEL_DATA), image()),
        outputs=(dataset(BATCH_OUT),),
    )


def test_results_survive_the_xcom_round_trip(runs: dict[str, Run]) -> None:
    """What a fallback reads back from XCom (JSON) gives the same lineage."""
    for name, run in runs.items():
        result = json.loads(json.dumps(run.result))
        extractor = extractor_for(run.task)
        assert extractor is not None
        assert extractor.on_complete(run.task, {}, result) == run.complete(), name


# -- what the operators do not say --------------------------------------------------------------


def test_package_container_digests_become_source_types() -> None:
    from airflow.providers.amazon.aws.operators.sagemaker import (
        SageMakerRegisterModelVersionOperator,
    )

    digest = "sha256:" + "a" * 64
    task = SageMakerRegisterModelVersionOperator(
        task_id="register",
        image_uri="ignored",
        model_url="ignored",
        package_group_name="g",
        extras={
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [
                    {"Image": IMAGE, "ImageDigest": digest, "ModelDataUrl": MODEL_DATA},
                    {"Image": IMAGE, "ModelDataUrl": MODEL_DATA, "ModelDataETag": "abc123"},
                ]
            },
        },
    )
    lineage = sm.RegisterModelVersionExtractor().on_complete(task, {}, f"{ARN}:model-package/g/7")
    assert lineage.inputs == (
        DataRef(MODEL_DATA, "Model", (SourceType(SourceIdType.S3_ETAG, "abc123"),)),
        DataRef(IMAGE, "Image", (SourceType(SourceIdType.CUSTOM, digest),)),
    )
    assert lineage.properties == {"ModelApprovalStatus": "Approved", "ModelPackageVersion": "7"}
    assert lineage.contexts == (
        ContextRef("g-model-group", "ModelGroup", f"{ARN}:model-package-group/g"),
    )


def test_a_bare_description_is_read_as_well_as_the_xcom_shape() -> None:
    job = {"TrainingJobName": "t", "TrainingJobArn": f"{ARN}:training-job/T"}
    bare = sm.TrainingExtractor().on_complete(None, {}, job)
    wrapped = sm.TrainingExtractor().on_complete(None, {}, {"Training": job})
    assert bare == wrapped
    assert bare.source_uri == f"{ARN}:training-job/t"


def test_partial_descriptions_give_partial_lineage() -> None:
    training = sm.TrainingExtractor()
    assert training.on_complete(
        None, {}, {"Training": {"TrainingJobName": "t", "ModelArtifacts": {}}}
    ) == (StepLineage(step_type="TrainingJob", source_type="SageMakerTrainingJob", source_id="t"))
    endpoint = sm.EndpointExtractor()
    # No EndpointConfig section: the config's ARN is derived from the endpoint's.
    assert endpoint.on_complete(
        None, {}, {"Endpoint": {"EndpointArn": f"{ARN}:endpoint/e", "EndpointConfigName": "c"}}
    ) == StepLineage(
        step_type="ModelDeployment",
        source_type="SageMakerEndpoint",
        source_uri=f"{ARN}:endpoint/e",
        inputs=(DataRef(f"{ARN}:endpoint-config/c", "EndpointConfig"),),
        contexts=(ContextRef("e-endpoint", "Endpoint", f"{ARN}:endpoint/e"),),
        properties={"EndpointConfigName": "c"},
    )
    # An endpoint name that cannot make a context name: no context, the rest stays.
    odd = sm.EndpointExtractor().on_complete(
        None, {}, {"Endpoint": {"EndpointArn": f"{ARN}:endpoint/" + "x" * 200}}
    )
    assert odd.contexts == ()
    assert odd.source_uri == f"{ARN}:endpoint/" + "x" * 200
    # A model package result that is not an ARN says nothing but the step type.
    register = sm.RegisterModelVersionExtractor()
    assert register.on_complete(None, {}, "not-an-arn") == StepLineage(
        step_type="Approval", source_type="SageMakerModelPackage"
    )


EXTRACTORS: list[Extractor] = [cls() for cls in sm.EXTRACTORS.values()]
ODD_RESULTS: list[Any] = [
    None,
    {},
    [],
    "",
    "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
    42,
    {"Processing": None, "Training": [], "Tuning": "x", "Model": 1, "Endpoint": {}},
    {"Transform": {"TransformInput": {"DataSource": None}}, "Model": {"Containers": [None, 1]}},
    {"EndpointConfig": {"ProductionVariants": [{"ModelName": None}, "x", {}]}},
    {"Training": {"InputDataConfig": [{"DataSource": {"S3DataSource": {"S3Uri": 7}}}]}},
    {"Training": {"FinalMetricDataList": [{"MetricName": "m", "Value": "high"}, None]}},
    {"Training": {"HyperParameters": {"a": None, 1: "b", "c": [1], "d": 1.5}}},
    {"Tuning": {"BestTrainingJob": {"TrainingJobName": "b"}, "TrainingJobDefinitions": [1]}},
    {"Processing": {"ProcessingInputs": [{"S3Input": {"S3Uri": " "}}]}, "OutputFiles": [1]},
]
ODD_TASKS: list[Any] = [
    None,
    object(),
    types.SimpleNamespace(config=None, extras=None, model_url=None, image_uri=None),
    types.SimpleNamespace(config=[1, 2], extras="x", model_url=3, image_uri=[], model_approval=4),
    types.SimpleNamespace(config={"Model": "x", "Transform": None, "PrimaryContainer": []}),
]


@pytest.mark.parametrize("extractor", EXTRACTORS, ids=lambda e: type(e).__name__)
def test_odd_input_gives_a_lineage_without_raising(extractor: Extractor) -> None:
    for task in ODD_TASKS:
        assert isinstance(extractor.on_start(task, {}), StepLineage)
        for result in ODD_RESULTS:
            lineage = extractor.on_complete(task, {}, result)
            assert isinstance(lineage, StepLineage)
            assert lineage.step_type  # the step type is always known


def test_nothing_to_say_is_the_step_type_alone() -> None:
    for extractor in EXTRACTORS:
        lineage = extractor.on_complete(None, {}, None)
        assert lineage == StepLineage(
            step_type=lineage.step_type, source_type=lineage.source_type
        ), type(extractor).__name__


# Keys the extractors read, so generated documents reach their code paths.
_KEYS = sorted(
    {
        "Processing", "Training", "Tuning", "Transform", "Model", "EndpointConfig", "Endpoint",
        "OutputFiles", "ProcessingInputs", "ProcessingOutputConfig", "Outputs", "S3Input",
        "S3Output", "S3Uri", "InputName", "AppSpecification", "ImageUri", "ProcessingJobArn",
        "ProcessingJobName", "InputDataConfig", "DataSource", "S3DataSource",
        "AlgorithmSpecification", "TrainingImage", "TrainingJobArn", "TrainingJobName",
        "ModelArtifacts", "S3ModelArtifacts", "HyperParameters", "FinalMetricDataList",
        "MetricName", "Value", "TrainingJobDefinition", "TrainingJobDefinitions",
        "DefinitionName", "BestTrainingJob", "TrainingJobDefinitionName", "OutputDataConfig",
        "S3OutputPath", "StaticHyperParameters", "TunedHyperParameters",
        "FinalHyperParameterTuningJobObjectiveMetric", "HyperParameterTuningJobArn",
        "HyperParameterTuningJobName", "TransformInput", "TransformOutput", "TransformJobArn",
        "TransformJobName", "ModelName", "ModelArn", "PrimaryContainer", "Containers",
        "ModelDataUrl", "ModelDataSource", "Image", "ImageDigest", "ModelDataETag",
        "ModelPackageName", "EndpointConfigArn", "EndpointConfigName", "ProductionVariants",
        "ShadowProductionVariants", "EndpointArn", "EndpointName", "EndpointStatus",
        "InferenceSpecification", "ModelApprovalStatus",
    }
)  # fmt: skip
_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["code", f"{ARN}:model/M", f"{ARN}:model-package/g/1", RAW, "s3://", "x" * 300]
    ),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    result=_JSON,
    config=_JSON,
    extras=_JSON,
    index=st.integers(min_value=0, max_value=len(EXTRACTORS) - 1),
)
def test_generated_documents_never_raise(result: Any, config: Any, extras: Any, index: int) -> None:
    task = types.SimpleNamespace(
        config=config, extras=extras, model_url=config, image_uri=result, model_approval=extras
    )
    extractor = EXTRACTORS[index]
    assert isinstance(extractor.on_start(task, {}), StepLineage)
    assert isinstance(extractor.on_complete(task, {}, result), StepLineage)


def _walk(value: object) -> Iterator[object]:
    yield value
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item)


def test_moto_descriptions_hold_only_json_values(runs: dict[str, Run]) -> None:
    """The operators serialise with ``default=repr``: datetimes arrive as repr strings."""
    training = runs["training"].result["Training"]
    assert training["CreationTime"].startswith("datetime.datetime(")
    for run in runs.values():
        for value in _walk(run.result):
            assert value is None or isinstance(value, str | int | float | bool | dict | list)
