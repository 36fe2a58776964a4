"""The errors airflow-lineage raises for domain failures.

Bad arguments raise the built-in ``ValueError`` or ``TypeError``. Everything else that
can go wrong in the domain is a :class:`LineageError`::

    LineageError
    ├── EntityNotFoundError      an ARN, name or source URI that no entity has
    ├── AccessDeniedError        another account owns that lineage (cross-account sharing)
    ├── AssociationsExistError   a delete refused because the entity still has edges
    ├── InvalidPageTokenError    a NextToken that this query did not hand out
    ├── StoreError               the backend failed (unreachable, schema, driver error)
    └── AttestationError         signed provenance cannot be made or does not verify

Driver errors (SQLAlchemy, botocore) are translated once, at the store boundary, and
chained with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AssociationsExistError",
    "AttestationError",
    "EntityNotFoundError",
    "InvalidPageTokenError",
    "LineageError",
    "StoreError",
]


class LineageError(Exception):
    """Base class of every domain failure raised by airflow-lineage."""


class EntityNotFoundError(LineageError, LookupError):
    """No lineage entity has the given ARN, name or source."""


class AccessDeniedError(LineageError, PermissionError):
    """The caller's account may not change this lineage: another account owns it."""


class AssociationsExistError(LineageError):
    """An entity cannot be deleted while associations still reference it."""


class InvalidPageTokenError(LineageError, ValueError):
    """A pagination token is malformed or belongs to another query."""


class StoreError(LineageError):
    """The lineage store failed: unreachable, misconfigured or a driver error."""


class AttestationError(LineageError):
    """Signed provenance cannot be made or does not verify (key, envelope, statement)."""
