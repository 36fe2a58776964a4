"""Find the lineage store: the one rule capture, the gate, the CLI, the UI and the API share.

In this order, the first that applies wins:

1. an explicit URL (``connect(url)``, ``--store URL``);
2. the lineage connection: ``conn_id`` when one is named, else ``[ml_lineage] conn_id``
   (default ``lineage_default``) when Airflow is installed and the connection exists;
3. the option ``[ml_lineage] store_url``;
4. the embedded default, the SQLite file ``$AIRFLOW_HOME/lineage.db``.

Creating, migrating and unrestricted access (``admin=True``) first look for the admin
connection, ``[ml_lineage] admin_conn_id`` (default ``lineage_admin``): it logs in as the
role that owns the lineage tables, which account logins are not.

A connection named explicitly (a DAG's ``params.lineage_conn_id``) must exist; only the
configured default connection may be absent.

A lineage connection holds a PostgreSQL store in its standard fields: host, port,
schema (the database), login and password; the login is the account's role. Its extra
may say ``backend`` (``sql``, the default, or ``sagemaker`` with ``aws_conn_id``),
``search_path`` (PostgreSQL schema of the lineage tables), ``url`` (a SQLAlchemy URL
without a password, e.g. a SQLite file), ``account`` and ``region``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from airflow_lineage import config
from airflow_lineage.sharing import role_account

__all__ = ["Source", "StoreLocation", "from_connection", "locate"]

log = logging.getLogger(__name__)


class Source(StrEnum):
    """Where a store's location came from."""

    EXPLICIT = "explicit"
    CONNECTION = "connection"
    CONFIG = "config"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A resolved lineage store: its URL, and why it is the one.

    :param url: a SQLAlchemy URL (with the login's password, if any) or ``sagemaker://…``.
    :param source: which rule chose it.
    :param reason: the same for a person, e.g. ``the connection 'lineage_default'``.
    :param account: the account the connection names (its login role's on PostgreSQL).
    :param region: the region the connection names.
    :param conn_id: the connection it came from.
    """

    url: str = field(repr=False)
    source: Source
    reason: str
    account: str | None = None
    region: str | None = None
    conn_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            raise ValueError(f"store URL {self.url!r} is not a URL (e.g. sqlite:///lineage.db)")
        Source(self.source)

    @property
    def explicit(self) -> bool:
        """Return True when the caller named this store (URL or connection)."""
        return self.source is Source.EXPLICIT

    @property
    def display_url(self) -> str:
        """Return the URL with its password masked."""
        if self.url.startswith("sagemaker://"):
            return self.url
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # a URL SQLAlchemy cannot parse is reported as given
            return self.url

    def describe(self) -> str:
        """Return ``URL (reason)`` for messages."""
        return f"{self.display_url} ({self.reason})"

    def __repr__(self) -> str:
        return f"StoreLocation({self.display_url!r}, source={self.source.value!r})"


def locate(
    url: str | None = None, *, conn_id: str | None = None, admin: bool = False
) -> StoreLocation:
    """Return the store to open, and why (see the module's rule).

    :param url: an explicit SQLAlchemy or ``sagemaker://`` URL; it wins.
    :param conn_id: an explicit lineage connection; it must exist. Default: the
        configured ``[ml_lineage] conn_id``, used when it exists.
    :param admin: find the store to migrate or open unrestricted: the admin connection
        (``[ml_lineage] admin_conn_id``, default ``lineage_admin``) comes first, when it
        exists, before the lineage connection.
    :raises ValueError: the URL or the connection is malformed, or a connection named
        explicitly does not exist.
    """
    if url is not None:
        if not isinstance(url, str):
            raise TypeError(f"url must be a string, not {type(url).__name__}")
        return StoreLocation(url, Source.EXPLICIT, "given explicitly")
    if admin and conn_id is None:
        admin_id = config.admin_conn_id()
        found = _airflow_connection(admin_id)
        if found is not None:
            where = from_connection(found, admin_id, admin=True)
            return replace(where, reason=f"the admin connection {admin_id!r}")
    default_id = config.conn_id()
    chosen = conn_id or default_id
    conn = _airflow_connection(chosen)
    if conn is not None:
        return from_connection(conn, chosen)
    if conn_id is not None and conn_id != default_id:
        raise ValueError(f"the lineage connection {conn_id!r} does not exist")
    missing = f"no connection {chosen!r}"
    configured = config.store_url()
    if configured:
        return StoreLocation(configured, Source.CONFIG, f"[ml_lineage] store_url; {missing}")
    return StoreLocation(
        config.embedded_store_url(),
        Source.DEFAULT,
        f"the embedded default $AIRFLOW_HOME/lineage.db; {missing}, no [ml_lineage] store_url",
    )


def from_connection(conn: Any, conn_id: str, *, admin: bool = False) -> StoreLocation:
    """Return the store an Airflow connection describes.

    :param conn: an Airflow ``Connection`` (SDK or core).
    :raises ValueError: the connection names no store, keeps a password in a URL,
        lacks a login on PostgreSQL, or names an account its login is not.
    """
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    where = f"connection {conn_id!r}"
    extra: dict[str, Any] = dict(conn.extra_dejson or {})
    backend = str(extra.get("backend") or "sql")
    account = str(extra["account"]) if extra.get("account") else None
    region = str(extra["region"]) if extra.get("region") else None
    reason = f"the connection {conn_id!r}"
    if backend == "sagemaker":
        from urllib.parse import urlencode

        query = {"aws_conn_id": str(extra.get("aws_conn_id") or "aws_default")}
        return StoreLocation(
            f"sagemaker://?{urlencode(query)}",
            Source.CONNECTION,
            reason,
            account,
            region,
            conn_id,
        )
    if backend != "sql":
        raise ValueError(f"{where}: backend {backend!r} is not available; use 'sql' or 'sagemaker'")
    raw = extra.get("url") or (conn.host if conn.host and "://" in conn.host else None)
    try:
        if raw:
            parsed = make_url(str(raw))
            if parsed.password:
                raise ValueError(
                    f"{where}: its URL holds a password; put the login and password in the "
                    "connection's login and password fields instead"
                )
        elif conn.host:
            parsed = URL.create(
                "postgresql+psycopg",
                host=conn.host,
                port=int(conn.port) if conn.port else None,
                database=conn.schema or None,
            )
        else:
            raise ValueError(
                f"{where} names no store: set its host, port, schema (database), login and "
                "password for PostgreSQL, or 'url' in its extra (e.g. sqlite:////path/lineage.db)"
            )
    except ArgumentError as e:
        raise ValueError(f"{where}: {e}") from None
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if conn.login:
            parsed = parsed.set(username=conn.login)
        if conn.password:
            parsed = parsed.set(password=conn.password)
        if not parsed.username:
            raise ValueError(
                f"{where} has no login: on PostgreSQL each account logs in as its own role "
                "(lineage_acct_<account>); set the connection's login and password"
            )
        search_path = extra.get("search_path")
        if search_path:
            options = parsed.query.get("options", "")
            options = options if isinstance(options, str) else " ".join(options)
            parsed = parsed.update_query_dict(
                {"options": f"{options} -csearch_path={search_path}".strip()}
            )
        own = role_account(str(parsed.username))
        if own is not None and admin:
            raise ValueError(
                f"{where} is the admin connection but logs in as {parsed.username}, an "
                "account's role; log in as the role that owns the lineage tables"
            )
        if own is not None:
            if account is not None and account != own:
                raise ValueError(
                    f"{where} logs in as {parsed.username}, the role of account {own}, but "
                    f"its extra says account {account}; an account is its login: remove the "
                    "extra's account or log in as that account's role"
                )
            account = own
    elif conn.login or conn.password:
        raise ValueError(f"{where}: a {parsed.get_backend_name()} store takes no login or password")
    url = parsed.render_as_string(hide_password=False)
    return StoreLocation(url, Source.CONNECTION, reason, account, region, conn_id)


_NO_CONNECTIONS: ContextVar[bool] = ContextVar("lineage_no_connections", default=False)


@contextmanager
def without_airflow_connections() -> Iterator[None]:
    """Look up no Airflow connection within: each is then as absent.

    For code that runs where a look-up cannot be answered, such as the process the
    OpenLineage provider forks off a task to emit events: there a look-up would wait on
    the task's supervisor forever.
    """
    token = _NO_CONNECTIONS.set(True)
    try:
        yield
    finally:
        _NO_CONNECTIONS.reset(token)


def _airflow_connection(conn_id: str) -> Any | None:
    """Return the Airflow connection ``conn_id``, or None when it (or Airflow) is absent.

    Inside a task the SDK asks the api-server; elsewhere (the CLI, ``airflow db
    migrate``) the environment, the secrets backends and then Airflow's metadata
    database are asked, as ``airflow connections get`` does.
    """
    if _NO_CONNECTIONS.get() or importlib.util.find_spec("airflow") is None:
        return None
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        pass
    if _in_task():
        return None
    return _metastore_connection(conn_id)


def _in_task() -> bool:
    """Return True in a task process (it talks to the api-server, not the database)."""
    import sys

    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


def _metastore_connection(conn_id: str) -> Any | None:
    """Return a connection from Airflow's metadata database, or None."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        from airflow.configuration import conf
        from airflow.models.connection import Connection
    except ImportError:  # a task-only install without the core package
        return None
    database = str(conf.get("database", "sql_alchemy_conn", fallback="") or "")
    if database.startswith("sqlite:///"):
        path = database.split("sqlite:///", 1)[1].split("?", 1)[0]
        if not os.path.exists(path):  # no Airflow database: asking would create one
            return None
    try:
        return Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    except Exception as e:  # no metadata database (yet): no connection in it either
        log.debug("cannot look up connection %r in Airflow's database: %s", conn_id, e)
        return None
