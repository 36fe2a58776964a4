"""Create the lineage entities, associations and lineage groups tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lineage_entities",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("arn", sa.String(256), nullable=False, unique=True),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("lineage_type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120)),
        sa.Column("type", sa.String(256), nullable=False),
        sa.Column("source_uri", sa.String(2048), nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("status", sa.String(16)),
        sa.Column("description", sa.Text),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("metadata_properties", sa.Text),
        sa.Column("tags", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("modified_at", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_lineage_entities_kind", "lineage_entities", ["lineage_type", "type", "created_at"]
    )
    op.create_index(
        "ix_lineage_entities_created", "lineage_entities", ["lineage_type", "created_at"]
    )
    op.create_index("ix_lineage_entities_source_uri", "lineage_entities", ["source_uri"])
    op.create_index("ix_lineage_entities_name", "lineage_entities", ["lineage_type", "name"])
    op.create_table(
        "lineage_associations",
        sa.Column("source_id", _Id, sa.ForeignKey("lineage_entities.id"), primary_key=True),
        sa.Column("destination_id", _Id, sa.ForeignKey("lineage_entities.id"), primary_key=True),
        sa.Column("association_type", sa.String(16)),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_lineage_associations_destination",
        "lineage_associations",
        ["destination_id", "source_id", "association_type"],
    )
    op.create_table(
        "lineage_groups",
        sa.Column("account", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lineage_groups")
    op.drop_index("ix_lineage_associations_destination", "lineage_associations")
    op.drop_table("lineage_associations")
    op.drop_table("lineage_entities")
