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
        ``AIRFLOW__LINEAGE__STORE_URL`` says otherwise). A URL
        ``sagemaker://?region=us-east-1&aws_conn_id=aws_default&account=123456789012``
        opens Amazon SageMaker through the Airflow AWS connection (every query
        parameter optional: the connection's region, ``aws_default``, the caller's
        account); ``account``/``region`` arguments override the URL's.
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
    if target.startswith("sagemaker://"):
        return _sagemaker(target, account=account, region=region)
    return SqlStore(
        target,
        account=account or DEFAULT_ACCOUNT,
        region=region or LOCAL_REGION,
        timeout=60.0 if timeout is None else timeout,
    )


def _sagemaker(url: str, *, account: str | None, region: str | None) -> LineageStore:
    """Open a SageMaker store from ``sagemaker://?region=…&aws_conn_id=…&account=…``."""
    from urllib.parse import parse_qs, urlsplit

    from airflow_lineage.store.sagemaker import SageMakerStore

    parts = urlsplit(url)
    if parts.netloc or parts.path not in ("", "/"):
        raise ValueError(
            f"store URL {url!r}: a SageMaker URL has only query parameters, e.g. "
            "sagemaker://?region=us-east-1&aws_conn_id=aws_default&account=123456789012"
        )
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(params) - {"region", "aws_conn_id", "account"}
    if unknown:
        raise ValueError(f"store URL {url!r}: unknown parameter(s) {', '.join(sorted(unknown))}")
    return SageMakerStore(
        aws_conn_id=params.get("aws_conn_id", "aws_default"),
        region=region or params.get("region"),
        account=account or params.get("account"),
    )
