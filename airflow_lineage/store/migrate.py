"""Schema migrations of the SQL store: an explicit step, never a side effect of opening.

``airflow-lineage db upgrade`` (or ``airflow db migrate``, through
:class:`airflow_lineage.store.db_manager.LineageDBManager`) creates a store or brings it
to the current revision; :func:`upgrade` does the same from Python. Opening a store only
reads its revision, once, and refuses a store that is missing or older.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from airflow_lineage.exceptions import StoreError
from airflow_lineage.store.schema import SCHEMA_REVISION, VERSION_TABLE

__all__ = [
    "MIGRATE_COMMAND",
    "alembic_config",
    "current",
    "read_revision",
    "schema_problem",
    "upgrade",
]

MIGRATE_COMMAND = "airflow-lineage db upgrade"
"""What a person runs to create or upgrade a store (``airflow db migrate`` does it too)."""

_PG_LOCK = 727245


def read_revision(conn: Connection) -> str | None:
    """Return the store's schema revision, or None when it has no lineage schema.

    One statement (two on PostgreSQL); no inspector, no Alembic.
    """
    if conn.dialect.name == "postgresql":
        found = conn.exec_driver_sql(f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL")
        if not found.scalar():
            return None
        return conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    try:
        return conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()
    except DBAPIError as e:
        if "no such table" in str(e.orig):
            return None
        raise


def schema_problem(revision: str | None) -> str | None:
    """Return why a store at ``revision`` cannot be used by this version, or None."""
    if revision == SCHEMA_REVISION:
        return None
    if revision is None:
        return (
            f"it holds no lineage store yet; create it with `{MIGRATE_COMMAND}` "
            "(or `airflow db migrate`)"
        )
    if revision > SCHEMA_REVISION:
        return (
            f"its schema is at revision {revision}, newer than this airflow-lineage "
            f"({SCHEMA_REVISION}); upgrade the airflow-lineage package"
        )
    return (
        f"its schema is at revision {revision}; this airflow-lineage needs {SCHEMA_REVISION}: "
        f"run `{MIGRATE_COMMAND}` (or `airflow db migrate`)"
    )


def upgrade_engine(engine: Engine) -> tuple[str | None, str]:
    """Create or upgrade the lineage schema of ``engine``'s database to the head.

    Concurrent upgraders queue on a lock (a file lock for SQLite, an advisory lock for
    PostgreSQL). Return the revisions before and after.
    """
    with _lock(engine):
        with engine.connect() as conn:
            before = read_revision(conn)
        if before == SCHEMA_REVISION:
            return before, before
        from alembic.command import upgrade as alembic_upgrade  # lazy: DDL only

        with engine.begin() as conn:
            alembic_upgrade(alembic_config(conn), "head")
        return before, SCHEMA_REVISION


def alembic_config(conn: Connection) -> Any:
    """Return an Alembic configuration of the store's migrations that runs on ``conn``
    (Alembic is imported here: only schema changes need it)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


@contextmanager
def _lock(engine: Engine) -> Iterator[None]:
    """Serialise schema changes between processes upgrading one store at once."""
    database = engine.url.database
    if engine.dialect.name == "sqlite":
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).expanduser().with_suffix(".migrate.lock")
        with open(lock_path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    with engine.connect() as conn:
        conn.execute(sa.text(f"SELECT pg_advisory_lock({_PG_LOCK})"))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text(f"SELECT pg_advisory_unlock({_PG_LOCK})"))
            conn.commit()


def _engine(url: str | None, conn_id: str | None) -> tuple[Engine, str]:
    """Return an engine for the store ``url`` (or the one :func:`locate` finds)."""
    from airflow_lineage.store.locate import locate
    from airflow_lineage.store.sql import make_engine

    where = locate(url, conn_id=conn_id, admin=True)
    if where.url.startswith("sagemaker://"):
        raise ValueError(f"{where.describe()}: SageMaker has no schema to migrate")
    return make_engine(where.url, 60.0, create=True), where.describe()


def upgrade(url: str | None = None, *, conn_id: str | None = None) -> tuple[str | None, str]:
    """Create the lineage store, or bring it to the current schema revision.

    Run it as the role that owns (or will own) the lineage tables; on PostgreSQL the
    lineage tables get row-level security forced on them (see migration 0003).

    :param url: the store; default: the one :func:`~airflow_lineage.store.locate.locate`
        finds, the admin connection first.
    :param conn_id: a lineage connection to find it by instead.
    :return: the revisions before (None: a new store) and after.
    :raises StoreError: the database cannot be reached or migrated.
    """
    engine, where = _engine(url, conn_id)
    try:
        return upgrade_engine(engine)
    except sa.exc.SQLAlchemyError as e:
        raise StoreError(f"cannot migrate the lineage store {where}: {e}") from e
    finally:
        engine.dispose()


def current(url: str | None = None, *, conn_id: str | None = None) -> str | None:
    """Return the schema revision of the store (None: no lineage store there).

    :raises StoreError: the database cannot be reached.
    """
    from airflow_lineage.store.locate import locate
    from airflow_lineage.store.sql import make_engine, sqlite_path

    where = locate(url, conn_id=conn_id, admin=True)
    path = sqlite_path(where.url)
    if path is not None and not path.exists():
        return None
    engine = make_engine(where.url, 60.0)
    try:
        with engine.connect() as conn:
            return read_revision(conn)
    except sa.exc.SQLAlchemyError as e:
        raise StoreError(f"cannot read the lineage store {where.describe()}: {e}") from e
    finally:
        engine.dispose()
