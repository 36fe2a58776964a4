"""Let an upstream walk read associations from their destination index alone.

Every walk step keeps only the associations created by the query's snapshot time. The
destination index held (destination, source, type) but not the creation time, so an
upstream (Ascendants) step looked each association up again in the table to read it: a
second B-tree search per association walked. The index now holds the creation time too;
a downstream step already reads the table itself, whose key starts with the source.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NAME = "ix_lineage_associations_destination"
TABLE = "lineage_associations"


def upgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, ["destination_id", "source_id", "created_at", "association_type"])


def downgrade() -> None:
    op.drop_index(NAME, table_name=TABLE)
    op.create_index(NAME, TABLE, ["destination_id", "source_id", "association_type"])
