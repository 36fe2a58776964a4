"""Check statements against the in-toto attestation specs with the reference library.

``in-toto-attestation`` (the in-toto project's Python bindings of its protobuf
definitions) parses the Statement v1 and the SLSA Provenance v1 predicate and applies
its validators; with it absent, only the fields the specs require are checked here.
"""

from __future__ import annotations

from typing import Any

from airflow_lineage.provenance.statement import PREDICATE_TYPE, STATEMENT_TYPE

__all__ = ["format_problems", "reference_library"]


def reference_library() -> bool:
    """Return whether the in-toto reference library is installed."""
    import importlib.util

    return importlib.util.find_spec("in_toto_attestation") is not None


def format_problems(statement: dict[str, Any]) -> list[str]:
    """Return what makes ``statement`` no valid in-toto Statement v1 (and, for SLSA
    provenance, no valid Provenance v1 predicate); empty when it is valid."""
    if not reference_library():
        return _minimal(statement)
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    try:
        pb = json_format.ParseDict(statement, statement_pb2.Statement())
        Statement.copy_from_pb(pb).validate()
        if statement.get("predicateType") == PREDICATE_TYPE:
            provenance = json_format.ParseDict(statement["predicate"], provenance_pb2.Provenance())
            if not provenance.build_definition.build_type:
                return ["SLSA provenance: buildDefinition.buildType is required"]
            if not provenance.run_details.builder.id:
                return ["SLSA provenance: runDetails.builder.id is required"]
    except (json_format.ParseError, ValueError, KeyError, TypeError) as e:
        return [f"in-toto: {e}"]
    return []


def _minimal(statement: dict[str, Any]) -> list[str]:
    problems = []
    if statement.get("_type") != STATEMENT_TYPE:
        problems.append(f"_type must be {STATEMENT_TYPE}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        problems.append("at least one subject is required")
    elif not all(isinstance(s, dict) and s.get("digest") for s in subjects):
        problems.append("every subject needs a digest")
    if not statement.get("predicateType"):
        problems.append("predicateType is required")
    if not statement.get("predicate"):
        problems.append("predicate is required")
    return problems
