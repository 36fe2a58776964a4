"""Migrations are an explicit step; the migrations create exactly the declared schema."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from airflow_lineage import StoreError, connect
from airflow_lineage.store import connect_admin, current, upgrade
from airflow_lineage.store.migrate import alembic_config
from airflow_lineage.store.schema import SCHEMA_REVISION, VERSION_TABLE, metadata

MIGRATIONS = Path(__file__).resolve().parents[2] / "airflow_lineage" / "store" / "migrations"


def _alembic_upgrade(url: str, revision: str) -> None:
    """Bring a database to ``revision`` with Alembic itself (an older store)."""
    from alembic.command import upgrade as alembic_upgrade

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        alembic_upgrade(alembic_config(conn), revision)
    engine.dispose()


def test_migrated_database_matches_the_declared_schema(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == SCHEMA_REVISION
    engine.dispose()


def test_schema_revision_is_the_alembic_head() -> None:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION == "0007"


def test_opening_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "lineage.db"
    with pytest.raises(StoreError, match=r"no lineage store at .*`airflow-lineage db upgrade`"):
        connect(f"sqlite:///{db}")
    assert not db.exists() and not db.parent.exists()
    assert current(f"sqlite:///{db}") is None
    with connect(f"sqlite:///{db}", create=True) as store:  # the Python API's explicit way
        assert store.list_entities("Artifact").items == ()
    assert current(f"sqlite:///{db}") == SCHEMA_REVISION


def test_an_empty_database_is_not_a_store(pg_schema_url: str) -> None:
    with pytest.raises(StoreError, match=r"holds no lineage store yet.*db upgrade"):
        connect(pg_schema_url)
    assert current(pg_schema_url) is None
    engine = sa.create_engine(pg_schema_url)
    with engine.connect() as conn:  # and opening it ran no DDL
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_older_store_names_the_command_until_it_is_upgraded(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = str(request.getfixturevalue("pg_schema_url"))
    _alembic_upgrade(url, "0002")
    if backend == "postgres":  # the superuser acts as the default account through its role
        from airflow_lineage.sharing import provision_account_role

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            provision_account_role(conn, "000000000000")
        engine.dispose()
    with pytest.raises(StoreError, match=r"revision 0002; .* needs 0007: run `airflow-lineage db"):
        connect(url)
    assert current(url) == "0002"
    assert upgrade(url) == ("0002", "0007")
    assert upgrade(url) == ("0007", "0007")  # idempotent
    with connect(url) as store, connect_admin(url) as admin:
        assert store.lineage_groups() == admin.lineage_groups() == []
        # A role provisioned before 0005 may keep signed provenance after the upgrade.
        from airflow_lineage.provenance.attestation import Attestation

        action = store.create_action("signed-step", "Training", "airflow://x")
        signed = Attestation(action.arn, '{"payload": ""}', action.created)
        store.write(attestations=[signed])
        assert store.attestations([action.arn]) == {action.arn: signed}


def _upgrade_in_a_process(url: str) -> str:
    return upgrade(url)[1]


def test_concurrent_upgrades_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        assert pool.map(_upgrade_in_a_process, [url] * 8) == [SCHEMA_REVISION] * 8
    assert current(url) == SCHEMA_REVISION


def test_opening_a_store_imports_no_alembic(store_url: str) -> None:
    probe = (
        "import sys\n"
        "import airflow_lineage\n"
        f"with airflow_lineage.connect({store_url!r}) as s:\n"
        "    s.create_artifact('s3://x', 'DataSet')\n"
        "    assert len(s.list_entities('Artifact').items) == 1\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'airflow'))\n"
        "assert not heavy, heavy\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
