"""Let an account learn whether its walk touches lineage it cannot see (PostgreSQL).

Under forced row-level security a session sees no association that leads to another
account's hidden entity, so a query could not tell that its walk was cut off by
visibility, and a gate would judge an incomplete lineage as complete. The function
``lineage_touches_hidden(ids, walk)`` answers that one yes/no question for the vertices
of a walk, and nothing more:

- it runs as the tables' owner; a read-only policy lets the owner see every row only
  while it acts inside a call made by an account role (the owner's own sessions still
  see nothing, and no account role can become the owner);
- it acts for the role the session runs as (``SET ROLE`` or the login), which must be an
  account role; any other caller gets an error, never an answer;
- it looks only at the ids the acting account may see, so it cannot probe hidden
  entities, and it returns a boolean, never a count or an ARN;
- it refuses to answer when it does not run as the tables' owner or a role that
  bypasses row-level security (it would see nothing hidden and say "no" when it cannot
  know).

SQLite has no row-level security; nothing changes there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FUNCTION = "lineage_touches_hidden(bigint[], text)"
TABLES = ("lineage_entities", "lineage_associations", "lineage_shares")
ACCOUNT_ROLE = "'^lineage_acct_[0-9]{12}$'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar_one()
    ident = '"' + schema.replace('"', '""') + '"'
    table_oid = f"'{ident}.lineage_entities'::regclass"
    owner = f"pg_get_userbyid((SELECT relowner FROM pg_class WHERE oid = {table_oid}))"
    acting = "coalesce(nullif(current_setting('role', true), 'none'), session_user::text)"
    for table in TABLES:
        # Row-independent: true only for the owner running on behalf of an account role,
        # which happens inside the owner's SECURITY DEFINER functions and nowhere else.
        op.execute(
            f"CREATE POLICY lineage_probe ON {table} FOR SELECT "
            f"USING (current_user = {owner} AND {acting} ~ {ACCOUNT_ROLE})"
        )
    op.execute(
        f"""
CREATE OR REPLACE FUNCTION {ident}.lineage_touches_hidden(ids bigint[], walk text)
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = {ident}, pg_temp AS $fn$
DECLARE
  acting text := coalesce(nullif(current_setting('role', true), 'none'), session_user::text);
  me text;
  sees_all boolean;
BEGIN
  IF acting !~ '^lineage_acct_[0-9]{{12}}$' THEN
    RAISE EXCEPTION 'lineage_touches_hidden: role % acts as no account', acting
      USING ERRCODE = '42501';
  END IF;
  SELECT rolsuper OR rolbypassrls OR rolname = {owner} INTO sees_all
    FROM pg_roles WHERE rolname = current_user;
  IF NOT coalesce(sees_all, false) THEN
    RAISE EXCEPTION 'lineage_touches_hidden: it runs as %, which neither owns the lineage '
      'tables nor bypasses row-level security, so it cannot tell what is hidden; run '
      'airflow-lineage db upgrade as the tables'' owner', current_user USING ERRCODE = '42501';
  END IF;
  IF walk NOT IN ('Ascendants', 'Descendants', 'Both') THEN
    RAISE EXCEPTION 'lineage_touches_hidden: unknown walk %', walk USING ERRCODE = '22023';
  END IF;
  me := substr(acting, 14);
  RETURN EXISTS (
    WITH visible AS (
      SELECT me AS account
      UNION SELECT owner_account FROM lineage_shares
      WHERE consumer_account = me AND status = 'Accepted'
    ), walked AS (
      SELECT id FROM lineage_entities
      WHERE id = ANY(ids) AND account IN (SELECT account FROM visible)
    )
    SELECT 1 FROM lineage_associations a
    JOIN lineage_entities far
      ON (walk <> 'Ascendants' AND a.source_id IN (SELECT id FROM walked)
          AND far.id = a.destination_id)
      OR (walk <> 'Descendants' AND a.destination_id IN (SELECT id FROM walked)
          AND far.id = a.source_id)
    WHERE far.account NOT IN (SELECT account FROM visible)
  );
END
$fn$
"""
    )
    # It must run as the tables' owner, whoever migrates (a superuser may migrate a store
    # that another role owns).
    op.execute(
        f"DO $do$ BEGIN EXECUTE format('ALTER FUNCTION {ident}.{FUNCTION} OWNER TO %I', "
        f"{owner}); END $do$"
    )
    # Safe for anyone to call: it answers only for the caller's own account (see above).
    op.execute(f"REVOKE ALL ON FUNCTION {ident}.{FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {ident}.{FUNCTION} TO PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS lineage_probe ON {table}")
