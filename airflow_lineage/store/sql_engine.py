"""The SQL store's engine and session: URLs, SQLite settings, who the store acts as,
transactions, and which accounts' lineage it sees.

Every write is one transaction. SQLite runs in WAL mode and writers take the write lock
up front (``BEGIN IMMEDIATE``) so that concurrent processes queue instead of failing on
a lock upgrade. Idempotent creates rely on unique keys and ``ON CONFLICT DO NOTHING``,
so they hold under concurrent writers too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from airflow_lineage.exceptions import (
    StoreError,
)
from airflow_lineage.model import (
    DEFAULT_ACCOUNT,
    DEFAULT_LINEAGE_GROUP,
    LOCAL_REGION,
    Arn,
)
from airflow_lineage.sharing import (
    AccessDeniedError,
    ShareStatus,
    account_role,
    role_account,
)
from airflow_lineage.store.base import LineageStore
from airflow_lineage.store.migrate import (
    MIGRATE_COMMAND,
    read_revision,
    schema_problem,
    upgrade_engine,
)
from airflow_lineage.store.schema import (
    shares,
)
from airflow_lineage.store.sql_pipeline import supports_pipeline

__all__ = ["SqlCore", "make_engine", "normalize_url", "sqlite_path", "translated"]


def normalize_url(url: str) -> str:
    """Return a SQLAlchemy URL with our preferred drivers (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn driver errors into StoreError, once, at the store boundary."""
    try:
        yield
    except SQLAlchemyError as e:
        raise StoreError(f"lineage store failed to {action}: {e.__class__.__name__}: {e}") from e


def sqlite_path(url: str) -> Path | None:
    """Return the file of a SQLite URL (None: not SQLite, or in memory)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def make_engine(url: str, timeout: float, *, create: bool = False) -> Engine:
    """Return an engine for a store URL with our timeouts and SQLite settings.

    :param create: a SQLite file's folder may be created (only to create a store).
    :raises StoreError: the driver is missing or the URL is unusable.
    """
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        args: dict[str, Any] = {}
        if parsed.get_backend_name() == "postgresql":
            millis = int(timeout * 1000)
            # Keep options the URL sets (e.g. a search_path) and add the timeouts.
            given = parsed.query.get("options", "")
            given = given if isinstance(given, str) else " ".join(given)
            args = {
                "connect_timeout": max(1, round(timeout)),
                "options": f"{given} -c statement_timeout={millis} "
                f"-c lock_timeout={millis}".strip(),
            }
        try:
            engine = sa.create_engine(url, connect_args=args)
        except (SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open lineage store {parsed!r}: {e}") from e
        _ping_when_idle(engine)
        return engine
    path = sqlite_path(url)
    if path is not None:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": timeout})
    else:
        engine = sa.create_engine(url, poolclass=sa.StaticPool)
    busy_ms = int(timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves: the driver's implicit BEGIN is DEFERRED, which
        # makes concurrent writers fail on the lock upgrade instead of waiting.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        # A checkpoint after a bulk load leaves the WAL file this size, not its peak.
        cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("lineage_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


WAL_PAGES = 1000
"""SQLite's own threshold: a commit that leaves more WAL pages copies them into the
database file (a checkpoint)."""

BULK_WAL_PAGES = 100_000
"""The threshold inside :meth:`SqlCore.bulk_load` (about 400 MiB of 4 KiB pages).

A batch of thousands of rows changes a page of each index per row, spread over the whole
index. Checkpointing after every batch copies those pages into the database, and syncs
it, once per batch; letting the WAL grow copies a page that many batches changed once."""

WAL_SIZE_LIMIT = 64 * 2**20
"""The size (bytes) a checkpointed WAL file is truncated to."""


def _pragma(conn: Connection, setting: str) -> None:
    """Run an SQLite PRAGMA on the driver's connection, outside any transaction (through
    SQLAlchemy it would begin one)."""
    sqlite_conn: Any = conn.connection.driver_connection
    sqlite_conn.execute(f"PRAGMA {setting}")


PING_IDLE_S = 5.0
"""A pooled server connection idle longer than this is pinged before it is used."""


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle a while.

    A server or a proxy drops idle connections, so one taken from the pool after a pause
    is checked first (and replaced if dead). Pinging every checkout, as ``pool_pre_ping``
    does, would add a round trip to each write of a process that writes all the time,
    such as the lineage relay, whose connections are never idle long.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["lineage_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("lineage_idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as e:  # the pool replaces the connection and tries again
            raise sa.exc.DisconnectionError(f"idle lineage store connection is gone: {e}") from e
        if not alive:
            raise sa.exc.DisconnectionError("idle lineage store connection is gone")


class SqlCore(LineageStore):
    """A SQL store's connection: engine, acting account, transactions, visibility."""

    def __init__(
        self,
        url: str,
        *,
        account: str | None = None,
        region: str = LOCAL_REGION,
        timeout: float = 60.0,
        create: bool = False,
        unrestricted: bool = False,
    ) -> None:
        if account is not None:
            account_role(account)  # validates it
        Arn(region, DEFAULT_ACCOUNT, "lineage-group", DEFAULT_LINEAGE_GROUP)  # validates it
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.region = region
        self.unrestricted = bool(unrestricted)
        self.url = normalize_url(url)
        self.role: str | None = None  # the account role this store SETs, if any
        self.login: str | None = None
        path = sqlite_path(self.url)
        if path is not None and not create and not path.exists():
            raise StoreError(
                f"no lineage store at {path}: the file does not exist; create it with "
                f"`{MIGRATE_COMMAND}` (or `airflow db migrate`)"
            )
        self._engine = make_engine(self.url, float(timeout), create=create)
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._pipelined = supports_pipeline(self._engine.dialect)
        self._upserts: dict[str, Any] = {}
        self._known_groups: set[tuple[str, str]] = set()
        self._bulk = 0  # how many bulk_load() blocks are open
        if create:
            with translated("create the store"):
                upgrade_engine(self._engine)
        try:
            with translated("open the store"), self._engine.connect() as conn:
                # Who we are first (it needs no schema), then the one revision read, as
                # the role the store will run as.
                if self._sqlite:
                    self.account = account or DEFAULT_ACCOUNT
                else:
                    self.account = self._acting_account(conn, account)
                    if self.role is not None:
                        conn.exec_driver_sql(f"SET LOCAL ROLE {self.role}")
                revision = read_revision(conn)
                problem = schema_problem(revision)
                if problem is not None:
                    if revision is None and not self._sqlite and not self.unrestricted:
                        problem += (
                            f", or the role {self.role or self.login} has no access to it "
                            "(see provision_account_role)"
                        )
                    raise StoreError(f"cannot use the lineage store {self._where()}: {problem}")
                conn.rollback()
        except BaseException:
            self._engine.dispose()
            raise
        if self.role is not None:
            # Connections already pooled ran without it: start the pool afresh.
            self._engine.dispose()
            event.listen(self._engine, "connect", self._set_role)

    def _where(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def _acting_account(self, conn: Connection, account: str | None) -> str:
        """Return the account a PostgreSQL login acts as, choosing its role if need be."""
        login, bypass = conn.exec_driver_sql(
            "SELECT session_user, rolsuper OR rolbypassrls FROM pg_roles "
            "WHERE rolname = session_user"
        ).one()
        self.login = str(login)
        own = role_account(self.login)
        if own is not None and bypass and not self.unrestricted:
            # An account's own login that bypasses row-level security (misprovisioned):
            # the database would not limit its writes to what it sees, so the pipelined
            # write, which relies on that, is not used.
            self._pipelined = False
        if self.unrestricted:
            if not bypass:
                raise AccessDeniedError(
                    f"login {login} may not open the lineage store {self._where()} "
                    "unrestricted: row-level security is forced on every lineage table, so "
                    "only a superuser or a BYPASSRLS role sees every account's lineage"
                )
            return account or own or DEFAULT_ACCOUNT
        if own is not None:
            if account is not None and account != own:
                raise AccessDeniedError(
                    f"login {login} is the role of account {own}; it cannot act as account "
                    f"{account} (an account is the role you log in as: log in as "
                    f"{account_role(account)})"
                )
            return own
        wanted = account or DEFAULT_ACCOUNT
        role = account_role(wanted)
        held = conn.execute(
            sa.text(
                "SELECT pg_has_role(session_user, oid, 'MEMBER') FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).scalar()
        if not held:
            why = "that role does not exist" if held is None else "it does not hold that role"
            raise AccessDeniedError(
                f"login {login} cannot act as account {wanted} in the lineage store "
                f"{self._where()}: {why}. On PostgreSQL an account is a login: log in as "
                f"{role} (see provision_account_role), or use connect_admin() for "
                "unrestricted access"
            )
        self.role = role
        return wanted

    def _set_role(self, dbapi_conn: Any, _record: Any) -> None:
        # Committed, so that no rollback of the pool takes the role back.
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET ROLE {self.role}")  # validated: lineage_acct_<digits>
        dbapi_conn.commit()

    @contextmanager
    def _write_tx(self) -> Iterator[Connection]:
        with self._engine.connect().execution_options(lineage_write=True) as conn:
            if self._sqlite:
                self._set_wal_pages(conn, BULK_WAL_PAGES if self._bulk else WAL_PAGES)
            with conn.begin():
                yield conn

    @staticmethod
    def _set_wal_pages(conn: Connection, pages: int) -> None:
        """Set the checkpoint threshold of an SQLite connection (before its transaction)."""
        info = conn.connection.info
        if info.get("lineage_wal_pages") != pages:
            _pragma(conn, f"wal_autocheckpoint={pages}")
            info["lineage_wal_pages"] = pages

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Write many batches in this block faster (SQLite: checkpoint at its end).

        Inside it, the embedded store's write-ahead log grows up to
        :data:`BULK_WAL_PAGES` pages before it is copied into the database; on the way
        out the log is checkpointed, so the next small write does not pay for it.
        PostgreSQL has nothing to gain from it: the block changes nothing there.
        """
        self._bulk += 1
        try:
            yield
        finally:
            self._bulk -= 1
            if self._sqlite and not self._bulk:
                with translated("checkpoint the store"), self._engine.connect() as conn:
                    _pragma(conn, "wal_checkpoint(PASSIVE)")

    @contextmanager
    def _read_tx(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction; ``snapshot``: every statement sees the same data."""
        with self._engine.connect() as conn:
            if snapshot and not self._sqlite:  # SQLite reads are one snapshot anyway
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._pager.clear()
        self._engine.dispose()

    def __repr__(self) -> str:
        where = make_url(self.url).render_as_string(hide_password=True)
        return f"SqlStore({where!r}, account={getattr(self, 'account', None)!r})"

    @property
    def _enforced(self) -> bool:
        """Whether the database itself limits this store to its account (PostgreSQL RLS)."""
        return not self._sqlite and not self.unrestricted

    # -- visibility ----------------------------------------------------------------------

    def _visible_sql(self, column: str) -> str:
        """SQL that holds when ``column`` (an account) is visible; needs :lineage_me."""
        if self.unrestricted:
            return "1 = 1"
        return (
            f"({column} = :lineage_me OR {column} IN (SELECT owner_account FROM "
            "lineage_shares WHERE consumer_account = :lineage_me AND status = 'Accepted'))"
        )

    def _visible_clause(self, column: Any) -> Any:
        """The SQLAlchemy form of :meth:`_visible_sql`."""
        if self.unrestricted:
            return sa.true()
        shared = sa.select(shares.c.owner_account).where(
            shares.c.consumer_account == self.account,
            shares.c.status == ShareStatus.ACCEPTED.value,
        )
        return sa.or_(column == self.account, column.in_(shared))

    def _visible_accounts(self, conn: Connection) -> list[str] | None:
        """Return the accounts the caller may see, or None when it may see all there are.

        One small statement over the groups and shares tables: a store whose lineage is
        all its own (or all shared with it) filters nothing.
        """
        visible, everything = self._visibility(conn)
        return None if everything else visible

    def _visibility(self, conn: Connection) -> tuple[list[str], bool]:
        """Return the accounts the caller sees, and whether they are all there are."""
        return self._visibility_on(conn.connection)

    def _visibility_on(self, dbapi_conn: Any) -> tuple[list[str], bool]:
        """:meth:`_visibility` on a DB-API connection."""
        if self.unrestricted:
            return [], True
        # Straight on the driver's cursor: it runs before every query, and a result
        # object costs more than the statement.
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(*self._visibility_statement())
            rows = cursor.fetchall()
        finally:
            cursor.close()
        visible = {self.account} | {a for a, shared in rows if shared}
        present = {a for a, shared in rows if not shared}
        return sorted(visible), present <= visible

    def _visibility_statement(self) -> tuple[str, Any]:
        mark = "?" if self._sqlite else "%s"
        sql = (
            "SELECT account, 0 FROM lineage_groups UNION ALL SELECT owner_account, 1 "
            f"FROM lineage_shares WHERE consumer_account = {mark} AND status = 'Accepted'"
        )
        return sql, (self.account,)

    def _own(self, arn: str, doing: str) -> None:
        """Refuse to change an entity of another account (decided by the ARN alone)."""
        owner = Arn.parse(arn).account
        if owner != self.account and not self.unrestricted:
            raise AccessDeniedError(
                f"cannot {doing} {arn}: it belongs to account {owner}, and account "
                f"{self.account} may not create, change or delete another account's entities"
            )

    # -- set parameters (one bound value, whatever the set's size) --------------------

    def _in(self, column: str, param: str) -> str:
        if self._sqlite:
            return f"{column} IN (SELECT value FROM json_each(:{param}))"
        return f"{column} = ANY(:{param})"

    def _set(self, values: Sequence[Any]) -> Any:
        return json.dumps(list(values)) if self._sqlite else list(values)

    def _insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)
