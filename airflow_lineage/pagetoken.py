"""The one page-token codec of every query and listing: a keyset position, not an offset.

A token says where the next page starts, in the result's own order (a query's
``(depth, ARN)``, a listing's ``(created, id)``), so any process, any store instance,
continues it without a cache, and rows added meanwhile never shift a page. It also
carries a digest of the request it belongs to (its *scope*), the snapshot bound of the
first page (µs; a query walks only the lineage created by then) and the caller's *view*
(which accounts' lineage the first page saw). A check digest over all of it refuses a
token that was edited by hand.

The token is not a secret: every page is read afresh under the caller's own
visibility, so a forged position could reveal nothing the caller cannot query itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from airflow_lineage.exceptions import InvalidPageTokenError

__all__ = ["PageToken", "scope_of"]

_VERSION = 1
_CHECK_KEY = b"airflow-lineage page token v1\x00"
_Scalar = int | str


def scope_of(parts: Sequence[object]) -> str:
    """Return the scope digest of a request from its JSON-able identifying parts."""
    raw = json.dumps(list(parts), separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _check(body: str) -> str:
    return hashlib.sha256(_CHECK_KEY + body.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class PageToken:
    """The content of an opaque NextToken.

    :param scope: the digest of the request (see :func:`scope_of`).
    :param position: the sort key of the last row handed out.
    :param snapshot: the first page's read time in µs (0: the request has none).
    :param view: what the first page could see ("" when nothing can change it).
    """

    scope: str
    position: tuple[_Scalar, ...]
    snapshot: int = 0
    view: str = ""

    def encode(self) -> str:
        """Return the token as an opaque URL-safe string."""
        body = json.dumps(
            [_VERSION, self.scope, list(self.position), self.snapshot, self.view],
            separators=(",", ":"),
        )
        raw = json.dumps([body, _check(body)], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, scope: str) -> PageToken:
        """Decode a token and check that it is intact and belongs to ``scope``.

        :raises InvalidPageTokenError: the token is malformed, edited, or another
            request's.
        """
        try:
            if not isinstance(token, str):
                raise TypeError
            padded = token + "=" * (-len(token) % 4)
            body, check = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(body, str) or check != _check(body):
                raise ValueError
            version, found, position, snapshot, view = json.loads(body)
            if version != _VERSION or not isinstance(found, str):
                raise ValueError
            if not isinstance(position, list) or not all(
                isinstance(p, int | str) and not isinstance(p, bool) for p in position
            ):
                raise ValueError
            if not isinstance(snapshot, int) or not isinstance(view, str):
                raise ValueError
        except (ValueError, TypeError) as e:
            raise InvalidPageTokenError("NextToken is not a token this store handed out") from e
        if found != scope:
            raise InvalidPageTokenError("NextToken belongs to a different query or listing")
        return cls(found, tuple(position), snapshot, view)
