"""Share lineage groups between accounts; on PostgreSQL, row-level security per account.

The ``lineage_shares`` table holds RAM-style invitations (Pending, Accepted, Revoked).
On PostgreSQL every lineage table gets row-level security policies keyed on the role
the statement runs as: a role ``lineage_acct_<12 digits>`` acts as that account and
sees its own rows and those of accounts whose group it accepted; it changes only its
own entities. Roles that own the tables (or bypass RLS) see everything, so the store's
owner keeps migrating and backing up as before; any other role sees nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The account the current role acts as, or NULL for a role that is no account's.
ME = (
    "(CASE WHEN current_user::text ~ '^lineage_acct_[0-9]{12}$' "
    "THEN substr(current_user::text, 14) END)"
)
# The accounts whose lineage the current role may read: its own, and accepted shares.
# (lineage_shares has RLS too: a role sees only the shares it is a party to.)
VISIBLE = (
    f"(SELECT {ME} UNION SELECT s.owner_account FROM lineage_shares s "
    f"WHERE s.consumer_account = {ME} AND s.status = 'Accepted')"
)

POLICIES = [
    # entities: read what is visible; create, change and delete only one's own.
    ("lineage_entities", "read", "SELECT", f"account IN {VISIBLE}", None),
    ("lineage_entities", "create", "INSERT", None, f"account = {ME}"),
    ("lineage_entities", "change", "UPDATE", f"account = {ME}", f"account = {ME}"),
    ("lineage_entities", "remove", "DELETE", f"account = {ME}", None),
    # associations: an edge is visible when both its ends are (entity RLS applies in
    # the sub-selects); a role adds edges as itself between entities it can see, and
    # removes edges it can see or that touch its own entities.
    (
        "lineage_associations",
        "read",
        "SELECT",
        "EXISTS (SELECT 1 FROM lineage_entities e WHERE e.id = source_id) "
        "AND EXISTS (SELECT 1 FROM lineage_entities e WHERE e.id = destination_id)",
        None,
    ),
    (
        "lineage_associations",
        "create",
        "INSERT",
        None,
        f"account = {ME} "
        "AND EXISTS (SELECT 1 FROM lineage_entities e WHERE e.id = source_id) "
        "AND EXISTS (SELECT 1 FROM lineage_entities e WHERE e.id = destination_id)",
    ),
    (
        "lineage_associations",
        "remove",
        "DELETE",
        "(EXISTS (SELECT 1 FROM lineage_entities e WHERE e.id = source_id) "
        "AND EXISTS (SELECT 1 FROM lineage_entities e WHERE e.id = destination_id)) "
        f"OR EXISTS (SELECT 1 FROM lineage_entities e WHERE e.account = {ME} "
        "AND e.id IN (source_id, destination_id))",
        None,
    ),
    # lineage groups: visible as entities are; created only for one's own account.
    ("lineage_groups", "read", "SELECT", f"account IN {VISIBLE}", None),
    ("lineage_groups", "create", "INSERT", None, f"account = {ME}"),
    # shares: each party sees its own; the owner invites (Pending) and revokes, the
    # consumer only turns a Pending invitation into Accepted (column grants keep the
    # parties and the group fixed).
    ("lineage_shares", "read", "SELECT", f"owner_account = {ME} OR consumer_account = {ME}", None),
    (
        "lineage_shares",
        "invite",
        "INSERT",
        None,
        f"owner_account = {ME} AND status = 'Pending' AND consumer_account <> {ME}",
    ),
    (
        "lineage_shares",
        "owner_change",
        "UPDATE",
        f"owner_account = {ME}",
        f"owner_account = {ME} AND status IN ('Pending', 'Revoked')",
    ),
    (
        "lineage_shares",
        "consumer_accept",
        "UPDATE",
        f"consumer_account = {ME} AND status = 'Pending'",
        f"consumer_account = {ME} AND status = 'Accepted'",
    ),
]


def upgrade() -> None:
    op.create_table(
        "lineage_shares",
        sa.Column("owner_account", sa.String(12), primary_key=True),
        sa.Column("group_name", sa.String(120), primary_key=True),
        sa.Column("consumer_account", sa.String(12), primary_key=True),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("modified_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_lineage_shares_consumer", "lineage_shares", ["consumer_account", "status"])
    # Every account that has lineage has its default group (the visibility shortcut of
    # the query relies on it).
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT e.account, MIN(e.arn), MIN(e.created_at) FROM lineage_entities e "
            "WHERE NOT EXISTS (SELECT 1 FROM lineage_groups g WHERE g.account = e.account "
            "AND g.name = 'sagemaker-default-lineage-group') GROUP BY e.account"
        )
    ).all()
    if rows:
        bind.execute(
            sa.text(
                "INSERT INTO lineage_groups (account, name, region, created_at) "
                "VALUES (:account, 'sagemaker-default-lineage-group', :region, :created)"
            ),
            [{"account": a, "region": arn.split(":")[3], "created": c} for a, arn, c in rows],
        )
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("lineage_entities", "lineage_associations", "lineage_groups", "lineage_shares"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    for table, name, command, using, check in POLICIES:
        sql = f"CREATE POLICY lineage_{name} ON {table} FOR {command}"
        if using:
            sql += f" USING ({using})"
        if check:
            sql += f" WITH CHECK ({check})"
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name, *_ in POLICIES:
            op.execute(f"DROP POLICY IF EXISTS lineage_{name} ON {table}")
        for table in ("lineage_entities", "lineage_associations", "lineage_groups"):
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.drop_index("ix_lineage_shares_consumer", "lineage_shares")
    op.drop_table("lineage_shares")
