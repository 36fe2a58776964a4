"""Check a model's lineage against the signed provenance of its steps.

For every action on the walked lineage:

- its envelope exists and is signed by a trusted key;
- the statement is an in-toto Statement v1 with a SLSA Provenance v1 predicate;
- the action's stored record (type, status, every property, times) is the signed one;
- the entities with an edge into the action are exactly the signed dependencies, each
  with the signed URI and digests;
- every walked edge out of the action leads to a signed subject with its URI and digests.

An edge between two entities that are not actions (no step vouches for it) is refused
too. Each problem names the step (or the edge); nothing that cannot be checked passes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_lineage.exceptions import AttestationError
from airflow_lineage.model import Action, Association, Edge, Entity
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.provenance.dsse import Envelope
from airflow_lineage.provenance.keys import PublicKey
from airflow_lineage.provenance.statement import (
    BUILD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    action_subject,
    descriptor,
)
from airflow_lineage.records import to_record

__all__ = ["ChainCheck", "check_chain", "check_step", "step_label"]


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """What checking the signed provenance found: steps verified, and every problem."""

    steps: int
    problems: tuple[str, ...]
    failed: tuple[str, ...]
    """The ARNs of the steps (or edge ends) with a problem."""
    signers: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Return whether every step verified."""
        return not self.problems


def step_label(action: Action) -> str:
    """Return how a person names an Airflow step's try: dag.task[map] try n (ARN)."""
    p = action.properties
    if "airflow:dag_id" not in p:
        return f"{action.type} {action.arn}"
    label = f"{p.get('airflow:dag_id')}.{p.get('airflow:task_id')}"
    if "airflow:map_index" in p:
        label += f"[{p['airflow:map_index']}]"
    return f"{label} try {p.get('airflow:try_number', '?')} ({action.arn})"


def _differences(signed: Mapping[str, Any], stored: Mapping[str, Any]) -> list[str]:
    """Return the fields (``properties.x`` for a property) whose values differ."""
    out = []
    for key in sorted(set(signed) | set(stored)):
        a, b = signed.get(key), stored.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            out.append(key)
    return out


def _statement(envelope_json: str, keys: Sequence[PublicKey]) -> tuple[dict[str, Any], str]:
    """Return the statement of an envelope and the id of the trusted key that signed it.

    :raises AttestationError: the envelope is malformed or not signed by a trusted key.
    """
    envelope = Envelope.from_json(envelope_json)
    key = envelope.signed_by(keys)
    statement = envelope.json_payload()
    if statement.get("_type") != STATEMENT_TYPE:
        raise AttestationError(f"not an in-toto Statement v1 (_type {statement.get('_type')!r})")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError(f"predicateType is not {PREDICATE_TYPE}")
    build = statement.get("predicate", {}).get("buildDefinition", {})
    if build.get("buildType") != BUILD_TYPE:
        raise AttestationError(f"buildType is not {BUILD_TYPE}")
    return statement, key.keyid


def _by_name(items: object, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
    ):
        raise AttestationError(f"{where} is not a list of named resource descriptors")
    return {i["name"]: i for i in items}


def _same(signed: Mapping[str, Any], entity: Entity | None) -> bool:
    """Whether a stored entity is what a signed descriptor names (by ARN alone when the
    step knew it only by ARN: an artifact's ARN is keyed by its content)."""
    if entity is None:
        return False
    if "uri" not in signed:
        return signed.get("name") == entity.arn
    return dict(signed) == descriptor(entity)


def check_step(
    action: Action,
    envelope_json: str,
    keys: Sequence[PublicKey],
    inputs: Mapping[str, Entity | None],
    outputs: Mapping[str, Entity | None],
) -> tuple[list[str], str | None]:
    """Check one step's envelope against its stored record and edges.

    :param inputs: every entity with an edge into the action (None: unreadable).
    :param outputs: the walked entities the action has an edge to.
    :returns: the problems found (without the step's name) and the signer's key id.
    """
    try:
        statement, keyid = _statement(envelope_json, keys)
        build = statement["predicate"]["buildDefinition"]
        subjects = _by_name(statement.get("subject"), "subject")
        deps = _by_name(build.get("resolvedDependencies"), "resolvedDependencies")
        signed_action = build.get("internalParameters", {}).get("action")
    except (AttestationError, KeyError, TypeError, AttributeError) as e:
        return [str(e)], None
    problems = []
    stored = to_record(action)
    if not isinstance(signed_action, dict) or subjects.get(action.arn) != action_subject(action):
        changed = _differences(signed_action, stored) if isinstance(signed_action, dict) else []
        problems.append(
            "the stored action differs from the signed one"
            + (f" ({', '.join(changed)} changed)" if changed else " (another action was signed)")
        )
    for arn in sorted(set(inputs) - set(deps)):
        problems.append(f"input {arn} is in the graph but not in the signed dependencies")
    for arn in sorted(set(deps) - set(inputs)):
        problems.append(f"signed input {arn} is not in the graph (lineage truncated)")
    for arn in sorted(set(inputs) & set(deps)):
        if not _same(deps[arn], inputs[arn]):
            problems.append(f"input {arn}: its recorded URI or digests differ from the signed")
    for arn, entity in sorted(outputs.items()):
        if arn not in subjects:
            problems.append(f"output {arn} is in the graph but not a signed subject")
        elif not _same(subjects[arn], entity):
            problems.append(f"output {arn}: its recorded URI or digests differ from the signed")
    return problems, keyid


def check_chain(
    entities: Mapping[str, Entity],
    edges: Iterable[Association | Edge],
    attestations: Mapping[str, Attestation],
    keys: Sequence[PublicKey],
) -> ChainCheck:
    """Check every action among ``entities`` (the walked lineage) and every edge.

    :param entities: the walked entities (the model and its ancestors), by ARN.
    :param edges: the walked edges; every edge into an action must be among them.
    :param attestations: the stored attestations, by action ARN.
    :param keys: the trusted public keys.
    """
    into: dict[str, set[str]] = defaultdict(set)
    out_of: dict[str, set[str]] = defaultdict(set)
    problems: list[str] = []
    failed: list[str] = []
    for edge in edges:
        src = entities.get(edge.source_arn)
        dst = entities.get(edge.destination_arn)
        if isinstance(dst, Action):
            into[dst.arn].add(edge.source_arn)
        if isinstance(src, Action):
            out_of[src.arn].add(edge.destination_arn)
        if not isinstance(src, Action) and not isinstance(dst, Action):
            problems.append(
                f"edge {edge.source_arn} -> {edge.destination_arn}: no signed step vouches "
                "for it (neither end is a step)"
            )
            failed += [edge.source_arn, edge.destination_arn]
    actions = [e for e in entities.values() if isinstance(e, Action)]
    signers: set[str] = set()
    for action in actions:
        label = step_label(action)
        signed = attestations.get(action.arn)
        if signed is None:
            problems.append(f"step {label}: no signed provenance (envelope missing)")
            failed.append(action.arn)
            continue
        found, keyid = check_step(
            action,
            signed.envelope,
            keys,
            {a: entities.get(a) for a in into[action.arn]},
            {a: entities.get(a) for a in out_of[action.arn]},
        )
        if keyid:
            signers.add(keyid)
        if found:
            problems += [f"step {label}: {p}" for p in found]
            failed.append(action.arn)
    return ChainCheck(
        len(actions), tuple(problems), tuple(dict.fromkeys(failed)), tuple(sorted(signers))
    )
