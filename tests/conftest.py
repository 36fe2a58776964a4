"""Shared fixtures: a real lineage store on every backend (SQLite, PostgreSQL).

PostgreSQL tests use ``AIRFLOW_LINEAGE_TEST_PG_URL`` (default: the local server's
``test`` database) in a schema of their own. Where no server answers they are skipped
with the reason, unless ``AIRFLOW_LINEAGE_REQUIRE_POSTGRES=1`` (set by CI) turns the
skip into a failure.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

# Airflow reads these at import time; set them before any test imports airflow. Every
# test session gets its own AIRFLOW_HOME, so the embedded store starts empty.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-lineage-tests-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "dags")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.makedirs(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], exist_ok=True)

PG_URL = os.environ.get(
    "AIRFLOW_LINEAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgres"]


@cache
def postgres_unavailable() -> str | None:
    """Return why PostgreSQL cannot be used, or None when it answers."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as e:  # any failure to reach it is a reason to skip
        return f"PostgreSQL at {PG_URL} does not answer: {type(e).__name__}: {e}"
    return None


def require_postgres() -> None:
    """Skip (or, in CI, fail) the calling test when PostgreSQL is unavailable."""
    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("AIRFLOW_LINEAGE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here: {reason}")
    pytest.skip(reason)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """Yield a PostgreSQL URL whose search_path is a new, empty schema."""
    require_postgres()
    import sqlalchemy as sa

    schema = f"lineage_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of a new, empty store on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lineage.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[object]:
    """Yield a new, empty lineage store on each backend."""
    from airflow_lineage import connect

    s = connect(store_url)
    try:
        yield s
    finally:
        s.close()
