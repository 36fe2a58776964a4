"""Provision each account's login role in the lineage store (compose's airflow-init).

Run after ``airflow db migrate`` has created the store's tables, in a process that has
the ``lineage_admin`` connection (``[ml_lineage] admin_conn_id``; it logs in as the
role that owns the tables, with ``CREATEROLE BYPASSRLS``). ``LINEAGE_ACCOUNTS`` lists
``<12-digit account>=<password>,...``: each account's role ``lineage_acct_<account>`` is
created (or its password changed) with the grants row-level security needs, and may
connect to the lineage database. Run it again to add an account or change a password.
"""

from __future__ import annotations

import os
import re
import sys


def parse_accounts(spec: str) -> dict[str, str]:
    """Return account → password from ``<account>=<password>,...``.

    :raises ValueError: an entry is not a 12-digit account with a non-empty password.
    """
    accounts: dict[str, str] = {}
    for entry in (e.strip() for e in spec.split(",")):
        account, sep, password = entry.partition("=")
        if not re.fullmatch(r"[0-9]{12}", account) or not sep or not password:
            raise ValueError(
                f"LINEAGE_ACCOUNTS: {account or entry!r} is not <12-digit account>=<password>"
            )
        accounts[account] = password
    return accounts


def main() -> int:
    """Provision every account of ``LINEAGE_ACCOUNTS``; return the exit status."""
    import sqlalchemy as sa

    from airflow_lineage import config
    from airflow_lineage.store import connect_admin, locate
    from airflow_lineage.store.sql import SqlStore

    try:
        accounts = parse_accounts(os.environ.get("LINEAGE_ACCOUNTS", ""))
    except ValueError as e:
        print(f"init_store: {e}", file=sys.stderr)
        return 2
    where = locate(admin=True)
    if where.conn_id != config.admin_conn_id():
        print(
            f"init_store: no admin connection {config.admin_conn_id()!r}; the store found "
            f"is {where.describe()}",
            file=sys.stderr,
        )
        return 2
    with connect_admin() as store:
        if not isinstance(store, SqlStore):
            print(f"init_store: {where.describe()} has no roles", file=sys.stderr)
            return 2
        roles = [store.provision_account_role(a, password=pw) for a, pw in accounts.items()]
    # The database refuses CONNECT to PUBLIC (postgres/init.sql): let the accounts in.
    engine = sa.create_engine(where.url)
    try:
        with engine.begin() as conn:
            database = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            for role in roles:  # lineage_acct_<12 digits>: validated above
                quoted = database.replace('"', '""')
                conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{quoted}" TO {role}')
    finally:
        engine.dispose()
    for role in roles:
        print(f"lineage store {where.describe()}: account role {role} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
