"""A model's provenance chain as an in-toto bundle: JSON lines of DSSE envelopes.

``collect`` walks the model's upstream lineage in a store, checks every step there
(``chain.check_chain``) and returns the steps' envelopes followed by one more: a chain
manifest, a Statement whose subject is the model and whose predicate
(:data:`CHAIN_PREDICATE`) lists every step's action ARN and the SHA-256 of its envelope,
signed with the deployment key. ``verify`` checks a bundle offline, with no store:

- every line is a DSSE envelope signed by one of the given keys, holding a valid in-toto
  Statement (the reference library's validators, where it is installed);
- the manifest lists exactly the step envelopes present (one missing: a truncated chain);
- the model is a subject of a step, as the manifest names it, and every step is reached
  from it through the statements' subjects and dependencies;
- a step's dependency that another step of the bundle produced is what that step signed
  for it (URI and digests).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_lineage.exceptions import AttestationError
from airflow_lineage.model import Action, Direction, Entity
from airflow_lineage.provenance import dsse
from airflow_lineage.provenance.chain import check_chain
from airflow_lineage.provenance.formats import format_problems
from airflow_lineage.provenance.keys import PublicKey, SigningKey
from airflow_lineage.provenance.statement import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    canonical,
    descriptor,
)
from airflow_lineage.query import LineageQuery
from airflow_lineage.store.base import LineageStore

__all__ = ["CHAIN_PREDICATE", "BundleCheck", "collect", "verify"]

CHAIN_PREDICATE = "urn:airflow-lineage:provenance-chain:v1"
"""The predicateType of the manifest that closes a bundle."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def collect(
    store: LineageStore, model_arn: str, key: SigningKey, keys: Sequence[PublicKey]
) -> list[str]:
    """Return the bundle's lines: every step's envelope, then the signed manifest.

    :param key: signs the manifest.
    :param keys: the trusted keys the chain is checked with first.
    :raises AttestationError: the chain does not verify in the store (each problem named).
    """
    result = store.query(
        LineageQuery(
            start_arns=(model_arn,),
            direction=Direction.ASCENDANTS,
            include_edges=True,
            max_depth=1000,
        )
    )
    arns = list(dict.fromkeys([model_arn, *(v.arn for v in result.vertices)]))
    entities: dict[str, Entity] = store.get_many(arns)
    if model_arn not in entities:
        raise AttestationError(f"no lineage entity has the ARN {model_arn}")
    actions = sorted(a for a, e in entities.items() if isinstance(e, Action))
    signed = store.attestations(actions)
    found = check_chain(entities, result.edges, signed, keys)
    if not found.passed:
        raise AttestationError(
            "the provenance chain does not verify in the store:\n  " + "\n  ".join(found.problems)
        )
    if not actions:
        raise AttestationError(f"{model_arn} has no recorded step to attest")
    lines = [signed[a].envelope for a in actions]
    manifest = {
        "_type": STATEMENT_TYPE,
        "subject": [descriptor(entities[model_arn])],
        "predicateType": CHAIN_PREDICATE,
        "predicate": {
            "model": model_arn,
            "steps": [{"name": a, "digest": {"sha256": _sha256(line)}} for a, line in
                      zip(actions, lines, strict=True)],
        },
    }  # fmt: skip
    lines.append(dsse.sign(canonical(manifest), key).to_json())
    return lines


@dataclass(frozen=True, slots=True)
class BundleCheck:
    """The result of verifying a bundle offline."""

    model: str | None
    steps: int
    problems: tuple[str, ...]
    signers: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Return whether the bundle verified."""
        return not self.problems and self.model is not None


def _step_graph(
    statements: dict[str, dict[str, Any]],
) -> tuple[dict[str, set[str]], dict[str, set[str]], list[str]]:
    """Return producers (artifact -> steps), dependencies (step -> names), and where a
    step's dependency differs from what its producer signed for it."""
    producers: dict[str, set[str]] = defaultdict(set)
    made: dict[str, dict[str, Any]] = {}
    needs: dict[str, set[str]] = {}
    for step, st in statements.items():
        for subject in st["subject"]:
            if subject["name"] != step:
                producers[subject["name"]].add(step)
                made[subject["name"]] = subject
    problems = []
    for step, st in statements.items():
        deps = st["predicate"]["buildDefinition"].get("resolvedDependencies", [])
        needs[step] = {d["name"] for d in deps}
        for dep in deps:
            signed = made.get(dep["name"])
            if signed is not None and "uri" in dep and signed != dep:
                problems.append(
                    f"step {step}: input {dep['name']} differs from what its producer signed"
                )
    return producers, needs, problems


def verify(lines: Iterable[str], keys: Sequence[PublicKey]) -> BundleCheck:
    """Verify a bundle with no store (see the module docstring)."""
    problems: list[str] = []
    signers: set[str] = set()
    statements: dict[str, dict[str, Any]] = {}
    digests: dict[str, str] = {}
    manifests: list[dict[str, Any]] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            envelope = dsse.Envelope.from_json(line)
            statement = envelope.json_payload()
            name = statement.get("predicate", {}).get("runDetails", {}).get("metadata", {})
            where += f" (step {name.get('invocationId')})" if name.get("invocationId") else ""
            signers.add(envelope.signed_by(keys).keyid)
        except AttestationError as e:
            problems.append(f"{where}: {e}")
            continue
        except (AttributeError, TypeError):
            problems.append(f"{where}: not an in-toto statement")
            continue
        problems += [f"{where}: {p}" for p in format_problems(statement)]
        if statement.get("predicateType") == CHAIN_PREDICATE:
            manifests.append(statement)
        elif statement.get("predicateType") == PREDICATE_TYPE:
            step = str(name.get("invocationId"))
            if step in statements:
                problems.append(f"{where}: a second envelope of the step")
            statements[step] = statement
            digests[step] = _sha256(line.strip())
        else:
            problems.append(f"{where}: predicateType {statement.get('predicateType')!r}")
    if len(manifests) != 1:
        problems.append(
            f"the bundle holds {len(manifests)} chain manifests, not 1 (truncated or not "
            "written by airflow-lineage attest)"
        )
        return BundleCheck(None, len(statements), tuple(problems), tuple(sorted(signers)))
    try:
        model, found = _check_chain(manifests[0], statements, digests)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        model, found = None, [f"the chain manifest or a statement is malformed: {e!r}"]
    problems += found
    return BundleCheck(model, len(statements), tuple(problems), tuple(sorted(signers)))


def _check_chain(
    statement: dict[str, Any], statements: dict[str, dict[str, Any]], digests: dict[str, str]
) -> tuple[str, list[str]]:
    """Return the model and what is wrong with the chain the manifest lists."""
    problems: list[str] = []
    manifest = statement["predicate"]
    model = str(manifest["model"])
    (subject,) = statement["subject"]
    listed = {s["name"]: s["digest"]["sha256"] for s in manifest["steps"]}
    for step in sorted(set(listed) - set(statements)):
        problems.append(f"step {step}: listed in the manifest but missing (truncated chain)")
    for step in sorted(set(statements) - set(listed)):
        problems.append(f"step {step}: not part of the signed chain")
    for step in sorted(set(listed) & set(statements)):
        if listed[step] != digests[step]:
            problems.append(f"step {step}: its envelope is not the one the manifest lists")
    producers, needs, mismatched = _step_graph(statements)
    problems += mismatched
    if not producers.get(model):
        problems.append(f"no step of the bundle produced the model {model}")
    for step in producers.get(model, set()):
        if subject not in statements[step]["subject"]:
            problems.append(f"step {step}: the model it produced differs from the manifest's")
    reached: set[str] = set()
    todo = [model]
    while todo:
        for step in producers.get(todo.pop(), set()) - reached:
            reached.add(step)
            todo += needs.get(step, set())
    for step in sorted(set(statements) - reached):
        problems.append(f"step {step}: not connected to the model's chain")
    return model, problems
