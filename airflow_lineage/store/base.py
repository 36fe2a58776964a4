"""The lineage store every backend is: the protocols of :mod:`.interface`, one query.

A backend implements :class:`~airflow_lineage.store.interface.Entities`,
:class:`~airflow_lineage.store.interface.GraphReading` and
:class:`~airflow_lineage.store.interface.Exporting` (and, optionally,
:class:`~airflow_lineage.store.interface.Sharing`); :meth:`LineageStore.query` is written
once, here, over its graph reading.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from airflow_lineage.model import DEFAULT_ACCOUNT, LOCAL_REGION
from airflow_lineage.store.editing import EntityShortcuts, updated_entity
from airflow_lineage.store.interface import Entities, Exporting, GraphReading, Page

if TYPE_CHECKING:
    from airflow_lineage.facade import Boto3Facade
    from airflow_lineage.query import LineageQuery, LineageResult
    from airflow_lineage.store.querying import QueryPager

__all__ = ["LineageStore", "Page", "updated_entity"]


class LineageStore(EntityShortcuts, Entities, GraphReading, Exporting, ABC):
    """Where lineage lives: entities, associations, one-query lineage.

    A store is bound to one account (and region); entities it creates belong to it.
    """

    account: str = DEFAULT_ACCOUNT
    region: str = LOCAL_REGION
    keeps_attestations: bool = False
    detects_hidden_lineage: bool = True
    """Whether a query can tell that its walk met lineage the account may not see
    (``LineageResult.visibility_cut_off``); a gate on a store that cannot tell rejects
    unless its policy allows it."""

    @cached_property
    def _pager(self) -> QueryPager:
        from airflow_lineage.store.querying import QueryPager

        return QueryPager(self)

    def query(self, query: LineageQuery) -> LineageResult:
        """Run one lineage query and return one page of its result.

        :raises EntityNotFoundError: a start ARN names no entity.
        :raises InvalidPageTokenError: ``next_token`` is not one of this query's, was
            edited, or the lineage shared with the caller changed since its first page.
        """
        return self._pager.query(query)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Write many batches in this block faster, where the backend can (else nothing)."""
        yield

    def close(self) -> None:
        """Release connections and forget cached walks."""
        self._pager.clear()

    def as_boto3_client(self) -> Boto3Facade:
        """Return ``Boto3Facade(self)``: boto3's SageMaker lineage methods on this store."""
        from airflow_lineage.facade import Boto3Facade

        return Boto3Facade(self)

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
