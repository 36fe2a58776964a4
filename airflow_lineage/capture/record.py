"""Turn one task run and its :class:`StepLineage` into lineage entities and associations.

Names follow SageMaker's patterns (letters, digits and hyphens), so Airflow ids are
slugged and suffixed with a short hash of the exact ids: two runs never share a name,
and the same run always gets the same one (records are idempotent).

There is one action per task *try*, as SageMaker has one per job run. Shape of the
record of one try (DESIGN.md's edge conventions)::

    input  --ContributedTo-->  action(try N)  --Produced-->  output
    action(try N) --AssociatedWith--> task-run context (type TaskRun, one per task run)
    action(try N) --AssociatedWith--> DAG-run context --AssociatedWith--> DAG context
    action(try N) --AssociatedWith--> step contexts (e.g. the Endpoint it deploys to)

Every edge of a try leaves from or arrives at that try's action, and the tries of a task
run meet only in the task-run context, which has no edge out. So an ``Ascendants`` walk
from a model reaches the inputs of the try that produced it and of no other try, and a
``Descendants`` walk from a failed try's input stops at the contexts. A try's edges are
created at or after its action's creation time (the try's start).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.model import (
    DEFAULT_ACCOUNT,
    LOCAL_REGION,
    Action,
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    Context,
    Entity,
)
from airflow_lineage.provenance.attestation import Attestation, sign_step
from airflow_lineage.records import from_record, to_record

__all__ = ["LineageRecord", "TaskRun", "build_record", "signed"]

_MAX_PROPERTIES = 30
_MAX_VALUE = 2500
DAG_CONTEXT_TYPE = "Pipeline"
RUN_CONTEXT_TYPE = "PipelineExecution"
TASK_RUN_CONTEXT_TYPE = "TaskRun"
"""The ContextType that links the tries (actions) of one task run."""


def _slug(text: str, limit: int) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")[:limit].strip("-") or "x"


def _name(readable: list[str], ids: list[str]) -> str:
    """Return ``<slug of the readable ids>-<hash of all ids>`` (at most 120 characters)."""
    digest = hashlib.sha256("\x00".join(ids).encode()).hexdigest()[:12]
    return f"{_slug('-'.join(readable), 100)}-{digest}"


@dataclass(frozen=True, slots=True)
class TaskRun:
    """The Airflow identity of one try of a task run."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1
    try_number: int = 1
    operator: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.try_number, bool) or not isinstance(self.try_number, int):
            raise TypeError(f"try_number must be an int, not {type(self.try_number).__name__}")
        if self.try_number < 0:
            raise ValueError(f"try_number must not be negative, got {self.try_number}")

    def _readable(self) -> list[str]:
        readable = [self.dag_id, self.task_id]
        if self.map_index >= 0:
            readable.append(str(self.map_index))
        return readable

    @property
    def action_name(self) -> str:
        """Return the ActionName of this try (the same for every record of the try)."""
        return _name(
            [*self._readable(), f"try{self.try_number}"],
            [
                "try",
                self.dag_id,
                self.run_id,
                self.task_id,
                str(self.map_index),
                str(self.try_number),
            ],
        )

    @property
    def task_run_context_name(self) -> str:
        """Return the ContextName that links the tries of the task run."""
        return _name(
            self._readable(), ["task", self.dag_id, self.run_id, self.task_id, str(self.map_index)]
        )

    @property
    def run_context_name(self) -> str:
        """Return the ContextName of the DAG run."""
        return _name([self.dag_id, self.run_id], ["run", self.dag_id, self.run_id])

    @property
    def dag_context_name(self) -> str:
        """Return the ContextName of the DAG."""
        return _name([self.dag_id], ["dag", self.dag_id])

    @property
    def uri(self) -> str:
        """Return the SourceUri of the task run."""
        base = f"airflow://dags/{self.dag_id}/runs/{self.run_id}/tasks/{self.task_id}"
        return base if self.map_index < 0 else f"{base}/{self.map_index}"


@dataclass(frozen=True, slots=True)
class LineageRecord:
    """Entities and associations to write together (one transaction, upsert)."""

    entities: tuple[Entity, ...]
    associations: tuple[Association, ...]
    action_arn: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    attestations: tuple[Attestation, ...] = ()
    """The signed provenance of the action, written in the same transaction."""

    @property
    def upsert(self) -> frozenset[str]:
        """Return the ARNs the record updates: only the action (its status and properties
        move on); artifacts and contexts are created once and never overwritten, so a
        step never erases what others recorded on a shared data set."""
        return frozenset((self.action_arn,))

    def as_json(self) -> dict[str, Any]:
        """Return the record as JSON-ready data (what the relay carries)."""
        return {
            "entities": [to_record(e) for e in self.entities],
            "associations": [to_record(a) for a in self.associations],
            "action": self.action_arn,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "attestations": [a.as_json() for a in self.attestations],
        }

    @classmethod
    def from_json(cls, body: Any) -> LineageRecord:
        """Return the record :meth:`as_json` made.

        :raises ValueError: ``body`` is not such a record.
        """
        if not isinstance(body, dict):
            raise ValueError("a lineage record is a JSON object")
        try:
            items = [from_record(r) for r in (*body["entities"], *body["associations"])]
            action, inputs, outputs = body["action"], body["inputs"], body["outputs"]
            attestations = tuple(Attestation.from_json(a) for a in body.get("attestations", ()))
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"not a lineage record: {e!r}") from e
        if not isinstance(action, str) or not all(
            isinstance(arn, str) for arn in (*inputs, *outputs)
        ):
            raise ValueError("a lineage record's action, inputs and outputs are ARNs")
        return cls(
            entities=tuple(i for i in items if not isinstance(i, Association)),
            associations=tuple(i for i in items if isinstance(i, Association)),
            action_arn=action,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            attestations=attestations,
        )

    def xcom(self) -> dict[str, object]:
        """Return the ARNs a downstream task needs, as pushed to XCom."""
        return {
            "action": self.action_arn,
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "attestations": [a.as_json() for a in self.attestations],
        }


def _identity(run: TaskRun) -> dict[str, str]:
    props = {
        "airflow:dag_id": run.dag_id,
        "airflow:task_id": run.task_id,
        "airflow:run_id": run.run_id,
    }
    if run.map_index >= 0:
        props["airflow:map_index"] = str(run.map_index)
    return props


def _action_properties(run: TaskRun, lineage: StepLineage, error: str | None) -> dict[str, str]:
    props = _identity(run)
    props["airflow:try_number"] = str(run.try_number)
    if run.operator:
        props["airflow:operator"] = run.operator
    if error:
        props["error"] = error
    props.update(lineage.properties)
    props.update({f"param:{k}": v for k, v in lineage.parameters.items()})
    props.update({f"metric:{k}": v for k, v in lineage.metrics.items()})
    if len(props) > _MAX_PROPERTIES:
        # SageMaker allows 30 properties; keep the identity and say what was left out
        # rather than lose the whole record.
        kept = dict(list(props.items())[: _MAX_PROPERTIES - 1])
        kept["truncated"] = ",".join(k for k in props if k not in kept)[:_MAX_VALUE]
        props = kept
    return {k[:_MAX_VALUE]: v[:_MAX_VALUE] for k, v in props.items()}


def build_record(
    run: TaskRun,
    lineage: StepLineage,
    status: ActionStatus,
    *,
    now: datetime,
    started: datetime | None = None,
    error: str | None = None,
    account: str = DEFAULT_ACCOUNT,
    region: str = LOCAL_REGION,
    sign: bool = True,
) -> LineageRecord:
    """Build the record of a task run in the given status.

    :param started: when the run started; the action's creation time (default ``now``).
    :param sign: sign it here; without it, whoever writes it signs it (:func:`signed`).
    :raises ValueError: the lineage holds a value SageMaker's API model rejects.
    """
    created = started or now
    dag_ctx = Context.new(
        run.dag_context_name,
        DAG_CONTEXT_TYPE,
        f"airflow://dags/{run.dag_id}",
        properties={"airflow:dag_id": run.dag_id},
        created=created,
        account=account,
        region=region,
    )
    run_ctx = Context.new(
        run.run_context_name,
        RUN_CONTEXT_TYPE,
        f"airflow://dags/{run.dag_id}/runs/{run.run_id}",
        properties={"airflow:dag_id": run.dag_id, "airflow:run_id": run.run_id},
        created=created,
        account=account,
        region=region,
    )
    task_ctx = Context.new(
        run.task_run_context_name,
        TASK_RUN_CONTEXT_TYPE,
        run.uri,
        properties=_identity(run),
        created=created,
        account=account,
        region=region,
    )
    action = Action.new(
        run.action_name,
        lineage.step_type or run.operator.rsplit(".", 1)[-1].lstrip("_") or "AirflowTask",
        lineage.source_uri or run.uri,
        status=status,
        source_type=lineage.source_type,
        source_id=lineage.source_id,
        properties=_action_properties(run, lineage, error),
        created=created,
        account=account,
        region=region,
    )
    # The action changes with every record of the run: its modified time orders them.
    action = _with_modified(action, now)

    def artifact(ref: DataRef) -> Artifact:
        return Artifact.new(
            ref.uri,
            ref.artifact_type,
            source_types=ref.digests,
            name=ref.name,
            properties=ref.properties,
            created=now,
            account=account,
            region=region,
        )

    inputs = [artifact(ref) for ref in lineage.inputs]
    outputs = [artifact(ref) for ref in lineage.outputs]
    contexts = [
        Context.new(
            _slug(ref.name, 120),
            ref.context_type,
            ref.uri,
            properties=ref.properties,
            created=now,
            account=account,
            region=region,
        )
        for ref in lineage.contexts
    ]
    edges = [
        Association(run_ctx.arn, dag_ctx.arn, AssociationType.ASSOCIATED_WITH, created),
        Association(action.arn, run_ctx.arn, AssociationType.ASSOCIATED_WITH, created),
        Association(action.arn, task_ctx.arn, AssociationType.ASSOCIATED_WITH, created),
    ]
    edges += [Association(a.arn, action.arn, AssociationType.CONTRIBUTED_TO, now) for a in inputs]
    edges += [Association(action.arn, a.arn, AssociationType.PRODUCED, now) for a in outputs]
    edges += [
        Association(action.arn, c.arn, ref.association_type, now)
        for c, ref in zip(contexts, lineage.contexts, strict=True)
    ]
    edges += [
        Association(arn, action.arn, AssociationType.ASSOCIATED_WITH, now)
        for arn in lineage.associated_from
    ]
    edges += [
        Association(arn, action.arn, AssociationType.CONTRIBUTED_TO, now)
        for arn in lineage.input_arns
    ]
    # An artifact both read and written (e.g. updated in place) would loop on itself.
    edges = [e for e in edges if e.source_arn != e.destination_arn]
    entities: tuple[Entity, ...] = (
        dag_ctx, run_ctx, task_ctx, action, *inputs, *outputs, *contexts
    )  # fmt: skip
    associations = tuple(dict.fromkeys(edges))
    signed = sign_step(action, entities, associations) if sign else None
    return LineageRecord(
        entities=entities,
        associations=associations,
        action_arn=action.arn,
        inputs=(*(a.arn for a in inputs), *lineage.input_arns),
        outputs=tuple(a.arn for a in outputs),
        attestations=() if signed is None else (signed,),
    )


def signed(record: LineageRecord) -> LineageRecord:
    """Return ``record`` with its action's attestation (signed with this process's key).

    The lineage relay signs what tasks hand it: it is a long-lived process, where signing
    costs a tenth of what it costs a freshly forked task process.
    """
    action = next(
        (e for e in record.entities if isinstance(e, Action) and e.arn == record.action_arn),
        None,
    )
    if action is None:
        raise ValueError(f"the record holds no action {record.action_arn}")
    attestation = sign_step(action, record.entities, record.associations)
    if attestation is None:
        return record
    import dataclasses

    return dataclasses.replace(record, attestations=(attestation,))


def _with_modified(action: Action, when: datetime) -> Action:
    import dataclasses

    return dataclasses.replace(action, modified=when)
