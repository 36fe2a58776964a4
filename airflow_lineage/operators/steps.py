"""Step operators and the ``@ml_step`` TaskFlow decorator for local ML steps.

A step is a Python callable that reads named inputs and writes named outputs. The
operator records what a person asks of an ML step's lineage: the step type (data
preparation, feature extraction, training, evaluation, registration, deployment), its
parameters, the metrics it logs, the code version (git commit when the DAG lives in a
repository) and the content digests of its inputs (taken before it runs) and outputs.

    @ml_step(step_type="Training",
             inputs={"features": Data("file:///data/features.csv")},
             outputs={"model": Data("file:///models/model.pkl", "Model")},
             parameters={"max_depth": 3})
    def train(step):
        X = read(step.inputs["features"].path)
        ...
        step.log_metric("train_accuracy", 0.98)

The capture itself is automatic (the listener plugin); the operator only describes the
step through :meth:`get_lineage_on_start` / :meth:`get_lineage_on_complete`.
"""

from __future__ import annotations

import inspect
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from airflow.providers.common.compat.sdk import DecoratedOperator, task_decorator_factory
from airflow.providers.standard.operators.python import PythonOperator

from airflow_lineage.capture.lineage import ContextRef, DataRef, StepLineage
from airflow_lineage.verify import local_path

__all__ = ["Data", "MLStepOperator", "Step", "ml_step"]

STEP_TYPES = (
    "DataIngestion",
    "DataPreparation",
    "FeatureExtraction",
    "Training",
    "Evaluation",
    "Registration",
    "ModelDeployment",
)
"""The step types the operator knows; others are accepted as custom ActionTypes."""


class Data:
    """A named input or output of a step: a URI and its artifact type.

    :param uri: ``file:///abs/path``, an absolute path, or any URI (``s3://...``); templated.
    :param artifact_type: DataSet, Model, Report, Image, Code, ...
    """

    template_fields: Sequence[str] = ("uri",)

    def __init__(self, uri: str, artifact_type: str = "DataSet") -> None:
        self.uri = uri
        self.artifact_type = artifact_type

    @property
    def path(self) -> Path:
        """Return the local path of a ``file://`` URI or absolute path.

        :raises ValueError: the URI is not local.
        """
        path = local_path(self.uri)
        if path is None:
            raise ValueError(f"{self.uri!r} is not a local file URI")
        return path

    def ref(self) -> DataRef:
        """Return the data reference lineage records."""
        uri = self.uri if "://" in self.uri else Path(self.uri).absolute().as_uri()
        return DataRef(uri, self.artifact_type)

    def __repr__(self) -> str:
        return f"Data({self.uri!r}, {self.artifact_type!r})"


class Step:
    """What a step's callable receives as ``step``: its data, parameters and a metric log."""

    def __init__(
        self, inputs: Mapping[str, Data], outputs: Mapping[str, Data], parameters: Mapping[str, Any]
    ) -> None:
        self.inputs = dict(inputs)
        self.outputs = dict(outputs)
        self.parameters = dict(parameters)
        self.metrics: dict[str, str] = {}

    def log_metric(self, name: str, value: float | int | str) -> None:
        """Record a metric of the step (stored as the action property ``metric:<name>``)."""
        if not isinstance(name, str) or not name:
            raise ValueError("a metric needs a non-empty name")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError(
                f"metric {name!r} must be a number or a string, not {type(value).__name__}"
            )
        self.metrics[name] = str(value)


def _in_work_tree(directory: str) -> bool:
    """Return whether git could find a repository from ``directory`` (a ``.git`` in it or
    above it, or ``GIT_DIR`` set), without starting git."""
    if os.environ.get("GIT_DIR"):
        return True
    path = Path(directory).resolve()
    return any((folder / ".git").exists() for folder in (path, *path.parents))


@cache
def _git_commit(directory: str) -> str | None:
    """Return the work tree's commit, ``<sha>-dirty`` when tracked files have changed
    since (the DAG does not run the committed code then)."""
    if not _in_work_tree(directory):
        return None  # the usual deployment (DAGs copied or mounted): no git process to start
    try:
        out = subprocess.run(
            ["git", "-C", directory, "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = out.stdout.strip()
        if out.returncode != 0 or not commit:
            return None
        status = subprocess.run(
            ["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if status.returncode != 0:
        return None  # a commit whose cleanliness cannot be told is no code version
    return f"{commit}-dirty" if status.stdout.strip() else commit


def _bundle_version(context: Mapping[str, Any]) -> str | None:
    """Return the version of the DAG bundle the task runs from (Airflow 3's versioned
    bundles, e.g. a git bundle's commit); None for an unversioned bundle."""
    bundle = getattr(context.get("ti"), "bundle_instance", None)
    if bundle is None or not getattr(bundle, "supports_versioning", False):
        return None
    version = getattr(bundle, "version", None)
    if not version:
        try:
            version = bundle.get_current_version()
        except Exception:  # a bundle that cannot say has no version to record
            return None
    return str(version) if version else None


def _copies(value: Any) -> Any:
    """Return a mapping of name to Data as fresh Data objects (anything else as it is)."""
    if not isinstance(value, Mapping):
        return value
    return {k: Data(v.uri, v.artifact_type) if isinstance(v, Data) else v for k, v in value.items()}


def _check_data(field: str, value: object) -> dict[str, Data]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{field} must be a mapping of name to Data, not {type(value).__name__}")
    for name, item in value.items():
        if not isinstance(item, Data):
            raise TypeError(f"{field}[{name!r}] must be a Data, not {type(item).__name__}")
        if not isinstance(item.uri, str) or not item.uri:
            raise ValueError(f"{field}[{name!r}] needs a non-empty URI")
    return dict(value)


class MLStepOperator(PythonOperator):
    """Run a Python callable as one ML step and describe its lineage.

    :param step_type: the ActionType, e.g. ``Training`` (see :data:`STEP_TYPES`).
    :param inputs: name → :class:`Data` read by the step (templated).
    :param outputs: name → :class:`Data` written by the step (templated).
    :param parameters: the step's parameters (templated), recorded as ``param:<name>``.
    :param endpoint: for deployment steps, the URI of the endpoint it deploys to; the
        action is associated with an ``Endpoint`` context for it.
    :param code_version: recorded as ``code_version``; default: the version of the DAG
        bundle the task runs from (a versioned bundle, such as a git bundle), else the
        git commit of the DAG file's work tree, ``<sha>-dirty`` when tracked files have
        uncommitted changes.
    """

    template_fields: Sequence[str] = (
        *PythonOperator.template_fields,
        "inputs",
        "outputs",
        "parameters",
        "endpoint",
    )

    def __init__(
        self,
        *,
        step_type: str,
        inputs: Mapping[str, Data] | None = None,
        outputs: Mapping[str, Data] | None = None,
        parameters: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        code_version: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step_type = step_type
        self.inputs = inputs
        self.outputs = outputs
        self.parameters = parameters
        self.endpoint = endpoint
        self.code_version = code_version

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Render copies of the declared :class:`Data`, so the declared ones keep their
        templates: ``dag.test()`` runs every try of a task on this same object, and a
        second try must render ``{{ ti.try_number }}`` anew, not reuse the first's URI."""
        declared = self.__dict__.get("_declared_data")
        if declared is None:
            declared = self.__dict__["_declared_data"] = (self.inputs, self.outputs)
        self.inputs, self.outputs = (_copies(d) for d in declared)
        super().render_template_fields(context, jinja_env)

    def _validated(self) -> tuple[dict[str, Data], dict[str, Data], dict[str, Any]]:
        if not isinstance(self.step_type, str) or not self.step_type:
            raise ValueError("step_type must be a non-empty string, e.g. 'Training'")
        params = self.parameters or {}
        if not isinstance(params, Mapping):
            raise TypeError(f"parameters must be a mapping, not {type(params).__name__}")
        return (
            _check_data("inputs", self.inputs),
            _check_data("outputs", self.outputs),
            dict(params),
        )

    def execute(self, context: Any) -> Any:
        """Run the callable with ``step`` (inputs, outputs, parameters, metric log)."""
        inputs, outputs, params = self._validated()
        for data in outputs.values():
            path = local_path(data.ref().uri)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        self._step = Step(inputs, outputs, params)
        if "step" in inspect.signature(self.python_callable).parameters:
            self.op_kwargs = {**(self.op_kwargs or {}), "step": self._step}
        return super().execute(context)

    def _code_version(self, context: Mapping[str, Any]) -> str | None:
        if self.code_version:
            return str(self.code_version)
        if bundle := _bundle_version(context):
            return bundle
        dag = getattr(self, "dag", None)
        fileloc = getattr(dag, "fileloc", None)
        return _git_commit(os.path.dirname(fileloc)) if fileloc else None

    def get_lineage_on_start(self, context: Mapping[str, Any]) -> StepLineage:
        """Describe the step before it runs: type, inputs, parameters, code version."""
        inputs, _, params = self._validated()
        props = {"step_type": self.step_type}
        if version := self._code_version(context):
            props["code_version"] = version
        contexts: tuple[ContextRef, ...] = ()
        if self.endpoint:
            name = Path(str(self.endpoint).rstrip("/")).name or "endpoint"
            contexts = (ContextRef(f"endpoint-{name}", "Endpoint", str(self.endpoint)),)
        return StepLineage(
            step_type=self.step_type,
            inputs=tuple(d.ref() for d in inputs.values()),
            contexts=contexts,
            parameters={k: str(v) for k, v in params.items()},
            properties=props,
        )

    def get_lineage_on_complete(self, context: Mapping[str, Any], result: Any) -> StepLineage:
        """Describe the finished step: its outputs and the metrics it logged."""
        _, outputs, _ = self._validated()
        step = getattr(self, "_step", None)
        return StepLineage(
            step_type=self.step_type,
            outputs=tuple(d.ref() for d in outputs.values()),
            metrics=step.metrics if step else {},
        )


class _MLStepDecoratedOperator(DecoratedOperator, MLStepOperator):
    """The operator behind ``@ml_step``."""

    custom_operator_name = "@ml_step"
    # DecoratedOperator comes first in the MRO; without this its template fields would
    # hide the step's, and Data URIs such as ``.../{{ run_id }}/x.csv`` stay unrendered.
    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        "inputs",
        "outputs",
        "parameters",
        "endpoint",
    )

    def __init__(
        self, *, python_callable: Callable[..., Any], op_args: Any, op_kwargs: Any, **kwargs: Any
    ) -> None:
        if "step" in inspect.signature(python_callable).parameters:
            # A placeholder so the call binds at parse time; execute() puts the Step in.
            op_kwargs = {**(op_kwargs or {}), "step": None}
        super().__init__(
            kwargs_to_upstream={
                "python_callable": python_callable,
                "op_args": op_args,
                "op_kwargs": op_kwargs,
            },
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            **kwargs,
        )


def ml_step(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """Turn a function into an ML step task (the TaskFlow form of :class:`MLStepOperator`).

    The function may take a ``step`` argument: its inputs, outputs, parameters and
    ``log_metric``. Other keyword arguments are those of :class:`MLStepOperator`.
    """
    return task_decorator_factory(
        python_callable=python_callable,
        decorated_operator_class=_MLStepDecoratedOperator,
        **kwargs,
    )
