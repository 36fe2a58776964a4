"""Sign the record of one step: the envelope that is stored with its action.

An :class:`Attestation` is what a store keeps next to an action: the DSSE envelope (as
JSON) of the action's statement, and the action's modification time, so that records
written out of order keep the envelope of the action's stored version (the store applies
the same "newest wins" rule to both, in one transaction).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_lineage.model import Action, Artifact, Association, Entity

if TYPE_CHECKING:
    from airflow_lineage.provenance.keys import SigningKey

__all__ = ["Attestation", "builder_id", "sign_step"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attestation:
    """The DSSE envelope (JSON) of an action's statement, as of ``modified``."""

    arn: str
    envelope: str
    modified: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.arn, str) or not self.arn.startswith("arn:"):
            raise ValueError(f"an attestation names an action ARN, not {self.arn!r}")
        if not isinstance(self.envelope, str) or not self.envelope.startswith("{"):
            raise ValueError("an attestation's envelope must be DSSE JSON")
        if not isinstance(self.modified, datetime) or self.modified.tzinfo is None:
            raise TypeError("an attestation's modified time must be an aware datetime")

    def as_json(self) -> dict[str, str]:
        """Return the attestation as JSON-ready data (outbox files, the relay, XCom)."""
        from airflow_lineage.records import format_time

        return {"arn": self.arn, "envelope": self.envelope, "modified": format_time(self.modified)}

    @classmethod
    def from_json(cls, data: Any) -> Attestation:
        """Return the attestation :meth:`as_json` made.

        :raises KeyError, TypeError, ValueError: ``data`` is not one.
        """
        from airflow_lineage.records import parse_time

        return cls(str(data["arn"]), str(data["envelope"]), parse_time(data["modified"]))


def builder_id(keyid: str) -> str:
    """Return ``runDetails.builder.id``: ``[ml_lineage] builder_id``, else a URN naming
    the deployment by its signing key."""
    from airflow_lineage import config

    return config.builder_id() or f"urn:airflow-lineage:deployment:{keyid[:32]}"


signing_seconds = 0.0
"""Time this process has spent signing (capture reports it per try)."""


def sign_step(
    action: Action, entities: Sequence[Entity], associations: Sequence[Association]
) -> Attestation | None:
    """Return the signed attestation of ``action`` from the record it is written with.

    The statement covers every edge of the record that touches the action. Returns None
    (and logs why) when signing is off or the key cannot be had: capture never fails a
    task for it, and a gate that requires signatures then rejects the step.
    """
    from airflow_lineage import config
    from airflow_lineage.provenance import keys

    global signing_seconds
    began = time.perf_counter()
    try:
        if not config.attest():
            return None
        key = keys.deployment_key()
        return _signed(action, entities, associations, key)
    except Exception as e:  # a missing or unreadable key must not fail the task
        log.warning("Lineage of %s is not signed: %s", action.arn, e)
        return None
    finally:
        signing_seconds += time.perf_counter() - began


def _signed(
    action: Action,
    entities: Sequence[Entity],
    associations: Sequence[Association],
    key: SigningKey,
) -> Attestation:
    """Return the attestation of ``action`` signed with ``key``."""
    from airflow_lineage.provenance import dsse
    from airflow_lineage.provenance.statement import build_statement, canonical

    by_arn = {e.arn: e for e in entities}
    deps: list[Entity | str] = []
    outputs: list[Artifact] = []
    contexts: list[Entity | str] = []
    for edge in associations:
        if edge.destination_arn == action.arn:
            deps.append(by_arn.get(edge.source_arn, edge.source_arn))
        elif edge.source_arn == action.arn:
            target = by_arn.get(edge.destination_arn)
            if isinstance(target, Artifact):
                outputs.append(target)
            else:
                contexts.append(target if target is not None else edge.destination_arn)
    statement = build_statement(action, deps, outputs, contexts, builder_id=builder_id(key.keyid))
    envelope = dsse.sign(canonical(statement), key)
    modified = action.modified if action.modified is not None else action.created
    return Attestation(action.arn, envelope.to_json(), modified)
