"""The errors airflow-lineage raises for domain failures.

Bad arguments raise the built-in ``ValueError`` or ``TypeError``. Everything else that
can go wrong in the domain is a :class:`LineageError`::

    LineageError
    ├── EntityNotFoundError      an ARN, name or source URI that no entity has
    ├── AccessDeniedError        another account owns that lineage (cross-account sharing)
    ├── AssociationsExistError   a delete refused because the entity still has edges
    ├── InvalidPageTokenError    a NextToken that this query did not hand out
    ├── StoreError               the backend failed (unreachable, schema, driver error)
    │   └── StoreUnavailableError    it did not answer (down, a timeout, a lock held too
    │                                long): the same call may succeed later
    ├── AirflowRunError          Airflow cannot say what a DAG run was, or start or finish one
    ├── ReproduceError           a model cannot be reproduced (no DAG run made it)
    └── AttestationError         signed provenance cannot be made or does not verify

Driver errors (SQLAlchemy, botocore) are translated once, at the store boundary, and
chained with ``raise ... from``.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "AirflowRunError",
    "AssociationsExistError",
    "AttestationError",
    "EntityNotFoundError",
    "InvalidPageTokenError",
    "LineageError",
    "ReproduceError",
    "StoreError",
    "StoreUnavailableError",
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


class AirflowRunError(LineageError):
    """Airflow could not say what a DAG run was, or could not start or finish one."""


class ReproduceError(LineageError):
    """A model cannot be reproduced: no Airflow DAG run made it."""


class StoreUnavailableError(StoreError):
    """The lineage store did not answer in time; the same call may succeed later.

    A lineage record that meets it waits in the outbox; one that meets any other
    :class:`LineageError` can never be written as it is (see
    :mod:`airflow_lineage.capture.outbox`).
    """


class AttestationError(LineageError):
    """Signed provenance cannot be made or does not verify (key, envelope, statement)."""
