"""Force row-level security on every lineage table (PostgreSQL).

Without ``FORCE``, the role that owns the tables bypasses its own policies: any session
of the owner could read and write as every account. With it, the owner is subject to
the policies too; it acts as no account, so it sees no lineage and writes none. Only a
superuser or a ``BYPASSRLS`` role (the admin entry point, ``connect_admin``) sees every
account's lineage. SQLite has no row-level security; nothing changes there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("lineage_entities", "lineage_associations", "lineage_groups", "lineage_shares")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
