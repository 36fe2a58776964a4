"""``LineageGateOperator``: deploy only a model whose provenance is verified.

Put it between registration and deployment. It queries the model's whole upstream
lineage in one query, evaluates a :class:`~airflow_lineage.policy.Policy`, writes a
report (JSON for machines, Markdown for people) and records the verdict as lineage: the
task's own action is an ``Approval`` (Completed or Failed) that the model
``ContributedTo`` and that ``Produced`` the report; on a pass the deployment that follows
is ``AssociatedWith`` it. A rejection raises ``AirflowFailException``: the deployment
never runs and no retries are burned. It fails closed: no lineage, a broken chain, an
unreadable artifact or an unreachable store is a rejection; so is a policy that cannot
be loaded, at once.

The model is an artifact of a model type (:data:`~airflow_lineage.gate.MODEL_TYPES`):
named by ``model`` (ARN or source URI), or found from the task ``model_task_id``: first
its declared outputs of a model type (``@ml_step``/``MLStepOperator`` outputs, outlets
whose ``extra`` has ``artifact_type``), else what that task run's newest Completed try
produced in the store. It never depends on capture's XCom.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from airflow_lineage import config
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.gate import MODEL_TYPES, find_model, model_of_task_run
from airflow_lineage.model import Arn, utcnow
from airflow_lineage.policy import Policy
from airflow_lineage.store.base import LineageStore

__all__ = ["LineageGateOperator"]


class LineageGateOperator(BaseOperator):
    """Check a model's provenance against a policy before it is deployed.

    :param policy: a :class:`Policy`, a mapping, YAML text or the path of a YAML file;
        a relative path is read from the DAG file's folder.
    :param model: the model's ARN or source URI (templated).
    :param model_task_id: the upstream task that produced the model (templated): its
        declared outputs of a model type, else what it recorded in the store.
    :param model_type: narrow the model types (Model, ModelPackage) to this one.
    :param lineage_conn_id: the lineage connection (default ``[lineage] conn_id``).
    :param report_dir: where reports are written (default
        ``$AIRFLOW_HOME/lineage-reports``); templated.
    """

    template_fields: Sequence[str] = ("model", "model_task_id", "report_dir")
    ui_color = "#f6e0b5"
    is_lineage_gate = True

    def __init__(
        self,
        *,
        policy: Policy | Mapping[str, Any] | str | Path,
        model: str | None = None,
        model_task_id: str | None = None,
        model_type: str | None = None,
        lineage_conn_id: str | None = None,
        report_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.model = model
        self.model_task_id = model_task_id
        self.model_type = model_type
        self.lineage_conn_id = lineage_conn_id
        self.report_dir = report_dir

    # -- what is checked ------------------------------------------------------------------

    def _store(self) -> LineageStore:
        from airflow_lineage.hooks.lineage import LineageHook

        return LineageHook(self.lineage_conn_id).get_conn()

    def _policy(self) -> Policy:
        """Load the policy; a relative file path is read from the DAG file's folder.

        :raises ValueError, TypeError, OSError: the policy cannot be read or is invalid.
        """
        fileloc = getattr(getattr(self, "dag", None), "fileloc", None)
        base = Path(fileloc).parent if fileloc else None
        return Policy.coerce(self.policy, base=base)

    def _model_types(self) -> tuple[str, ...]:
        if self.model_type is None:
            return MODEL_TYPES
        if self.model_type not in MODEL_TYPES:
            raise ValueError(
                f"model_type {self.model_type!r} is not a model type; use one of "
                f"{', '.join(MODEL_TYPES)}"
            )
        return (self.model_type,)

    def _declared_models(self, context: Mapping[str, Any], types: Sequence[str]) -> list[str]:
        """Return the source URIs of the model task's declared outputs of a model type."""
        from airflow_lineage.operators.steps import MLStepOperator

        dag = getattr(self, "dag", None)
        if dag is None or not dag.has_task(self.model_task_id):
            raise ValueError(f"model_task_id {self.model_task_id!r} is not a task of this DAG")
        task = dag.get_task(self.model_task_id)
        uris: list[str] = []
        for item in task.outlets or ():
            uri = getattr(item, "uri", None)
            extra = getattr(item, "extra", None) or {}
            if isinstance(uri, str) and uri and extra.get("artifact_type") in types:
                uris.append(uri)
        if isinstance(task, MLStepOperator) and task.outputs:
            outputs = dict(task.outputs)
            if "outputs" in task.template_fields:  # as the task itself saw them
                # Rendered for this run, on a copy: the other task is not ours to change.
                outputs = self.render_template(copy.deepcopy(outputs), context)  # type: ignore[arg-type]
            uris += [d.ref().uri for d in outputs.values() if d.artifact_type in types]
        return list(dict.fromkeys(uris))

    def _model_arn(
        self, context: Mapping[str, Any], store: LineageStore, types: Sequence[str]
    ) -> str:
        """Return the ARN of the model under review.

        :raises EntityNotFoundError: no such model.
        :raises ValueError: several candidates, or a bad ``model``/``model_task_id``.
        """
        if self.model:
            if self.model.startswith("arn:"):
                Arn.parse(self.model, field_name="model")
                return self.model
            return find_model(store, self.model, model_types=types)
        ti = context["ti"]
        task_id = str(self.model_task_id)
        declared = self._declared_models(context, types)
        produced = model_of_task_run(store, ti.dag_id, ti.run_id, task_id, model_types=types)
        capture_off = (
            ""
            if config.enabled()
            else "lineage capture is off (the 'enabled' option is false), "
            "so nothing was recorded for it; "
        )
        if len(declared) > 1:
            raise ValueError(
                f"task {task_id!r} declares {len(declared)} outputs of a model type "
                f"({', '.join(declared)}); name the model with model=<ARN or URI>"
            )
        if declared:
            if not produced:
                # Never another run's model of the same URI: this run's must be recorded.
                raise EntityNotFoundError(
                    f"task {task_id!r}: {capture_off}its try in run {ti.run_id} recorded no "
                    f"model (declared: {declared[0]}; if capture is on, the record may still "
                    "be in the outbox); name the model with model=<ARN>"
                )
            try:
                return find_model(store, declared[0], model_types=types, among=set(produced))
            except EntityNotFoundError as e:
                raise EntityNotFoundError(f"task {task_id!r}: {capture_off}{e}") from e
        if len(produced) > 1:
            raise ValueError(
                f"task {task_id!r} produced {len(produced)} artifacts of a model type in run "
                f"{ti.run_id} ({', '.join(produced)}); name the model with model=<ARN or URI>"
            )
        if produced:
            return produced[0]
        how = (
            "name the model with model=<ARN or source URI>, or declare it as an output of "
            f"type {types[0]} (Data(uri, {types[0]!r})) or an outlet "
            f"(Asset(uri, extra={{'artifact_type': {types[0]!r}}})) of the task"
        )
        if capture_off:
            raise EntityNotFoundError(
                f"task {task_id!r} declares no output of a model type and {capture_off}{how}"
            )
        raise EntityNotFoundError(
            f"task {task_id!r} declares no output of a model type "
            f"({', '.join(types)}) and recorded none in run {ti.run_id} (no Completed try "
            f"produced one); {how}"
        )

    # -- the decision ---------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        """Evaluate the policy, record the verdict, and fail the task on a rejection."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_lineage.capture.runtime import GATE_XCOM_KEY
        from airflow_lineage.gate import RuleOutcome, Verdict, evaluate

        # A policy or argument that cannot be used fails at once: retrying cannot help.
        try:
            policy = self._policy()
            types = self._model_types()
            if not (self.model or self.model_task_id):
                raise ValueError("LineageGateOperator needs model= or model_task_id=")
        except (ValueError, TypeError, OSError) as e:
            raise AirflowFailException(f"deployment gate cannot run: {e}") from e
        model_arn: str | None = None
        subject = str(self.model or f"the model of task {self.model_task_id}")
        try:
            with self._store() as store:
                try:
                    model_arn = self._model_arn(context, store, types)
                except (LookupError, ValueError) as e:
                    outcome = RuleOutcome("model identified", False, str(e))
                    verdict = Verdict(subject, False, (outcome,), utcnow())
                else:
                    verdict = evaluate(store, model_arn, policy, model_types=types)
        except Exception as e:  # whatever went wrong, the gate fails closed
            outcome = RuleOutcome("lineage readable", False, f"{type(e).__name__}: {e}")
            verdict = Verdict(model_arn or subject, False, (outcome,), utcnow())
        report = verdict.to_json()
        markdown = verdict.to_markdown()
        json_path, md_path = self._write_reports(context, report, markdown)
        self.log.info("Deployment gate report:\n%s", markdown)
        self._verdict = verdict
        self._reports = (json_path, md_path)
        self._model_arn_seen = model_arn
        ti = context["ti"]
        ti.xcom_push(
            key=GATE_XCOM_KEY,
            value={
                "verdict": report["verdict"],
                "approval": self._approval_arn(context),
                "model": model_arn,
                "report": json_path.as_uri(),
                "reasons": verdict.reasons,
            },
        )
        if not verdict.passed:
            raise AirflowFailException(
                f"deployment gate rejected {verdict.model_arn}: " + "; ".join(verdict.reasons)
            )
        return report

    def _approval_arn(self, context: Mapping[str, Any]) -> str:
        """Return the ARN of the action capture records for this try of the gate."""
        from airflow_lineage.capture.runtime import action_arn

        return action_arn(context["ti"])

    def _write_reports(
        self, context: Mapping[str, Any], report: dict[str, Any], markdown: str
    ) -> tuple[Path, Path]:
        ti = context["ti"]
        base = (
            Path(self.report_dir) if self.report_dir else config.airflow_home() / "lineage-reports"
        )
        folder = base / ti.dag_id / ti.run_id.replace(":", "_").replace("+", "_")
        folder.mkdir(parents=True, exist_ok=True)
        json_path = folder / f"{ti.task_id}.json"
        md_path = folder / f"{ti.task_id}.md"
        json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        md_path.write_text(markdown)
        return json_path, md_path

    # -- lineage of the gate itself (read by the capture listener) ---------------------------

    def get_lineage_on_start(self, context: Mapping[str, Any]) -> StepLineage:
        """The gate is an Approval step."""
        return StepLineage(step_type="Approval")

    def _outcome(self) -> StepLineage:
        verdict = getattr(self, "_verdict", None)
        if verdict is None:
            return StepLineage(step_type="Approval")
        json_path, md_path = self._reports
        model = getattr(self, "_model_arn_seen", None)
        failed = [o.rule for o in verdict.outcomes if not o.passed]
        return StepLineage(
            step_type="Approval",
            input_arns=(model,) if model else (),
            outputs=(DataRef(json_path.as_uri(), "Report"), DataRef(md_path.as_uri(), "Report")),
            properties={
                "verdict": "passed" if verdict.passed else "rejected",
                "rules_failed": ", ".join(failed)[:2500],
                "rules_checked": str(len(verdict.outcomes)),
            },
        )

    def get_lineage_on_complete(self, context: Mapping[str, Any], result: Any) -> StepLineage:
        """A pass: the model contributed, the report was produced."""
        return self._outcome()

    def get_lineage_on_failure(self, context: Mapping[str, Any], error: Any) -> StepLineage:
        """A rejection is recorded the same way, as a Failed approval."""
        return self._outcome()
