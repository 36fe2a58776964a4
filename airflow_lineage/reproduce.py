"""Rebuild a model from its lineage: the manifest, the input check, the new run.

A *manifest* (JSON) holds everything lineage and Airflow know about how a model was
made: the DAG run and its configuration, the DAG version and bundle version, every input
with its URI, version and digests, the code version of each step, the parameters and
the images. :func:`check_inputs` recomputes each input's digests now.
:func:`rerun` starts a new run of the DAG with the same configuration, finds the models
it made, links each new model to the old one (new ``DerivedFrom`` old, as SageMaker
links a new version to its origin) and says whether their digests are equal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_lineage import airflow_runs
from airflow_lineage.exceptions import AirflowRunError, ReproduceError
from airflow_lineage.model import (
    Artifact,
    AssociationType,
    Entity,
    SourceIdType,
    SourceType,
    utcnow,
)
from airflow_lineage.recipe import (
    MODEL_TYPES,
    Provenance,
    digest_map,
    model_of,
    provenance,
    run_of,
    step_name,
)
from airflow_lineage.store.base import LineageStore
from airflow_lineage.verify import check

__all__ = [
    "DIRTY",
    "MANIFEST_VERSION",
    "InputCheck",
    "ModelMatch",
    "ReproduceError",
    "Rerun",
    "build_manifest",
    "check_inputs",
    "link_models",
    "load_manifest",
    "missing",
    "rerun",
    "subject_run",
]

MANIFEST_VERSION = 1
DIRTY = "-dirty"
"""The suffix of a code version taken from a git work tree with uncommitted changes."""


def _artifact(a: Artifact, **extra: Any) -> dict[str, Any]:
    digests = digest_map(a)
    return {
        "arn": a.arn,
        "uri": a.source_uri,
        "type": a.type,
        "version": digests.get(SourceIdType.S3_VERSION.value),
        "digests": dict(digests),
        **extra,
    }


def _producer_task(store: LineageStore, model: Artifact) -> str | None:
    _, action = model_of(store, model)
    return action.properties.get("airflow:task_id") if action is not None else None


def build_manifest(store: LineageStore, subject: Entity) -> dict[str, Any]:
    """Return the manifest of a model or endpoint (JSON-ready).

    Airflow's record of the run (configuration, DAG and bundle versions) is added when
    Airflow's database answers; otherwise ``dag.airflow`` says why it is missing.

    :raises EntityNotFoundError: no Completed step made the model.
    """
    prov = provenance(store, subject)
    dag: dict[str, Any] = {"dag_id": None, "run_id": None}
    if prov.run is not None:
        dag = {"dag_id": prov.run[0], "run_id": prov.run[1]}
        try:
            dag.update(airflow_runs.run_info(*prov.run).as_dict())
            dag["airflow"] = "recorded"
        except AirflowRunError as e:
            dag["airflow"] = f"unavailable: {e}"
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": utcnow().isoformat(),
        "subject": {"arn": subject.arn, "type": subject.type, "uri": subject.source_uri},
        "models": [_artifact(m, task_id=_producer_task(store, m)) for m in prov.models],
        "dag": dag,
        "code": _code(prov, dag),
        "parameters": prov.parameters,
        "images": [_artifact(i) for i in prov.images],
        "inputs": [
            _artifact(i, produced_in_run=i.arn in prov.produced_in_run) for i in prov.inputs
        ],
        "steps": [
            {"task": step_name(s), "type": s.type, "status": s.status.value, "arn": s.arn}
            for s in prov.steps
        ],
    }


def _code(prov: Provenance, dag: Mapping[str, Any]) -> dict[str, Any]:
    """Return the code version: the DAG bundle's version where Airflow keeps one, and
    each step's recorded version (a git commit, ``-dirty`` for a modified work tree)."""
    steps = prov.code_versions
    bundle = dag.get("bundle_version")
    return {
        "bundle_name": dag.get("bundle_name"),
        "bundle_version": bundle,
        "version": bundle
        or (sorted(set(steps.values()))[0] if len(set(steps.values())) == 1 else None),
        "steps": steps,
        "dirty": any(v.endswith(DIRTY) for v in steps.values()),
    }


def load_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest file.

    :raises ValueError: it is not a manifest of a version this code reads.
    """
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not JSON: {e}") from e
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        raise ValueError(f"{path} is not a manifest of version {MANIFEST_VERSION}")
    for key in ("models", "dag", "inputs"):
        if key not in data:
            raise ValueError(f"{path} is not a complete manifest: it has no {key!r}")
    return data


@dataclass(frozen=True, slots=True)
class InputCheck:
    """Whether one input is still there with the digests it had."""

    uri: str
    type: str
    ok: bool
    reason: str
    produced_in_run: bool


def check_inputs(manifest: Mapping[str, Any]) -> list[InputCheck]:
    """Recompute the digests of every input of a manifest and compare them.

    An input recorded without a digest is not available as recorded: nothing can show
    it is the same data.
    """
    out = []
    for item in manifest["inputs"]:
        uri, kind, rebuilt = item["uri"], item["type"], bool(item.get("produced_in_run"))
        digests = item.get("digests") or {}
        if not digests:
            out.append(InputCheck(uri, kind, False, "recorded without a digest", rebuilt))
            continue
        failures = []
        for id_type, value in sorted(digests.items()):
            ok, why = check(uri, SourceType(id_type, value))
            if not ok:
                failures.append(why)
        reason = "; ".join(failures) if failures else "same digest"
        out.append(InputCheck(uri, kind, not failures, reason, rebuilt))
    return out


@dataclass(frozen=True, slots=True)
class ModelMatch:
    """An old model and the one the new run made in its place."""

    old_arn: str
    old_uri: str
    new_arn: str | None
    new_uri: str | None
    identical: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Rerun:
    """A new run of a model's DAG and what came of its models."""

    dag_id: str
    run_id: str
    state: str
    models: tuple[ModelMatch, ...]

    @property
    def identical(self) -> bool:
        """Return True when the run succeeded and every model has the old digests."""
        return (
            self.state == "success" and bool(self.models) and all(m.identical for m in self.models)
        )


def _counterpart(
    store: LineageStore, old: Mapping[str, Any], old_run: str, new_run: str, dag_id: str
) -> Artifact | None:
    """Return the model the new run made in the place of ``old``: the same task's output
    of the same type, at the same URI with the run id replaced when the URI holds it."""
    from airflow_lineage.gate import model_of_task_run  # the one reading of a task run's models

    task = old.get("task_id")
    if not task:
        return None
    found = [
        e
        for e in store.get_many(
            model_of_task_run(store, dag_id, new_run, task, model_types=MODEL_TYPES)
        ).values()
        if isinstance(e, Artifact) and e.type == old["type"]
    ]
    want = old["uri"].replace(old_run, new_run) if old_run in old["uri"] else old["uri"]
    same_place = [a for a in found if a.source_uri == want]
    if same_place:
        return same_place[0]
    return found[0] if len(found) == 1 else None


def _same_digests(old: Mapping[str, str], new: Artifact) -> bool:
    return bool(old) and dict(old) == dict(digest_map(new))


def link_models(
    store: LineageStore, manifest: Mapping[str, Any], new_run: str
) -> tuple[ModelMatch, ...]:
    """Find each model of the manifest that ``new_run`` made again and link it
    (new ``DerivedFrom`` old)."""
    dag_id, old_run = manifest["dag"]["dag_id"], manifest["dag"]["run_id"]
    matches = []
    for old in manifest["models"]:
        new = _counterpart(store, old, old_run, new_run, dag_id)
        if new is None:
            matches.append(
                ModelMatch(
                    old["arn"],
                    old["uri"],
                    None,
                    None,
                    False,
                    f"the new run recorded no {old['type']} from task {old.get('task_id')!r}",
                )
            )
            continue
        store.add_association(new.arn, old["arn"], AssociationType.DERIVED_FROM)
        same = _same_digests(old.get("digests") or {}, new)
        if same:
            reason = "same digest"
        elif not old.get("digests") or not new.source_types:
            reason = "no digest to compare"
        else:
            reason = f"digest differs: was {old['digests']}, now {dict(digest_map(new))}"
        matches.append(ModelMatch(old["arn"], old["uri"], new.arn, new.source_uri, same, reason))
    return tuple(matches)


def rerun(
    store: LineageStore,
    manifest: Mapping[str, Any],
    *,
    local: bool = False,
    timeout: float = 3600.0,
) -> Rerun:
    """Start a new run of the manifest's DAG with its configuration and link its models.

    :param local: run the DAG in this process (as ``airflow dags test``), instead of
        queueing it for the scheduler and waiting up to ``timeout`` seconds.
    :raises ReproduceError: the manifest names no DAG run.
    :raises AirflowRunError: Airflow could not start or finish the run.
    """
    dag = manifest["dag"]
    dag_id = dag.get("dag_id")
    if not dag_id or not dag.get("run_id"):
        raise ReproduceError("the manifest names no Airflow DAG run: there is nothing to rerun")
    conf = dict(dag.get("conf") or {})
    if local:
        run_id, state = airflow_runs.run_locally(
            dag_id, conf, dag.get("file"), dag.get("bundle_name")
        )
    else:
        run_id = airflow_runs.trigger(dag_id, conf)
        state = airflow_runs.wait(dag_id, run_id, timeout)
    models = link_models(store, manifest, run_id) if state == "success" else ()
    return Rerun(dag_id, run_id, state, models)


def subject_run(store: LineageStore, subject: Entity) -> tuple[str, str] | None:
    """Return the (dag_id, run_id) that made a model or deployed to an endpoint."""
    return run_of(model_of(store, subject)[1])


def missing(checks: Sequence[InputCheck]) -> list[InputCheck]:
    """Return the inputs a rerun cannot rebuild that are not available as recorded."""
    return [c for c in checks if not c.ok and not c.produced_in_run]
