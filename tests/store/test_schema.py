"""The Alembic migrations create exactly the schema the code declares."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from airflow_lineage import connect
from airflow_lineage.store.schema import SCHEMA_REVISION, VERSION_TABLE, metadata


def test_migrated_database_matches_the_declared_schema(store_url: str) -> None:
    connect(store_url).close()
    engine = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
        assert context.get_current_revision() == SCHEMA_REVISION
    engine.dispose()


def test_schema_revision_is_the_alembic_head() -> None:
    from pathlib import Path

    from alembic.config import Config

    import airflow_lineage.store

    cfg = Config()
    migrations = Path(airflow_lineage.store.__file__).parent / "migrations"
    cfg.set_main_option("script_location", str(migrations))
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_REVISION
