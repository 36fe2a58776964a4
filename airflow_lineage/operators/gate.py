"""``LineageGateOperator``: deploy only a model whose provenance is verified.

Put it between registration and deployment. It queries the model's whole upstream
lineage in one query, evaluates a :class:`~airflow_lineage.policy.Policy`, writes a
report (JSON for machines, Markdown for people) and records the verdict as lineage: the
task's own action is an ``Approval`` (Completed or Failed) that the model
``ContributedTo`` and that ``Produced`` the report; on a pass the deployment that follows
is ``AssociatedWith`` it. A rejection raises ``AirflowFailException``: the deployment
never runs and no retries are burned. It fails closed: no lineage, a broken chain, an
unreadable artifact or an unreachable store is a rejection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from airflow_lineage import config
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.runtime import GATE_XCOM_KEY, XCOM_KEY
from airflow_lineage.model import Arn, Artifact, utcnow
from airflow_lineage.policy import Policy
from airflow_lineage.store.base import LineageStore

__all__ = ["LineageGateOperator"]


class LineageGateOperator(BaseOperator):
    """Check a model's provenance against a policy before it is deployed.

    :param policy: a :class:`Policy`, a mapping, YAML text or the path of a YAML file.
    :param model: the model's ARN or source URI (templated). Default: the newest output
        of type ``model_type`` that the task ``model_task_id`` recorded.
    :param model_task_id: the upstream task whose recorded outputs hold the model.
    :param model_type: the ArtifactType of the model among those outputs.
    :param lineage_conn_id: the lineage connection (default ``[lineage] conn_id``).
    :param report_dir: where reports are written (default
        ``$AIRFLOW_HOME/lineage-reports``); templated.
    """

    template_fields: Sequence[str] = ("model", "model_task_id", "report_dir")
    ui_color = "#f6e0b5"
    consumes_lineage_xcom = True
    is_lineage_gate = True

    @property
    def lineage_xcom_sources(self) -> set[str]:
        """Return the tasks whose recorded lineage the gate reads (for the capture)."""
        return {self.model_task_id} if self.model_task_id else set()

    def __init__(
        self,
        *,
        policy: Policy | Mapping[str, Any] | str | Path,
        model: str | None = None,
        model_task_id: str | None = None,
        model_type: str = "Model",
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

    # -- the decision ---------------------------------------------------------------------

    def _store(self) -> LineageStore:
        from airflow_lineage.hooks.lineage import LineageHook

        return LineageHook(self.lineage_conn_id).get_conn()

    def _model_arn(self, context: Mapping[str, Any], store: LineageStore) -> str | None:
        """Return the ARN of the model under review, or None when it cannot be found."""
        if self.model:
            if self.model.startswith("arn:"):
                Arn.parse(self.model, field_name="model")
                return self.model
            found = store.list_entities("Artifact", source_uri=self.model).items
            return found[0].arn if found else None  # newest first
        if not self.model_task_id:
            raise ValueError("LineageGateOperator needs model or model_task_id")
        pushed = context["ti"].xcom_pull(task_ids=self.model_task_id, key=XCOM_KEY)
        outputs = list((pushed or {}).get("outputs", ()))
        entities = store.get_many(outputs)
        models = [
            e for e in entities.values() if isinstance(e, Artifact) and e.type == self.model_type
        ]
        if not models:
            return None
        return max(models, key=lambda e: (e.created, e.arn)).arn

    def execute(self, context: Any) -> dict[str, Any]:
        """Evaluate the policy, record the verdict, and fail the task on a rejection."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_lineage.gate import RuleOutcome, Verdict, evaluate

        policy = Policy.coerce(self.policy)  # a bad policy is the DAG's error: raise as is
        model_arn: str | None = None
        try:
            with self._store() as store:
                model_arn = self._model_arn(context, store)
                if model_arn is None:
                    raise LookupError(
                        f"no {self.model_type} recorded by {self.model_task_id or self.model!r}"
                    )
                verdict = evaluate(store, model_arn, policy)
        except Exception as e:  # whatever went wrong, the gate fails closed
            outcome = RuleOutcome("lineage readable", False, f"{type(e).__name__}: {e}")
            subject = model_arn or str(self.model or "unknown")
            verdict = Verdict(subject, False, (outcome,), utcnow())
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
        from airflow_lineage.capture.record import TaskRun
        from airflow_lineage.capture.runtime import record_place

        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        run = TaskRun(ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else map_index)
        account, region = record_place()
        return str(Arn(region, account, "action", run.action_name))

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
