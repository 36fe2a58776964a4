"""The embedded lineage store on SQLAlchemy Core: a SQLite file or PostgreSQL.

:class:`SqlStore` is put together from one module per concern: ``sql_engine`` (engine,
session, visibility), ``sql_rows``, ``sql_entities`` (writes, reads, listings), ``sql_graph``
(the query walk's reads), ``sql_sharing`` and ``sql_export``.
"""

from __future__ import annotations

from airflow_lineage.store.sql_engine import make_engine, normalize_url, sqlite_path
from airflow_lineage.store.sql_export import SqlExport
from airflow_lineage.store.sql_graph import SqlGraphReading
from airflow_lineage.store.sql_sharing import SqlSharing

__all__ = ["SqlStore", "make_engine", "normalize_url", "sqlite_path"]


class SqlStore(SqlExport, SqlGraphReading, SqlSharing):
    """Lineage in a SQL database: an embedded SQLite file or a PostgreSQL server.

    Open one with :func:`airflow_lineage.connect` (or, for unrestricted access,
    :func:`airflow_lineage.store.connect_admin`) rather than directly.

    :param url: a SQLAlchemy URL, e.g. ``sqlite:////path/lineage.db`` or
        ``postgresql+psycopg://lineage_acct_111111111111:secret@host/db``.
    :param account: the 12-digit account the store acts as. On PostgreSQL an account
        is a login: the store acts as the account whose role
        (``lineage_acct_<account>``, see :func:`airflow_lineage.sharing.account_role`)
        it logged in as, and ``account`` may only repeat it; a login that is no
        account's role may name an account whose role it holds (the store then runs as
        that role, ``SET ROLE``); without ``account`` such a login acts as
        ``000000000000`` if it holds that role. Either way the database's row-level
        security enforces what the account sees and changes. SQLite is one trust
        domain: ``account`` (default ``000000000000``) selects whose view the library
        applies, and anyone who can open the file may act as any account.
    :param timeout: seconds any one call may wait for the database (to connect, for a
        lock, for a statement) before it fails with :class:`StoreError`.
    :param create: create the store, or upgrade it to the current revision, first (DDL;
        see :func:`airflow_lineage.store.upgrade`). Without it a missing or older store
        is refused with a :class:`StoreError` naming the command to run.
    :param unrestricted: see and write every account's lineage (backup, restore,
        migration between backends, provisioning). Entities and edges are still
        created as ``account`` unless their records say otherwise. On PostgreSQL the
        login must bypass row-level security (a superuser or ``BYPASSRLS``); use
        :func:`airflow_lineage.store.connect_admin`.

    The store acts as ``account``: it sees its own lineage and that of accounts whose
    lineage group it accepted (:meth:`accept`) and that was not revoked; it creates,
    changes and deletes only its own entities, and associates any two it sees.
    """
