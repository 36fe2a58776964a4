"""airflow-lineage: SageMaker-compatible ML lineage for Apache Airflow 3.

Open a store with :func:`connect`, record artifacts, actions, contexts and
associations, and ask for a model's whole lineage in one :meth:`LineageStore.query`.
"""

from __future__ import annotations

from airflow_lineage.exceptions import (
    AccessDeniedError,
    AssociationsExistError,
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

__all__ = [
    "AccessDeniedError",
    "Action",
    "ActionStatus",
    "Artifact",
    "Association",
    "AssociationType",
    "AssociationsExistError",
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
