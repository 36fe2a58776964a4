"""airflow-lineage: SageMaker-compatible ML lineage for Apache Airflow 3.

Open a store with :func:`connect`, record artifacts, actions, contexts and
associations, and ask for a model's whole lineage in one :meth:`LineageStore.query`.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from airflow_lineage.exceptions import (
        AccessDeniedError,
        AssociationsExistError,
        AttestationError,
        EntityNotFoundError,
        InvalidPageTokenError,
        LineageError,
        StoreError,
    )
    from airflow_lineage.model import (
        Action,
        ActionStatus,
        Artifact,
        Association,
        AssociationType,
        Context,
        Direction,
        Edge,
        LineageGroup,
        LineageType,
        SourceIdType,
        SourceType,
        Vertex,
    )
    from airflow_lineage.query import LineageFilter, LineageQuery, LineageResult
    from airflow_lineage.store import LineageStore, Page, connect

__version__ = "0.1.0"

# Airflow imports this package in every process (its providers manager reads our provider
# info, the task runner loads our plugin), so the public names are imported on first use.
_LAZY: dict[str, str] = {
    "AccessDeniedError": "airflow_lineage.exceptions",
    "AssociationsExistError": "airflow_lineage.exceptions",
    "AttestationError": "airflow_lineage.exceptions",
    "EntityNotFoundError": "airflow_lineage.exceptions",
    "InvalidPageTokenError": "airflow_lineage.exceptions",
    "LineageError": "airflow_lineage.exceptions",
    "StoreError": "airflow_lineage.exceptions",
    "Action": "airflow_lineage.model",
    "ActionStatus": "airflow_lineage.model",
    "Artifact": "airflow_lineage.model",
    "Association": "airflow_lineage.model",
    "AssociationType": "airflow_lineage.model",
    "Context": "airflow_lineage.model",
    "Direction": "airflow_lineage.model",
    "Edge": "airflow_lineage.model",
    "LineageGroup": "airflow_lineage.model",
    "LineageType": "airflow_lineage.model",
    "SourceIdType": "airflow_lineage.model",
    "SourceType": "airflow_lineage.model",
    "Vertex": "airflow_lineage.model",
    "LineageFilter": "airflow_lineage.query",
    "LineageQuery": "airflow_lineage.query",
    "LineageResult": "airflow_lineage.query",
    "LineageStore": "airflow_lineage.store",
    "Page": "airflow_lineage.store",
    "connect": "airflow_lineage.store",
}


def __getattr__(name: str) -> object:
    """Import a public name's module on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    """List the public names too, imported or not."""
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AccessDeniedError",
    "Action",
    "ActionStatus",
    "Artifact",
    "Association",
    "AssociationType",
    "AssociationsExistError",
    "AttestationError",
    "Context",
    "Direction",
    "Edge",
    "EntityNotFoundError",
    "InvalidPageTokenError",
    "LineageError",
    "LineageFilter",
    "LineageGroup",
    "LineageQuery",
    "LineageResult",
    "LineageStore",
    "LineageType",
    "Page",
    "SourceIdType",
    "SourceType",
    "StoreError",
    "Vertex",
    "__version__",
    "connect",
]
