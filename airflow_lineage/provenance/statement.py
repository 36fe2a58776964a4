"""The in-toto Statement (v1) with a SLSA Provenance (v1) predicate of one step.

For the action of one task try::

    _type          https://in-toto.io/Statement/v1
    subject        the action's own record (name: its ARN, digest: sha256 of its record),
                   then every output it Produced (name: ARN, uri, digest: its digests)
    predicateType  https://slsa.dev/provenance/v1
    predicate.buildDefinition
      buildType             BUILD_TYPE
      externalParameters    DAG, task, run, map index, try, operator, step parameters,
                            code version
      internalParameters    the action's whole record (every field, as ``export`` has it)
      resolvedDependencies  every entity with an edge into the action (inputs that
                            ContributedTo it, contexts AssociatedWith it), with digests
    predicate.runDetails
      builder.id            the Airflow deployment ([ml_lineage] builder_id)
      metadata              invocationId (the action ARN), startedOn, finishedOn
      byproducts            the contexts the action is AssociatedWith

A digest set names each recorded digest by algorithm: ``sha256`` and ``md5`` where the
digest is one, else ``airflowLineage<SourceIdType>`` (e.g. an S3 ETag). An artifact
recorded without any is named by ``airflowLineageArn``, the SHA-256 of its ARN (an
in-toto subject needs a digest), so the statement still says which artifact it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_lineage.model import Action, Artifact, Entity
from airflow_lineage.records import format_time, to_record

__all__ = [
    "BUILD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "action_subject",
    "build_statement",
    "canonical",
    "descriptor",
    "digest_set",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:airflow-lineage:build-type:airflow-task:v1"
"""How to read ``buildDefinition``: the parameters of one try of an Airflow task."""

_HEX = frozenset("0123456789abcdef")
_EXTERNAL = {
    "airflow:dag_id": "dag_id",
    "airflow:task_id": "task_id",
    "airflow:run_id": "run_id",
    "airflow:map_index": "map_index",
    "airflow:try_number": "try_number",
    "airflow:operator": "operator",
    "code_version": "code_version",
}


def canonical(value: Any) -> bytes:
    """Return ``value`` as canonical JSON bytes (sorted keys, no spaces, ASCII)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_set(entity: Entity | str) -> dict[str, str]:
    """Return the in-toto digest set of an entity (or of an ARN known only by name)."""
    if not isinstance(entity, Artifact) or not entity.source_types:
        arn = entity if isinstance(entity, str) else entity.arn
        return {"airflowLineageArn": _sha256(arn.encode())}
    out: dict[str, list[str]] = {}
    for st in entity.source_types:
        kind, value = st.id_type.value, st.value
        algo, _, rest = value.partition(":")
        if kind == "Custom" and algo == "sha256" and len(rest) == 64 and set(rest) <= _HEX:
            out.setdefault("sha256", []).append(rest)
        elif kind == "MD5Hash" and len(value) == 32 and set(value.lower()) <= _HEX:
            out.setdefault("md5", []).append(value.lower())
        else:
            out.setdefault(f"airflowLineage{kind}", []).append(value)
    return {k: ",".join(sorted(v)) for k, v in out.items()}


def descriptor(entity: Entity | str) -> dict[str, Any]:
    """Return the in-toto ResourceDescriptor of an entity (or of a bare ARN)."""
    if isinstance(entity, str):
        return {"name": entity, "digest": digest_set(entity)}
    return {
        "name": entity.arn,
        "uri": entity.source_uri,
        "digest": digest_set(entity),
        "annotations": {"lineageType": entity.lineage_type.value, "type": entity.type},
    }


def action_subject(action: Action) -> dict[str, Any]:
    """Return the subject that names the action's own record by its digest."""
    return {
        "name": action.arn,
        "digest": {"sha256": _sha256(canonical(to_record(action)))},
        "annotations": {"lineageType": "Action", "type": action.type},
    }


def build_statement(
    action: Action,
    dependencies: Iterable[Entity | str],
    outputs: Iterable[Artifact],
    contexts: Iterable[Entity | str],
    *,
    builder_id: str,
) -> dict[str, Any]:
    """Return the statement of one step (see the module docstring).

    :param dependencies: every entity (or ARN) with an edge into the action.
    :param outputs: the artifacts the action Produced.
    :param contexts: the entities the action is AssociatedWith.
    """
    props: Mapping[str, str] = action.properties
    external: dict[str, Any] = {new: props[old] for old, new in _EXTERNAL.items() if old in props}
    external["parameters"] = {k[6:]: v for k, v in props.items() if k.startswith("param:")}
    finished = action.modified if action.modified is not None else action.created
    return {
        "_type": STATEMENT_TYPE,
        "subject": [action_subject(action), *(descriptor(o) for o in outputs)],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"action": to_record(action)},
                "resolvedDependencies": [descriptor(d) for d in dependencies],
            },
            "runDetails": {
                "builder": {"id": builder_id},
                "metadata": {
                    "invocationId": action.arn,
                    "startedOn": _rfc3339(action.created),
                    "finishedOn": _rfc3339(finished),
                },
                "byproducts": [descriptor(c) for c in contexts],
            },
        },
    }


def _rfc3339(value: Any) -> str:
    return str(format_time(value))
