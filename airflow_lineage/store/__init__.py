"""Lineage stores behind one interface, and :func:`connect` to open one by URL."""

from __future__ import annotations

from airflow_lineage.config import default_store_url
from airflow_lineage.model import DEFAULT_ACCOUNT, LOCAL_REGION
from airflow_lineage.store.base import LineageStore, Page

__all__ = ["LineageStore", "Page", "connect"]


def connect(
    url: str | None = None,
    *,
    account: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
) -> LineageStore:
    """Open a lineage store.

    :param url: a SQLAlchemy URL (``sqlite:///…``, ``postgresql://…``); ``None`` opens
        the embedded SQLite file (``$AIRFLOW_HOME/lineage.db`` unless
        ``AIRFLOW__LINEAGE__STORE_URL`` says otherwise).
    :param account: the 12-digit account the store acts as (default ``000000000000``).
    :param timeout: seconds a call may wait for the database (default 60).
    :raises ValueError: the URL or the account is malformed.
    :raises StoreError: the database cannot be reached or migrated.
    """
    from airflow_lineage.store.sql import SqlStore

    if url is not None and not isinstance(url, str):
        raise TypeError(f"url must be a string, not {type(url).__name__}")
    target = url or default_store_url()
    if "://" not in target:
        raise ValueError(f"store URL {target!r} is not a URL (e.g. sqlite:///lineage.db)")
    return SqlStore(
        target,
        account=account or DEFAULT_ACCOUNT,
        region=region or LOCAL_REGION,
        timeout=60.0 if timeout is None else timeout,
    )
