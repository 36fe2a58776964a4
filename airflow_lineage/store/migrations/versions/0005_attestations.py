"""Keep the signed provenance of each action: ``lineage_attestations``.

One row per action: the DSSE envelope of its in-toto statement, and the modification
time of the action version it signs. On PostgreSQL it has the entities' row-level
security, forced: an account reads the envelopes of the accounts it sees and creates,
changes and deletes only its own. Account roles that could write entities get the
same rights on the new table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# 0002's definitions, repeated on purpose: a revision is history and must not change
# when another revision's file does.
ME = (
    "(CASE WHEN current_user::text ~ '^lineage_acct_[0-9]{12}$' "
    "THEN substr(current_user::text, 14) END)"
)
VISIBLE = (
    f"(SELECT {ME} UNION SELECT s.owner_account FROM lineage_shares s "
    f"WHERE s.consumer_account = {ME} AND s.status = 'Accepted')"
)
POLICIES = [
    ("read", "SELECT", f"account IN {VISIBLE}", None),
    ("create", "INSERT", None, f"account = {ME}"),
    ("change", "UPDATE", f"account = {ME}", f"account = {ME}"),
    ("remove", "DELETE", f"account = {ME}", None),
]


def upgrade() -> None:
    op.create_table(
        "lineage_attestations",
        sa.Column("arn", sa.String(256), primary_key=True),
        sa.Column("account", sa.String(12), nullable=False),
        sa.Column("modified_at", sa.BigInteger, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
    )
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE lineage_attestations ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE lineage_attestations FORCE ROW LEVEL SECURITY")
    for name, command, using, check in POLICIES:
        sql = f"CREATE POLICY lineage_{name} ON lineage_attestations FOR {command}"
        if using:
            sql += f" USING ({using})"
        if check:
            sql += f" WITH CHECK ({check})"
        op.execute(sql)
    roles = bind.execute(
        sa.text(
            "SELECT DISTINCT grantee FROM information_schema.role_table_grants "
            "WHERE table_name = 'lineage_entities' AND table_schema = current_schema() "
            "AND privilege_type = 'INSERT' AND grantee ~ '^lineage_acct_[0-9]{12}$'"
        )
    ).scalars()
    for role in roles:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON lineage_attestations TO {role}")


def downgrade() -> None:
    op.drop_table("lineage_attestations")
