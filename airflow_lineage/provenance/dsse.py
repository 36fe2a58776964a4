"""DSSE envelopes (Dead Simple Signing Envelope, v1) as the in-toto attestation spec
defines them: ``{"payload": b64, "payloadType": ..., "signatures": [{"keyid", "sig"}]}``,
each signature made over the pre-authentication encoding (PAE) of type and payload.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_lineage.exceptions import AttestationError
from airflow_lineage.provenance.keys import PublicKey, SigningKey

__all__ = ["IN_TOTO_PAYLOAD_TYPE", "Envelope", "pae", "sign"]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
"""The payloadType of an in-toto Statement."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return DSSE's pre-authentication encoding of a payload and its type."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A signed payload: its bytes, its type and ``(keyid, signature)`` pairs."""

    payload: bytes
    payload_type: str
    signatures: tuple[tuple[str, bytes], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.payload, bytes):
            raise TypeError("an envelope's payload must be bytes")
        if not isinstance(self.payload_type, str) or not self.payload_type:
            raise ValueError("an envelope needs a payloadType")

    def to_dict(self) -> dict[str, Any]:
        """Return the envelope as the DSSE JSON object."""
        return {
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "payloadType": self.payload_type,
            "signatures": [
                {"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")}
                for keyid, sig in self.signatures
            ],
        }

    def to_json(self) -> str:
        """Return the envelope as one line of JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        """Parse one DSSE envelope.

        :raises AttestationError: it is not one, naming what is wrong.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AttestationError(f"an envelope is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise AttestationError("an envelope must be a JSON object")
        try:
            payload = base64.b64decode(data["payload"], validate=True)
            kind = data["payloadType"]
            sigs = tuple(
                (str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
                for s in data["signatures"]
            )
            return cls(payload, kind, sigs)
        except (KeyError, TypeError, AttributeError, ValueError, binascii.Error) as e:
            raise AttestationError(
                f"not a DSSE envelope (payload, payloadType, signatures): {e!r}"
            ) from e

    def signed_by(self, keys: Iterable[PublicKey]) -> PublicKey:
        """Return the first of ``keys`` whose signature on this envelope verifies.

        :raises AttestationError: none does; says whether the signer is unknown or the
            signature does not match.
        """
        by_id = {k.keyid: k for k in keys}
        if not self.signatures:
            raise AttestationError("the envelope is not signed")
        message = pae(self.payload_type, self.payload)
        for keyid, sig in self.signatures:
            key = by_id.get(keyid)
            if key is not None and key.verify(sig, message):
                return key
        # DSSE's keyid is only a hint: try every key before calling the signer unknown.
        for _, sig in self.signatures:
            for key in by_id.values():
                if key.verify(sig, message):
                    return key
        known = [kid for kid, _ in self.signatures if kid in by_id]
        if known:
            raise AttestationError(
                f"the signature of trusted key {known[0][:16]} does not match the envelope "
                "(it was changed after signing)"
            )
        ids = ", ".join(kid[:16] or "(no keyid)" for kid, _ in self.signatures)
        raise AttestationError(f"signed by an untrusted key ({ids})")

    def json_payload(self) -> dict[str, Any]:
        """Return the payload parsed as an in-toto JSON statement.

        :raises AttestationError: it is of another type or not a JSON object.
        """
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise AttestationError(
                f"payloadType is {self.payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE!r}"
            )
        try:
            body = json.loads(self.payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AttestationError(f"the payload is not JSON: {e}") from e
        if not isinstance(body, dict):
            raise AttestationError("the payload is not a JSON object")
        return body


def sign(payload: bytes, key: SigningKey, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> Envelope:
    """Return ``payload`` signed by ``key`` in a DSSE envelope."""
    return Envelope(payload, payload_type, ((key.keyid, key.sign(pae(payload_type, payload))),))
