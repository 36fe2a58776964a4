"""``LineageHook``: the lineage connection turned into a lineage store.

The connection (type ``lineage``, default id ``lineage_default``) holds, in its extra:
``backend`` (``sql`` or ``sagemaker``), ``url`` (a SQLAlchemy URL for ``sql``),
``aws_conn_id`` (for ``sagemaker``; default ``aws_default``), ``account`` and ``region``.
With no such connection the embedded SQLite store under ``$AIRFLOW_HOME`` is used.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseHook

from airflow_lineage import config
from airflow_lineage.store import LineageStore, connect

__all__ = ["LineageHook"]

log = logging.getLogger(__name__)


class LineageHook(BaseHook):
    """Open the lineage store a lineage connection describes.

    :param lineage_conn_id: the connection id; ``[lineage] conn_id`` by default.
    """

    conn_name_attr = "lineage_conn_id"
    default_conn_name = "lineage_default"
    conn_type = "lineage"
    hook_name = "ML Lineage"

    def __init__(self, lineage_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lineage_conn_id = lineage_conn_id or config.conn_id()

    def store_settings(self) -> dict[str, str | None]:
        """Return backend, url, account and region from the connection (or the defaults)."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.lineage_conn_id)
        except AirflowNotFoundException:
            return {"backend": "sql", "url": None, "account": None, "region": None}
        extra = conn.extra_dejson
        backend = str(extra.get("backend") or "sql")
        if backend not in ("sql", "sagemaker"):
            raise ValueError(
                f"connection {self.lineage_conn_id!r}: backend {backend!r} is not available; "
                "use 'sql' or 'sagemaker'"
            )
        url = extra.get("url") or conn.host or None
        if backend == "sagemaker":
            from urllib.parse import urlencode

            query = {"aws_conn_id": str(extra.get("aws_conn_id") or "aws_default")}
            url = f"sagemaker://?{urlencode(query)}"
        return {
            "backend": backend,
            "url": url,
            "account": extra.get("account"),
            "region": extra.get("region"),
        }

    def get_conn(self, timeout: float | None = None) -> LineageStore:
        """Return a lineage store for the connection.

        :param timeout: seconds a store call may wait for the database.
        """
        settings = self.store_settings()
        return connect(
            settings["url"],
            account=settings["account"],
            region=settings["region"],
            timeout=timeout,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Open the store and list its lineage groups (the UI's Test button)."""
        try:
            with self.get_conn() as store:
                store.lineage_groups()
        except Exception as e:  # the UI shows the message; it must not raise
            return False, str(e)
        return True, "Connection successfully tested"
