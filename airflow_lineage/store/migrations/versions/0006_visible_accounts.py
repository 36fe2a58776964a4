"""Compute an account's visible accounts once per statement, in a function.

The read policies of entities, lineage groups and attestations held the accounts a role
may see as a subquery (its own, and the owners of the shares it accepted). PostgreSQL
plans that subquery again wherever the policy applies, in every statement: an
association insert checks both ends against it, and half of a task's write went to
planning it. ``lineage_visible_accounts()`` returns the same set, and each policy calls
it once per statement (an InitPlan), so the planner sees one opaque call.

The function runs as its caller (the shares table's own row-level security applies, as
it did in the subquery), with its search path pinned to the store's schema, so a
temporary table named ``lineage_shares`` cannot change what it reads.

SQLite has no row-level security; nothing changes there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FUNCTION = "lineage_visible_accounts()"
TABLES = ("lineage_entities", "lineage_groups", "lineage_attestations")
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    ident = '"' + schema.replace('"', '""') + '"'
    op.execute(
        f"""
CREATE OR REPLACE FUNCTION {ident}.lineage_visible_accounts()
RETURNS text[] LANGUAGE plpgsql STABLE
SET search_path = {ident}, pg_temp AS $fn$
DECLARE
  me text := {ME};
BEGIN
  IF me IS NULL THEN
    RETURN '{{}}';  -- a role that is no account's sees no account's rows
  END IF;
  RETURN array_prepend(me, ARRAY(
    SELECT s.owner_account::text FROM {ident}.lineage_shares s
    WHERE s.consumer_account = me AND s.status = 'Accepted'));
END
$fn$
"""
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION {ident}.{FUNCTION} TO PUBLIC")
    for table in TABLES:
        op.execute(f"DROP POLICY lineage_read ON {table}")
        op.execute(
            f"CREATE POLICY lineage_read ON {table} FOR SELECT "
            f"USING (account::text = ANY ((SELECT {ident}.{FUNCTION})::text[]))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY lineage_read ON {table}")
        op.execute(f"CREATE POLICY lineage_read ON {table} FOR SELECT USING (account IN {VISIBLE})")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
