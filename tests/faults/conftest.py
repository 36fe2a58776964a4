"""Fixtures for fault tests: a small real DAG, and a PostgreSQL store behind a proxy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from ..capture.conftest import (  # noqa: F401 - fixtures
    airflow_db,
    lineage_home,
    load_dag,
    reset_lineage_settings,
    run_dag,
)
from ..conftest import create_store
from .proxy import Proxy

CAPTURE_TIMEOUT = 2.0
"""Seconds a capture may wait for the store in these tests."""


@dataclass
class ProxiedStore:
    """A PostgreSQL store the lineage connection reaches through a breakable proxy."""

    url: str
    """The store's URL, straight to the server (for checks)."""
    proxy: Proxy


@pytest.fixture
def proxied_store(
    lineage_home: Path,  # noqa: F811
    pg_schema_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ProxiedStore]:
    """Point the lineage connection at a proxy to a new PostgreSQL store."""
    url = create_store(pg_schema_url)
    u = make_url(url)
    proxy = Proxy((u.host or "127.0.0.1", u.port or 5432))
    search_path = str(u.query["options"]).split("search_path=")[1]
    conn = {
        "conn_type": "lineage",
        "host": "127.0.0.1",
        "port": proxy.port,
        "schema": u.database,
        "login": u.username,
        "extra": {"search_path": search_path},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__CAPTURE_TIMEOUT", str(CAPTURE_TIMEOUT))
    reset_lineage_settings()
    try:
        yield ProxiedStore(url, proxy)
    finally:
        proxy.close()
        reset_lineage_settings()


Hook = Callable[[], None]
