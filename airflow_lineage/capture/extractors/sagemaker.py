"""Extractors for the amazon provider's SageMaker operators.

Each extractor reads what the operator knows before it runs (``on_start``: its config,
so the inputs and the image) and what ``execute`` returned (``on_complete``: the
``describe_*`` dicts the operators push to XCom, carrying ARNs, S3 URIs, the image,
hyperparameters and final metrics), and describes the step as a :class:`StepLineage`.

=================================  ========================  ============================
operator                           step_type (ActionType)    source_uri / source_type
=================================  ========================  ============================
SageMakerProcessingOperator        ProcessingJob             job ARN / SageMakerProcessingJob
SageMakerTrainingOperator          TrainingJob               job ARN / SageMakerTrainingJob
SageMakerTransformOperator         TransformJob              job ARN / SageMakerTransformJob
SageMakerTuningOperator            HyperParameterTuningJob   job ARN / SageMaker...TuningJob
SageMakerModelOperator             CreateModel               model ARN / SageMakerModel
SageMakerRegisterModelVersion...   Approval                  package ARN / SageMakerModelPackage
SageMakerEndpointConfigOperator    CreateEndpointConfig      config ARN / SageMakerEndpointConfig
SageMakerEndpointOperator          ModelDeployment           endpoint ARN / SageMakerEndpoint
=================================  ========================  ============================

The types follow SageMaker's own QueryLineage types where it has one (``ProcessingJob``,
``TrainingJob``, ``TransformJob``, ``ModelDeployment``, ``Approval``); artifacts are
``DataSet`` (S3 data), ``Code`` (a processing input named ``code``), ``Image`` (a
container image URI), ``Model`` (a model artifact in S3, a SageMaker model's ARN, or a
model package's ARN, as SageMaker's auto-created lineage types packages) and
``EndpointConfig``. A deployment is associated with an ``Endpoint`` context, a model
package with a ``ModelGroup`` context.

SageMaker writes resource names in its ARNs in lower case; the ARNs recorded here are
normalised the same way, so the model ARN one step produces is the model ARN a later
step (which only knows the model's *name*) reads, under moto too.

Extractors never call AWS themselves: capture digests the S3 objects they name (ETag,
and VersionId in a versioned bucket, through the operator's ``aws_conn_id``), the
inputs of ``on_start`` before the job runs and the outputs after it. They never raise
on a missing or unexpected key or value type: every read goes through total helpers
that return ``None`` or an empty value, so a partial description yields a partial
lineage. There is deliberately no catch-all
``except``: a genuine bug surfaces to the capture code, which logs it (and fails the
task in strict mode) instead of hiding it here.

Registration is by dotted class path, so nothing imports the amazon provider (an
optional dependency) until a task actually uses one of its operators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from airflow_lineage.capture.extractors import Extractor, register_extractor
from airflow_lineage.capture.lineage import ContextRef, DataRef, StepLineage
from airflow_lineage.model import SourceIdType, SourceType

__all__ = [
    "EndpointConfigExtractor",
    "EndpointExtractor",
    "ModelExtractor",
    "ProcessingExtractor",
    "RegisterModelVersionExtractor",
    "TrainingExtractor",
    "TransformExtractor",
    "TuningExtractor",
    "register",
]

OPERATORS_MODULE: Final = "airflow.providers.amazon.aws.operators.sagemaker"

DATASET: Final = "DataSet"
CODE: Final = "Code"
IMAGE: Final = "Image"
MODEL: Final = "Model"
ENDPOINT_CONFIG: Final = "EndpointConfig"

ENDPOINT_CONTEXT: Final = "Endpoint"
MODEL_GROUP_CONTEXT: Final = "ModelGroup"

_MAX_URI = 2048  # SageMaker's SourceUri limit
_MAX_FILE_METRICS = 20  # numeric leaves taken from a processing job's output files

_ARN_RE: Final = re.compile(
    r"arn:(?P<partition>aws[a-z\-]*):sagemaker:(?P<region>[a-z0-9\-]+):(?P<account>[0-9]{12}):"
    r"(?P<resource>[a-z\-]+)/(?P<id>\S+)"
)


# -- total readers: never raise on the shape of the data -----------------------------------------


def _get(obj: object, *path: str) -> Any:
    """Return ``obj[path[0]][path[1]]...``, or None where a key is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _str(value: object) -> str | None:
    """Return ``value`` if it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _items(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _attr(task: object, name: str) -> Any:
    """Return an operator attribute, or None (a task may be anything, even None)."""
    try:
        return getattr(task, name, None)
    except Exception:  # a property that fails is an absent attribute to us
        return None


def _config(task: object) -> Mapping[str, Any]:
    return _mapping(_attr(task, "config"))


def _scalar(value: object) -> str | None:
    """Return a scalar as the string a property holds; None for None, containers, objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _scalars(values: object) -> dict[str, str]:
    """Return the string-keyed scalar entries of a mapping, as strings."""
    out = {}
    for key, value in _mapping(values).items():
        text = _scalar(value)
        if isinstance(key, str) and key and text is not None:
            out[key] = text
    return out


def _number(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return str(value)


def _section(result: object, key: str, marker: str) -> Mapping[str, Any]:
    """Return ``result[key]`` (the operators' XCom shape), or ``result`` itself when it
    already is the description (it carries ``marker``)."""
    inner = _get(result, key)
    if isinstance(inner, Mapping):
        return inner
    if isinstance(result, Mapping) and marker in result:
        return result
    return {}


# -- ARNs ------------------------------------------------------------------------------------------


def _arn(value: object) -> str | None:
    """Return a SageMaker ARN with its resource id in lower case, as SageMaker writes it."""
    text = _str(value)
    if text is None:
        return None
    m = _ARN_RE.fullmatch(text)
    if m is None:
        return None
    return (
        f"arn:{m['partition']}:sagemaker:{m['region']}:{m['account']}:"
        f"{m['resource']}/{m['id'].lower()}"
    )


def _sibling_arn(arn: object, resource: str, name: object) -> str | None:
    """Return the ARN of the ``resource`` called ``name`` in the account and region of ``arn``."""
    text, resource_name = _arn(arn), _str(name)
    if text is None or resource_name is None:
        return None
    if _ARN_RE.fullmatch(resource_name):  # already an ARN
        return _arn(resource_name)
    m = _ARN_RE.fullmatch(text)
    assert m is not None  # _arn() returned it
    return _arn(
        f"arn:{m['partition']}:sagemaker:{m['region']}:{m['account']}:{resource}/{resource_name}"
    )


def _arn_id(arn: str | None) -> str | None:
    """Return the resource id of a SageMaker ARN (the part after the first ``/``)."""
    if arn is None:
        return None
    m = _ARN_RE.fullmatch(arn)
    return None if m is None else m["id"]


# -- building refs ------------------------------------------------------------------------------


def _ref(uri: object, artifact_type: str, digests: Iterable[SourceType] = ()) -> DataRef | None:
    """Return a data ref for a non-blank URI within SageMaker's SourceUri limit, else None."""
    text = _str(uri)
    text = text.strip() if text is not None else None
    if not text or len(text) > _MAX_URI:
        return None
    return DataRef(text, artifact_type, tuple(digests))


def _refs(candidates: Iterable[DataRef | None]) -> tuple[DataRef, ...]:
    """Drop the Nones and repeated (uri, type) keys, keeping the first (or one with digests)."""
    out: dict[tuple[str, str], DataRef] = {}
    for ref in candidates:
        if ref is None:
            continue
        known = out.get(ref.key)
        if known is None or (ref.digests and not known.digests):
            out[ref.key] = ref
    return tuple(out.values())


def _digest(id_type: SourceIdType, value: object) -> list[SourceType]:
    """Return a content identifier if ``value`` is one SageMaker's SourceTypes accept."""
    text = _str(value)
    if text is None or len(text) > 256:
        return []
    return [SourceType(id_type, text)]


def _container_refs(container: object, package_arn_base: object = None) -> Iterator[DataRef | None]:
    """Yield the model data, image and model package a container definition names.

    Reads ``ContainerDefinition`` (create/describe_model) and
    ``ModelPackageContainerDefinition`` (create_model_package) members. The latter may
    carry ``ModelDataETag`` and ``ImageDigest``, which become the artifacts' digests.
    """
    if not isinstance(container, Mapping):
        return
    etag = _digest(SourceIdType.S3_ETAG, container.get("ModelDataETag"))
    yield _ref(container.get("ModelDataUrl"), MODEL, etag)
    yield _ref(_get(container, "ModelDataSource", "S3DataSource", "S3Uri"), MODEL, etag)
    yield _ref(
        container.get("Image"), IMAGE, _digest(SourceIdType.CUSTOM, container.get("ImageDigest"))
    )
    package = _str(container.get("ModelPackageName"))
    if package is not None:
        yield _ref(_arn(package) or _sibling_arn(package_arn_base, "model-package", package), MODEL)


def _model_containers(description: Mapping[str, Any]) -> list[Any]:
    """Return the containers of a model config or describe_model output."""
    return [description.get("PrimaryContainer"), *_items(description.get("Containers"))]


def _context_name(base: str | None, suffix: str) -> str | None:
    """Return ``{base}-{suffix}`` if it is a valid ContextName, else None."""
    if base is None:
        return None
    from airflow_lineage.apispec import check_string

    name = f"{base}-{suffix}"
    try:
        check_string("ContextName", name, "ContextName")
    except (TypeError, ValueError):
        return None
    return name


def _lineage(**fields: Any) -> StepLineage:
    """Build a StepLineage, leaving out the fields that came out empty."""
    return StepLineage(**{k: v for k, v in fields.items() if v not in (None, (), {}, "")})


# -- extractors ------------------------------------------------------------------------------------


class _SageMakerExtractor(Extractor):
    """Common shape: ``on_complete`` is what the result says, completed by ``on_start``."""

    step_type: str = ""
    source_type: str = ""

    def on_start(self, task: Any, context: Mapping[str, Any]) -> StepLineage:
        """Return the step type and what the operator's config says it will read."""
        return _lineage(
            step_type=self.step_type,
            source_type=self.source_type,
            inputs=_refs(self._config_inputs(task)),
            parameters=self._config_parameters(task),
        )

    def on_complete(self, task: Any, context: Mapping[str, Any], result: Any) -> StepLineage:
        """Return what the description returned by ``execute`` says the step read and wrote."""
        return self._from_result(task, result).merge(self.on_start(task, context))

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        return ()

    def _config_parameters(self, task: Any) -> dict[str, str]:
        return {}

    def _from_result(self, task: Any, result: Any) -> StepLineage:  # pragma: no cover
        raise NotImplementedError


def _processing_inputs(job: Mapping[str, Any]) -> Iterator[DataRef | None]:
    for item in _items(job.get("ProcessingInputs")):
        kind = CODE if _get(item, "InputName") == "code" else DATASET
        yield _ref(_get(item, "S3Input", "S3Uri"), kind)
    yield _ref(_get(job, "AppSpecification", "ImageUri"), IMAGE)


def _file_metrics(files: object) -> dict[str, str]:
    """Flatten the numbers in a processing job's parsed output files (``OutputFiles``)."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: object) -> None:
        if len(out) >= _MAX_FILE_METRICS:
            return
        number = _number(value)
        if number is not None:
            out[prefix] = number
        elif isinstance(value, Mapping):
            for key in sorted(k for k in value if isinstance(k, str)):
                walk(f"{prefix}.{key}", value[key])

    for name in sorted(k for k in _mapping(files) if isinstance(k, str)):
        walk(name, _mapping(files)[name])
    return out


class ProcessingExtractor(_SageMakerExtractor):
    """SageMakerProcessingOperator: S3 inputs and the image → the job → S3 outputs.

    Result: ``{"Processing": describe_processing_job, "OutputFiles"?: {...}}``; numbers
    in ``OutputFiles`` (e.g. an evaluation report) become metrics ``<result_name>.<path>``.
    """

    step_type = "ProcessingJob"
    source_type = "SageMakerProcessingJob"

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        return _processing_inputs(_config(task))

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        job = _section(result, "Processing", "ProcessingJobName")
        outputs = (
            _ref(_get(item, "S3Output", "S3Uri"), DATASET)
            for item in _items(_get(job, "ProcessingOutputConfig", "Outputs"))
        )
        return _lineage(
            source_uri=_arn(job.get("ProcessingJobArn")),
            source_id=_str(job.get("ProcessingJobName")),
            inputs=_refs(_processing_inputs(job)),
            outputs=_refs(outputs),
            metrics=_file_metrics(_get(result, "OutputFiles")),
        )


def _training_inputs(definition: Mapping[str, Any]) -> Iterator[DataRef | None]:
    for channel in _items(definition.get("InputDataConfig")):
        yield _ref(_get(channel, "DataSource", "S3DataSource", "S3Uri"), DATASET)
    yield _ref(_get(definition, "AlgorithmSpecification", "TrainingImage"), IMAGE)


def _final_metrics(job: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for item in _items(job.get("FinalMetricDataList")):
        name, value = _str(_get(item, "MetricName")), _number(_get(item, "Value"))
        if name is not None and value is not None:
            out[name] = value
    return out


class TrainingExtractor(_SageMakerExtractor):
    """SageMakerTrainingOperator: channels' S3 data and the image → the job → model artifact.

    Result: ``{"Training": describe_training_job}``; ``HyperParameters`` become
    parameters and ``FinalMetricDataList`` the metrics.
    """

    step_type = "TrainingJob"
    source_type = "SageMakerTrainingJob"

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        return _training_inputs(_config(task))

    def _config_parameters(self, task: Any) -> dict[str, str]:
        return _scalars(_config(task).get("HyperParameters"))

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        job = _section(result, "Training", "TrainingJobName")
        return _lineage(
            source_uri=_arn(job.get("TrainingJobArn")),
            source_id=_str(job.get("TrainingJobName")),
            inputs=_refs(_training_inputs(job)),
            outputs=_refs([_ref(_get(job, "ModelArtifacts", "S3ModelArtifacts"), MODEL)]),
            parameters=_scalars(job.get("HyperParameters")),
            metrics=_final_metrics(job),
        )


def _tuning_definitions(job: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = [job.get("TrainingJobDefinition"), *_items(job.get("TrainingJobDefinitions"))]
    return [d for d in found if isinstance(d, Mapping)]


class TuningExtractor(_SageMakerExtractor):
    """SageMakerTuningOperator: the training definitions' data and images → the tuning job
    → the best training job's model artifact.

    Result: ``{"Tuning": describe_hyper_parameter_tuning_job}``. Parameters are the best
    definition's static hyperparameters overlaid with the best job's tuned ones; the
    metric is the best job's objective. The best model's URI follows SageMaker's layout
    ``{S3OutputPath}/{BestTrainingJobName}/output/model.tar.gz``.
    """

    step_type = "HyperParameterTuningJob"
    source_type = "SageMakerHyperParameterTuningJob"

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        for definition in _tuning_definitions(_config(task)):
            yield from _training_inputs(definition)

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        job = _section(result, "Tuning", "HyperParameterTuningJobName")
        definitions = _tuning_definitions(job)
        best = _mapping(job.get("BestTrainingJob"))
        best_name = _str(best.get("TrainingJobName"))
        best_definition = next(
            (
                d
                for d in definitions
                if _str(d.get("DefinitionName")) is not None
                and d.get("DefinitionName") == best.get("TrainingJobDefinitionName")
            ),
            definitions[0] if definitions else {},
        )
        output_path = _str(_get(best_definition, "OutputDataConfig", "S3OutputPath"))
        best_model = None
        if best_name is not None and output_path is not None:
            best_model = _ref(f"{output_path.rstrip('/')}/{best_name}/output/model.tar.gz", MODEL)
        objective = _mapping(best.get("FinalHyperParameterTuningJobObjectiveMetric"))
        metric_name, metric_value = (
            _str(objective.get("MetricName")),
            _number(objective.get("Value")),
        )
        properties = {"BestTrainingJobName": best_name} if best_name else {}
        best_arn = _arn(best.get("TrainingJobArn"))
        if best_arn is not None:
            properties["BestTrainingJobArn"] = best_arn
        return _lineage(
            source_uri=_arn(job.get("HyperParameterTuningJobArn")),
            source_id=_str(job.get("HyperParameterTuningJobName")),
            inputs=_refs(ref for d in definitions for ref in _training_inputs(d)),
            outputs=_refs([best_model]),
            parameters={
                **_scalars(best_definition.get("StaticHyperParameters")),
                **_scalars(best.get("TunedHyperParameters")),
            },
            metrics={metric_name: metric_value} if metric_name and metric_value else {},
            properties=properties,
        )


def _transform_config(task: Any) -> Mapping[str, Any]:
    config = _config(task)
    return _mapping(config.get("Transform")) if "Transform" in config else config


class TransformExtractor(_SageMakerExtractor):
    """SageMakerTransformOperator: input S3 data and the model (its ARN, model data,
    images, package) → the batch transform job → the output S3 prefix.

    Result: ``{"Model": describe_model, "Transform": describe_transform_job}``.
    """

    step_type = "TransformJob"
    source_type = "SageMakerTransformJob"

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        yield _ref(
            _get(_transform_config(task), "TransformInput", "DataSource", "S3DataSource", "S3Uri"),
            DATASET,
        )
        model = _mapping(_config(task).get("Model"))
        for container in _model_containers(model):
            yield from _container_refs(container)

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        job = _section(result, "Transform", "TransformJobName")
        model = _mapping(_get(result, "Model"))
        model_arn = _arn(model.get("ModelArn")) or _sibling_arn(
            job.get("TransformJobArn"), "model", job.get("ModelName")
        )
        inputs = [
            _ref(_get(job, "TransformInput", "DataSource", "S3DataSource", "S3Uri"), DATASET),
            _ref(model_arn, MODEL),
        ]
        for container in _model_containers(model):
            inputs.extend(_container_refs(container, model_arn))
        return _lineage(
            source_uri=_arn(job.get("TransformJobArn")),
            source_id=_str(job.get("TransformJobName")),
            inputs=_refs(inputs),
            outputs=_refs([_ref(_get(job, "TransformOutput", "S3OutputPath"), DATASET)]),
        )


class ModelExtractor(_SageMakerExtractor):
    """SageMakerModelOperator: model data, images and model packages → the SageMaker model.

    Result: ``{"Model": describe_model}``; the output is the model's ARN (type Model).
    """

    step_type = "CreateModel"
    source_type = "SageMakerModel"

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        for container in _model_containers(_config(task)):
            yield from _container_refs(container)

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        model = _section(result, "Model", "ModelName")
        model_arn = _arn(model.get("ModelArn"))
        inputs = [ref for c in _model_containers(model) for ref in _container_refs(c, model_arn)]
        return _lineage(
            source_uri=model_arn,
            source_id=_str(model.get("ModelName")),
            inputs=_refs(inputs),
            outputs=_refs([_ref(model_arn, MODEL)]),
        )


def _variant_models(
    endpoint_config: Mapping[str, Any], base_arn: object
) -> Iterator[DataRef | None]:
    """Yield the models an endpoint config's (shadow) production variants serve."""
    variants = [
        *_items(endpoint_config.get("ProductionVariants")),
        *_items(endpoint_config.get("ShadowProductionVariants")),
    ]
    for variant in variants:
        yield _ref(_sibling_arn(base_arn, "model", _get(variant, "ModelName")), MODEL)


class EndpointConfigExtractor(_SageMakerExtractor):
    """SageMakerEndpointConfigOperator: the variants' models → the endpoint config.

    Result: ``{"EndpointConfig": describe_endpoint_config}``; the output is the config's
    ARN (type EndpointConfig), which the deployment reads.
    """

    step_type = "CreateEndpointConfig"
    source_type = "SageMakerEndpointConfig"

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        config = _section(result, "EndpointConfig", "EndpointConfigName")
        config_arn = _arn(config.get("EndpointConfigArn"))
        return _lineage(
            source_uri=config_arn,
            source_id=_str(config.get("EndpointConfigName")),
            inputs=_refs(_variant_models(config, config_arn)),
            outputs=_refs([_ref(config_arn, ENDPOINT_CONFIG)]),
        )


class EndpointExtractor(_SageMakerExtractor):
    """SageMakerEndpointOperator: the endpoint config and its models → ModelDeployment,
    associated with the Endpoint context (SourceUri = endpoint ARN, as SageMaker's).

    Result: ``{"EndpointConfig": ..., "Endpoint": describe_endpoint}``. A model the
    operator creates itself (config key ``Model``) adds its model data and images.
    """

    step_type = "ModelDeployment"
    source_type = "SageMakerEndpoint"

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        for container in _model_containers(_mapping(_config(task).get("Model"))):
            yield from _container_refs(container)

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        endpoint = _section(result, "Endpoint", "EndpointName")
        config = _mapping(_get(result, "EndpointConfig"))
        endpoint_arn = _arn(endpoint.get("EndpointArn"))
        config_arn = _arn(config.get("EndpointConfigArn")) or _sibling_arn(
            endpoint_arn, "endpoint-config", endpoint.get("EndpointConfigName")
        )
        name = _str(endpoint.get("EndpointName"))
        contexts = []
        context_name = _context_name(_arn_id(endpoint_arn) or (name and name.lower()), "endpoint")
        if endpoint_arn is not None and context_name is not None:
            contexts.append(ContextRef(context_name, ENDPOINT_CONTEXT, endpoint_arn))
        properties = {
            key: text
            for key in ("EndpointConfigName", "EndpointStatus")
            if (text := _str(endpoint.get(key))) is not None
        }
        return _lineage(
            source_uri=endpoint_arn,
            source_id=name,
            inputs=_refs([_ref(config_arn, ENDPOINT_CONFIG), *_variant_models(config, config_arn)]),
            contexts=tuple(contexts),
            properties=properties,
        )


class RegisterModelVersionExtractor(_SageMakerExtractor):
    """SageMakerRegisterModelVersionOperator: model data and image → the approval of a new
    model package version (type Model, SourceUri = package ARN, as SageMaker types it),
    associated with its ModelGroup context.

    Result: the package ARN string. The inputs come from the operator's ``model_url`` and
    ``image_uri`` (or ``extras["InferenceSpecification"]``, which overrides them).
    """

    step_type = "Approval"
    source_type = "SageMakerModelPackage"

    def _config_inputs(self, task: Any) -> Iterable[DataRef | None]:
        extras = _mapping(_attr(task, "extras"))
        containers = _items(_get(extras, "InferenceSpecification", "Containers"))
        if not containers:
            containers = [
                {"Image": _attr(task, "image_uri"), "ModelDataUrl": _attr(task, "model_url")}
            ]
        for container in containers:
            yield from _container_refs(container)

    def _from_result(self, task: Any, result: Any) -> StepLineage:
        package_arn = _arn(result)
        extras = _mapping(_attr(task, "extras"))
        raw_status = extras.get("ModelApprovalStatus", _attr(task, "model_approval"))
        status = _str(raw_status) or _str(_attr(raw_status, "value"))
        properties = {"ModelApprovalStatus": status} if status else {}
        contexts = []
        package_id = _arn_id(package_arn)
        if package_id is not None and "/" in package_id:
            group, version = package_id.rsplit("/", 1)
            properties["ModelPackageVersion"] = version
            group_arn = _sibling_arn(package_arn, "model-package-group", group)
            context_name = _context_name(group, "model-group")
            if group_arn is not None and context_name is not None:
                contexts.append(ContextRef(context_name, MODEL_GROUP_CONTEXT, group_arn))
        return _lineage(
            source_uri=package_arn,
            source_id=package_id,
            outputs=_refs([_ref(package_arn, MODEL)]),
            contexts=tuple(contexts),
            properties=properties,
        )


EXTRACTORS: Final[Mapping[str, type[_SageMakerExtractor]]] = {
    "SageMakerProcessingOperator": ProcessingExtractor,
    "SageMakerTrainingOperator": TrainingExtractor,
    "SageMakerTransformOperator": TransformExtractor,
    "SageMakerTuningOperator": TuningExtractor,
    "SageMakerModelOperator": ModelExtractor,
    "SageMakerRegisterModelVersionOperator": RegisterModelVersionExtractor,
    "SageMakerEndpointConfigOperator": EndpointConfigExtractor,
    "SageMakerEndpointOperator": EndpointExtractor,
}
"""Operator class name (in :data:`OPERATORS_MODULE`) → its extractor."""


def register() -> None:
    """Register the SageMaker extractors by dotted path (imports no provider code)."""
    for operator, extractor in EXTRACTORS.items():
        register_extractor(f"{OPERATORS_MODULE}.{operator}", extractor())
