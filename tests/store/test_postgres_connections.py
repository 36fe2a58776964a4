"""A PostgreSQL store's connections: records go in one pipeline, and a connection the
server dropped is replaced rather than reported as a failure."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from airflow_lineage import EntityNotFoundError, StoreError
from airflow_lineage.store import connect_admin, sql_engine
from airflow_lineage.store.sql import SqlStore

from ..conftest import PG_URL

A = "111111111111"


@pytest.fixture
def store(pg_store_url: str) -> Iterator[SqlStore]:
    with SqlStore(pg_store_url, account=A) as opened:
        yield opened


def _drop_connections(store: SqlStore) -> None:
    """Have the server end the store's pooled connection, as a restart or a proxy does."""
    with store._engine.connect() as conn:
        pid = conn.connection.driver_connection.info.backend_pid  # type: ignore[union-attr]
    admin = sa.create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            ended = conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            assert ended.scalar() is True
    finally:
        admin.dispose()


def test_records_are_written_in_a_pipeline_and_survive_a_dropped_connection(
    store: SqlStore,
) -> None:
    assert store._pipelined  # psycopg 3 with pipeline mode: the path every test here takes
    data = store.create_artifact("s3://bucket/data.csv", "DataSet")
    _drop_connections(store)
    # Used again at once (no ping): the write finds the connection closed and retries once.
    step = store.create_action("prep", "DataPreparation", "airflow://prep")
    store.add_association(data.arn, step.arn, "ContributedTo")
    assert set(store.get_many([data.arn, step.arn])) == {data.arn, step.arn}
    assert [a.destination_arn for a in store.list_associations(source_arn=data.arn).items] == [
        step.arn
    ]


def test_an_idle_connection_is_pinged_before_use(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = store.create_artifact("s3://bucket/data.csv", "DataSet")
    # Not idle long enough to be pinged: a read on the dropped connection fails...
    monkeypatch.setattr(sql_engine, "PING_IDLE_S", 3600.0)
    _drop_connections(store)
    with pytest.raises(StoreError):
        store.get_many([data.arn])
    # ...idle longer than PING_IDLE_S: the ping finds it gone and the pool replaces it.
    monkeypatch.setattr(sql_engine, "PING_IDLE_S", 0.0)
    assert store.get_many([data.arn])  # reconnected after the failure above
    _drop_connections(store)
    assert set(store.get_many([data.arn])) == {data.arn}


def test_an_account_login_that_bypasses_row_level_security_is_not_pipelined(
    pg_store_url: str,
) -> None:
    # The pipelined write lets row-level security decide which association ends an
    # account sees; a misprovisioned login that bypasses it takes the checked path.
    account = f"4{secrets.randbelow(10**11):011d}"
    role = f"lineage_acct_{account}"
    admin = sa.create_engine(PG_URL)
    try:
        with connect_admin(pg_store_url) as owner:
            owner.provision_account_role(account)  # type: ignore[attr-defined]
        with admin.begin() as conn:
            conn.execute(sa.text(f"ALTER ROLE {role} BYPASSRLS"))
        with SqlStore(pg_store_url, account=A) as a:
            hidden = a.create_artifact("s3://a/hidden.csv", "DataSet")
        with SqlStore(make_url(pg_store_url).set(username=role).render_as_string(False)) as mis:
            assert mis.account == account and not mis._pipelined
            step = mis.create_action("train", "Training", "airflow://train")
            with pytest.raises(EntityNotFoundError, match=hidden.arn):
                mis.add_association(hidden.arn, step.arn, "ContributedTo")
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role} CASCADE"))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()
