"""``LineageHook``: the lineage connection turned into a lineage store.

A PostgreSQL store is described by the connection's standard fields: host, port,
schema (the database), login and password. The login is the account: each account
logs in as its own role, ``lineage_acct_<12 digits>``. The extra may add ``search_path``
(the PostgreSQL schema of the lineage tables), ``url`` (a SQLAlchemy URL without a
password, e.g. ``sqlite:////opt/airflow/lineage.db``), ``backend`` (``sql`` or
``sagemaker`` with ``aws_conn_id``), ``account`` (SQLite and SageMaker; on PostgreSQL
it may only repeat the login's) and ``region``. Without the connection the store is
found as :func:`airflow_lineage.store.locate` says.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseHook

from airflow_lineage import config
from airflow_lineage.store import LineageStore, StoreLocation, connect, locate

__all__ = ["LineageHook"]

log = logging.getLogger(__name__)


class LineageHook(BaseHook):
    """Open the lineage store a lineage connection describes.

    :param lineage_conn_id: the connection id; ``[ml_lineage] conn_id`` by default. A
        connection named here other than the configured one must exist.
    """

    conn_name_attr = "lineage_conn_id"
    default_conn_name = "lineage_default"
    conn_type = "lineage"
    hook_name = "ML Lineage"

    def __init__(self, lineage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lineage_conn_id = lineage_conn_id or config.conn_id()

    def location(self) -> StoreLocation:
        """Return the store this hook opens, and why it is that one."""
        return locate(conn_id=self.lineage_conn_id)

    def store_settings(self) -> dict[str, str | None]:
        """Return backend, url, account and region of the store this hook opens.

        ``url`` carries the login's password; do not log it.
        """
        where = self.location()
        return {
            "backend": "sagemaker" if where.url.startswith("sagemaker://") else "sql",
            "url": where.url,
            "account": where.account,
            "region": where.region,
        }

    def get_conn(self, timeout: float | None = None) -> LineageStore:
        """Return a lineage store for the connection.

        :param timeout: seconds a store call may wait for the database.
        """
        return connect(conn_id=self.lineage_conn_id, timeout=timeout)

    def test_connection(self) -> tuple[bool, str]:
        """Open the store and list its lineage groups (the UI's Test button)."""
        try:
            with self.get_conn() as store:
                store.lineage_groups()
        except Exception as e:  # the UI shows the message; it must not raise
            return False, str(e)
        return True, "Connection successfully tested"
