"""``airflow db migrate`` migrates the lineage store too (Airflow's external DB managers).

The provider info lists :class:`LineageDBManager` under ``db-managers``, so Airflow runs
it after its own migrations, on ``airflow db migrate`` (and ``airflow db reset``, which
recreates a missing store and never drops lineage). ``airflow db check-migrations``
waits for the lineage store to be current too.

Unlike Airflow's base class, which assumes its tables live in Airflow's metadata
database, the store is wherever :func:`airflow_lineage.store.locate` finds it: the
admin connection (``[ml_lineage] admin_conn_id``, a login that owns the lineage tables),
the lineage connection, ``[ml_lineage] store_url`` or ``$AIRFLOW_HOME/lineage.db``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.utils.db_manager import BaseDBManager

from airflow_lineage.store.schema import VERSION_TABLE, metadata

__all__ = ["LineageDBManager"]


class LineageDBManager(BaseDBManager):
    """Create and upgrade the lineage store when Airflow migrates its database."""

    metadata = metadata
    migration_dir = str(Path(__file__).parent / "migrations")
    alembic_file = ""  # unused: our migrations run on the store's own connection
    version_table_name = VERSION_TABLE
    supports_table_dropping = False  # `airflow db reset` must never drop lineage

    def _upgrade(self) -> None:
        from airflow_lineage.store.locate import locate
        from airflow_lineage.store.migrate import upgrade

        where = locate(admin=True)
        if where.url.startswith("sagemaker://"):
            self.log.info("The lineage store is SageMaker (%s): no schema to migrate", where.reason)
            return
        before, after = upgrade(where.url)
        if before == after:
            self.log.info("The lineage store %s is current (revision %s)", where.describe(), after)
        else:
            self.log.info(
                "Migrated the lineage store %s from revision %s to %s",
                where.describe(),
                before or "none",
                after,
            )

    def initdb(self, use_migration_files: bool = False) -> None:
        """Create or upgrade the lineage store."""
        self._upgrade()

    def upgradedb(
        self,
        to_revision: str | None = None,
        from_revision: str | None = None,
        show_sql_only: bool = False,
        use_migration_files: bool = False,
    ) -> None:
        """Upgrade the lineage store to the head (partial or offline upgrades are not offered).

        :raises ValueError: a target revision or offline SQL was asked for.
        """
        if to_revision or from_revision or show_sql_only:
            raise ValueError("the lineage store upgrades to its head only; run it without options")
        self._upgrade()

    def get_current_revision(self) -> str | None:
        """Return the lineage store's schema revision (None: no store yet)."""
        from airflow_lineage.store.migrate import current

        return current()

    def check_migration(self) -> bool:
        """Return True when the lineage store is at the current revision."""
        from airflow_lineage.store.locate import locate
        from airflow_lineage.store.schema import SCHEMA_REVISION

        if locate(admin=True).url.startswith("sagemaker://"):
            return True
        return bool(self.get_current_revision() == SCHEMA_REVISION)

    def drop_tables(self, connection: Any) -> None:
        """Keep the lineage: Airflow's reset does not own it."""

    def resetdb(self, skip_init: bool = False, use_migration_files: bool = False) -> None:
        """Create the lineage store if it is missing; existing lineage is kept."""
        if not skip_init:
            self._upgrade()

    def downgrade(
        self, to_revision: str, from_revision: str | None = None, show_sql_only: bool = False
    ) -> None:
        """Refuse: the lineage store is not downgraded with Airflow.

        :raises ValueError: always.
        """
        raise ValueError("the lineage store cannot be downgraded with Airflow's database")
