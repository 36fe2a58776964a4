"""What differs between the lineage of two models: inputs, parameters, code, steps, metrics.

For troubleshooting a regression: the two recipes (:func:`recipe.provenance`) side
by side. Inputs are those the run read from outside itself (data a step of the same run
produced is rebuilt by every run, and changes only when something upstream does); a
URI that holds its run's id (``runs/<run_id>/...``) is compared with the run id taken
out, so two runs of one DAG line up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_lineage.recipe import Provenance, digest_map, step_name

__all__ = ["ModelDiff", "diff"]

RUN_ID = "{run_id}"


def _inputs(prov: Provenance) -> dict[tuple[str, str], dict[str, str]]:
    run_id = prov.run[1] if prov.run else None
    out: dict[tuple[str, str], dict[str, str]] = {}
    for a in prov.inputs:
        if a.arn in prov.produced_in_run:
            continue
        uri = a.source_uri.replace(run_id, RUN_ID) if run_id else a.source_uri
        out[(uri, a.type)] = dict(digest_map(a))
    return out


def _changed(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, dict[str, str | None]]:
    return {
        k: {"a": a.get(k), "b": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    }


def _steps(prov: Provenance) -> dict[str, str]:
    return {step_name(s): f"{s.type} {s.status.value}" for s in prov.steps}


@dataclass(frozen=True, slots=True)
class ModelDiff:
    """The differences between model A's lineage and model B's (empty sections: same)."""

    a: Provenance
    b: Provenance
    inputs_added: tuple[dict[str, Any], ...]
    inputs_removed: tuple[dict[str, Any], ...]
    inputs_changed: tuple[dict[str, Any], ...]
    parameters: dict[str, dict[str, str | None]]
    code: dict[str, dict[str, str | None]]
    steps: dict[str, dict[str, str | None]]
    metrics: dict[str, dict[str, str | None]]

    @property
    def same(self) -> bool:
        """Return True when nothing compared differs."""
        return not any(
            (
                self.inputs_added,
                self.inputs_removed,
                self.inputs_changed,
                self.parameters,
                self.code,
                self.steps,
                self.metrics,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the differences as JSON-ready values."""

        def side(p: Provenance) -> dict[str, Any]:
            return {
                "arn": p.subject.arn,
                "uri": p.subject.source_uri,
                "dag_id": p.run[0] if p.run else None,
                "run_id": p.run[1] if p.run else None,
            }

        return {
            "a": side(self.a),
            "b": side(self.b),
            "same": self.same,
            "inputs": {
                "added": list(self.inputs_added),
                "removed": list(self.inputs_removed),
                "changed": list(self.inputs_changed),
            },
            "parameters": self.parameters,
            "code": self.code,
            "steps": self.steps,
            "metrics": self.metrics,
        }


def diff(a: Provenance, b: Provenance) -> ModelDiff:
    """Compare two models' recipes."""
    ins_a, ins_b = _inputs(a), _inputs(b)

    def item(key: tuple[str, str], digests: Mapping[str, str]) -> dict[str, Any]:
        return {"uri": key[0], "type": key[1], "digests": dict(digests)}

    changed = tuple(
        {"uri": k[0], "type": k[1], "a": ins_a[k], "b": ins_b[k]}
        for k in sorted(set(ins_a) & set(ins_b))
        if ins_a[k] != ins_b[k]
    )
    return ModelDiff(
        a=a,
        b=b,
        inputs_added=tuple(item(k, ins_b[k]) for k in sorted(set(ins_b) - set(ins_a))),
        inputs_removed=tuple(item(k, ins_a[k]) for k in sorted(set(ins_a) - set(ins_b))),
        inputs_changed=changed,
        parameters=_changed(a.parameters, b.parameters),
        code=_changed(a.code_versions, b.code_versions),
        steps=_changed(_steps(a), _steps(b)),
        metrics=_changed(a.metrics, b.metrics),
    )
