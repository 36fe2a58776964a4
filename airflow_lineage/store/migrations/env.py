"""Alembic environment: run migrations on the connection the store hands over."""

from __future__ import annotations

from alembic import context

from airflow_lineage.store.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
