"""The embedded lineage store on SQLAlchemy Core: a SQLite file or PostgreSQL.

Every write is one transaction. SQLite runs in WAL mode and writers take the write lock
up front (``BEGIN IMMEDIATE``) so that concurrent processes queue instead of failing on
a lock upgrade. Idempotent creates rely on unique keys and ``ON CONFLICT DO NOTHING``,
so they hold under concurrent writers too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from airflow_lineage.exceptions import (
    AssociationsExistError,
    EntityNotFoundError,
    InvalidPageTokenError,
    StoreError,
)
from airflow_lineage.model import (
    DEFAULT_ACCOUNT,
    DEFAULT_LINEAGE_GROUP,
    LOCAL_REGION,
    Action,
    ActionStatus,
    Arn,
    Artifact,
    Association,
    AssociationType,
    Context,
    Entity,
    LineageGroup,
    LineageType,
    SourceType,
    from_micros,
    to_micros,
    utcnow,
)
from airflow_lineage.pagetoken import PageToken, scope_of
from airflow_lineage.query import LineageQuery
from airflow_lineage.sharing import (
    AccessDeniedError,
    Share,
    ShareStatus,
    account_role,
    lineage_group_policy,
    role_account,
)
from airflow_lineage.store.base import LineageStore, Page, updated_entity
from airflow_lineage.store.interface import Sharing
from airflow_lineage.store.migrate import (
    MIGRATE_COMMAND,
    read_revision,
    schema_problem,
    upgrade_engine,
)
from airflow_lineage.store.querying import view_of
from airflow_lineage.store.schema import (
    associations,
    entities,
    lineage_groups,
    shares,
)
from airflow_lineage.traversal import AttributeRow

__all__ = ["SqlStore", "make_engine", "normalize_url", "sqlite_path"]

log = logging.getLogger(__name__)

_MUTABLE_COLUMNS = (
    "name",
    "status",
    "description",
    "properties",
    "metadata_properties",
    "tags",
    "modified_at",
)
_ENTITY_CLASSES: dict[str, type[Artifact] | type[Action] | type[Context]] = {
    "Artifact": Artifact,
    "Action": Action,
    "Context": Context,
}


def _json_or_none(values: Mapping[str, str]) -> str | None:
    return json.dumps(dict(values), sort_keys=True) if values else None


def normalize_url(url: str) -> str:
    """Return a SQLAlchemy URL with our preferred drivers (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@contextmanager
def _translated(action: str) -> Iterator[None]:
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
            return sa.create_engine(url, pool_pre_ping=True, connect_args=args)
        except (SQLAlchemyError, ImportError) as e:
            raise StoreError(f"cannot open lineage store {parsed!r}: {e}") from e
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
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("lineage_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class SqlStore(LineageStore, Sharing):
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
        self._upserts: dict[str, Any] = {}
        self._known_groups: set[tuple[str, str]] = set()
        if create:
            with _translated("create the store"):
                upgrade_engine(self._engine)
        try:
            with _translated("open the store"), self._engine.connect() as conn:
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
        with self._engine.connect().execution_options(lineage_write=True) as conn, conn.begin():
            yield conn

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
        if self.unrestricted:
            return [], True
        rows = conn.exec_driver_sql(*self._visibility_statement()).all()
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

    # -- rows <-> entities -------------------------------------------------------------

    @staticmethod
    def _entity_row(entity: Entity) -> dict[str, Any]:
        source: object
        if isinstance(entity, Artifact):
            source = [[st.id_type.value, st.value] for st in entity.source_types]
            status = description = None
        else:
            source = {"SourceType": entity.source_type, "SourceId": entity.source_id}
            status = entity.status.value if isinstance(entity, Action) else None
            description = entity.description
        assert entity.modified is not None
        return {
            "arn": entity.arn,
            "account": entity.account,
            "lineage_type": entity.lineage_type.value,
            "name": entity.name,
            "type": entity.type,
            "source_uri": entity.source_uri,
            "source": json.dumps(source, separators=(",", ":")),
            "status": status,
            "description": description,
            "properties": json.dumps(dict(entity.properties), sort_keys=True),
            "metadata_properties": _json_or_none(entity.metadata_properties),
            "tags": _json_or_none(entity.tags),
            "created_at": to_micros(entity.created),
            "modified_at": to_micros(entity.modified),
        }

    @staticmethod
    def _row_entity(row: Any) -> Entity:
        common: dict[str, Any] = {
            "arn": row.arn,
            "type": row.type,
            "source_uri": row.source_uri,
            "name": row.name,
            "properties": json.loads(row.properties),
            "metadata_properties": json.loads(row.metadata_properties or "{}"),
            "tags": json.loads(row.tags or "{}"),
            "created": from_micros(row.created_at),
            "modified": from_micros(row.modified_at),
        }
        source = json.loads(row.source) if row.source else None
        if row.lineage_type == "Artifact":
            types = tuple(SourceType.of(tuple(pair)) for pair in source or ())
            return Artifact(source_types=types, **common)
        extra = {
            "description": row.description,
            "source_type": (source or {}).get("SourceType"),
            "source_id": (source or {}).get("SourceId"),
        }
        if row.lineage_type == "Action":
            return Action(status=ActionStatus(row.status), **common, **extra)
        return Context(**common, **extra)

    # -- writes -------------------------------------------------------------------------

    def write(
        self,
        entities: Iterable[Entity] = (),
        associations: Iterable[Association] = (),
        *,
        upsert: bool | Collection[str] = False,
    ) -> None:
        """Record entities and associations in one transaction (all or nothing)."""
        ents = list(entities)
        assocs = list(associations)
        for e in ents:
            if not isinstance(e, Artifact | Action | Context):
                raise TypeError(
                    f"write() takes Artifact, Action or Context, not {type(e).__name__}"
                )
        for a in assocs:
            if not isinstance(a, Association):
                raise TypeError(f"write() takes Association edges, not {type(a).__name__}")
        for e in ents:
            self._own(e.arn, "write")
        for a in assocs:
            if a.account is not None and a.account != self.account and not self.unrestricted:
                raise AccessDeniedError(
                    f"cannot record the association {a.source_arn} -> {a.destination_arn} "
                    f"as added by account {a.account}: this store acts as {self.account}"
                )
        if not ents and not assocs:
            return
        with _translated("write lineage"), self._write_tx() as conn:
            new_groups = self._write(conn, ents, assocs, upsert)
        self._known_groups |= new_groups  # only once the transaction has committed

    def _statement(self, kind: str) -> Any:
        """Return a cached insert statement (building one costs more than running it)."""
        stmt = self._upserts.get(kind)
        if stmt is not None:
            return stmt
        if kind == "upsert":
            insert = self._insert(entities)
            fresh = insert.excluded
            stmt = insert.on_conflict_do_update(
                index_elements=["arn"],
                set_={col: fresh[col] for col in _MUTABLE_COLUMNS},
                # Last writer by modification time wins, whatever order records arrive in.
                where=fresh.modified_at >= entities.c.modified_at,
            )
        elif kind == "insert":
            stmt = self._insert(entities).on_conflict_do_nothing(index_elements=["arn"])
        elif kind == "groups":
            stmt = self._insert(lineage_groups).on_conflict_do_nothing(
                index_elements=["account", "name"]
            )
        else:
            stmt = self._insert(associations).on_conflict_do_nothing(
                index_elements=["source_id", "destination_id"]
            )
        self._upserts[kind] = stmt
        return stmt

    def _write(
        self,
        conn: Connection,
        ents: list[Entity],
        assocs: list[Association],
        upsert: bool | Collection[str],
    ) -> set[tuple[str, str]]:
        """Write in the caller's transaction; return the lineage groups it created."""
        added: set[tuple[str, str]] = set()
        if ents:
            rows = [self._entity_row(e) for e in ents]
            if isinstance(upsert, bool):
                conn.execute(self._statement("upsert" if upsert else "insert"), rows)
            else:
                chosen = set(upsert)
                updated = [r for r in rows if r["arn"] in chosen]
                kept = [r for r in rows if r["arn"] not in chosen]
                if updated:
                    conn.execute(self._statement("upsert"), updated)
                if kept:
                    conn.execute(self._statement("insert"), kept)
            groups: dict[str, dict[str, Any]] = {}
            for e, row in zip(ents, rows, strict=True):
                arn = Arn.parse(e.arn)
                if (arn.account, arn.region) in self._known_groups:
                    continue
                g = groups.setdefault(
                    arn.account,
                    {
                        "account": arn.account,
                        "name": DEFAULT_LINEAGE_GROUP,
                        "region": arn.region,
                        "created_at": row["created_at"],
                    },
                )
                g["created_at"] = min(g["created_at"], row["created_at"])
            if groups:
                conn.execute(self._statement("groups"), list(groups.values()))
                added = {(g["account"], g["region"]) for g in groups.values()}
        if assocs:
            wanted = {a.source_arn for a in assocs} | {a.destination_arn for a in assocs}
            # Both ends must be entities the caller sees (its own, or shared with it):
            # an invisible entity is as unknown as a missing one.
            ids = self._ids(conn, list(wanted), self._visible_accounts(conn))
            missing = sorted(wanted - ids.keys())
            if missing:
                raise EntityNotFoundError(
                    f"cannot associate: no lineage entity has the ARN {missing[0]}"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                )
            rows = [
                {
                    "source_id": ids[a.source_arn],
                    "destination_id": ids[a.destination_arn],
                    "association_type": a.association_type.value if a.association_type else None,
                    "account": a.account or self.account,
                    "created_at": to_micros(a.created),
                }
                for a in assocs
            ]
            conn.execute(self._statement("associations"), rows)
        return added

    def _ids(
        self, conn: Connection, arns: Sequence[str], visible: Sequence[str] | None = None
    ) -> dict[str, int]:
        """Return the ids of these entities, of the ``visible`` accounts only if given."""
        where = self._in("arn", "arns")
        params = {"arns": self._set(arns)}
        if visible is not None:
            where += " AND " + self._in("account", "accounts")
            params["accounts"] = self._set(visible)
        sql = sa.text(f"SELECT arn, id FROM lineage_entities WHERE {where}")
        return {arn: id_ for arn, id_ in conn.execute(sql, params)}

    def update(
        self,
        arn: str,
        *,
        status: ActionStatus | str | None = None,
        description: str | None = None,
        name: str | None = None,
        properties: Mapping[str, str] | None = None,
        properties_to_remove: Iterable[str] = (),
    ) -> Entity:
        """Change an entity's mutable fields; given properties are merged, then removed."""
        self._own(arn, "update")
        if isinstance(properties_to_remove, str):
            raise TypeError("properties_to_remove must be a list of keys, not one string")
        remove = list(properties_to_remove)
        with _translated("update lineage"), self._write_tx() as conn:
            current = self._get_many(conn, [arn]).get(arn)
            if current is None:
                raise EntityNotFoundError(f"no lineage entity has the ARN {arn}")
            updated = updated_entity(current, status, description, name, properties, remove)
            row = self._entity_row(updated)
            conn.execute(
                entities.update()
                .where(entities.c.arn == arn)
                .values(
                    {
                        k: row[k]
                        for k in ("name", "status", "description", "properties", "modified_at")
                    }
                )
            )
        return updated

    def delete(self, arn: str, *, disassociate: bool = False) -> None:
        """Delete an entity; with ``disassociate`` its associations go first.

        The owner's own entity takes with it every association that touches it, also
        those added by accounts it cannot see.
        """
        self._own(arn, "delete")
        with _translated("delete lineage"), self._write_tx() as conn:
            id_ = self._ids(conn, [arn]).get(arn)
            if id_ is None:
                raise EntityNotFoundError(f"no lineage entity has the ARN {arn}")
            touching = sa.or_(associations.c.source_id == id_, associations.c.destination_id == id_)
            if disassociate:
                conn.execute(associations.delete().where(touching))
            else:
                count = conn.execute(
                    sa.select(sa.func.count()).select_from(associations).where(touching)
                ).scalar_one()
                seen = count
                if count:
                    src = entities.alias("src")
                    dst = entities.alias("dst")
                    seen = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(
                            associations.join(src, src.c.id == associations.c.source_id).join(
                                dst, dst.c.id == associations.c.destination_id
                            )
                        )
                        .where(
                            touching,
                            self._visible_clause(src.c.account),
                            self._visible_clause(dst.c.account),
                        )
                    ).scalar_one()
                # Under row-level security the count above covers only visible edges;
                # whether hidden ones exist shows only as the foreign key refusing.
                hidden = count > seen or (self._enforced and self._edges_hidden(conn, id_))
                if count or hidden:
                    also = " and associations with lineage it cannot see" if hidden else ""
                    raise AssociationsExistError(
                        f"{arn} still has {seen} association(s){also}; delete them first "
                        "or pass disassociate=True"
                    )
            try:
                with conn.begin_nested():
                    conn.execute(entities.delete().where(entities.c.id == id_))
            except sa.exc.IntegrityError:
                raise AssociationsExistError(
                    f"{arn} still has associations added by accounts whose lineage this "
                    f"account ({self.account}) cannot see; they must be deleted by them"
                ) from None

    @staticmethod
    def _edges_hidden(conn: Connection, id_: int) -> bool:
        """Return True when edges this session cannot see still reference entity ``id_``."""
        touching = sa.or_(associations.c.source_id == id_, associations.c.destination_id == id_)
        probe = conn.begin_nested()
        try:
            conn.execute(associations.delete().where(touching))
            conn.execute(entities.delete().where(entities.c.id == id_))
        except sa.exc.IntegrityError:
            return True
        finally:
            probe.rollback()
        return False

    def delete_association(self, source_arn: str, destination_arn: str) -> None:
        """Delete the association between two entities."""
        Arn.parse(source_arn, field_name="SourceArn")
        Arn.parse(destination_arn, field_name="DestinationArn")
        with _translated("delete an association"), self._write_tx() as conn:
            ids = self._ids(conn, [source_arn, destination_arn], self._visible_accounts(conn))
            deleted = 0
            if len(ids) == 2:
                deleted = conn.execute(
                    associations.delete().where(
                        associations.c.source_id == ids[source_arn],
                        associations.c.destination_id == ids[destination_arn],
                    )
                ).rowcount
            if not deleted:
                raise EntityNotFoundError(f"no association from {source_arn} to {destination_arn}")

    # -- reads --------------------------------------------------------------------------

    def get_many(self, arns: Sequence[str]) -> dict[str, Entity]:
        """Return the entities with these ARNs; unknown ARNs are left out."""
        if isinstance(arns, str):
            raise TypeError("get_many() takes a list of ARNs, not one string")
        with _translated("read lineage"), self._read_tx() as conn:
            return self._get_many(conn, arns)

    def _get_many(self, conn: Connection, arns: Sequence[str]) -> dict[str, Entity]:
        if not arns:
            return {}
        sql = sa.text(
            f"SELECT * FROM lineage_entities WHERE {self._in('arn', 'arns')} "
            f"AND {self._visible_sql('account')}"
        )
        params = {"arns": self._set(arns), "lineage_me": self.account}
        return {row.arn: self._row_entity(row) for row in conn.execute(sql, params)}

    def list_entities(
        self,
        lineage_type: LineageType | str,
        *,
        type: str | None = None,
        source_uri: str | None = None,
        name: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        ascending: bool = False,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> Page[Entity]:
        """List artifacts, actions or contexts, newest first unless ``ascending``."""
        kind = LineageType(lineage_type)
        if kind is LineageType.TRIAL_COMPONENT:
            raise ValueError("the SQL store holds no trial components")
        conds = [entities.c.lineage_type == kind.value, self._visible_clause(entities.c.account)]
        if type is not None:
            conds.append(entities.c.type == type)
        if source_uri is not None:
            conds.append(entities.c.source_uri == source_uri)
        if name is not None:
            conds.append(entities.c.name == name)
        fingerprint = ["entities", kind.value, type, source_uri, name]
        return self._list(
            entities,
            fingerprint,
            [entities.c.created_at, entities.c.id],
            ["created_at", "id"],
            conds,
            created_after,
            created_before,
            ascending,
            max_results,
            next_token,
            self._row_entity,
        )

    def list_associations(
        self,
        *,
        source_arn: str | None = None,
        destination_arn: str | None = None,
        association_type: AssociationType | str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        ascending: bool = False,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> Page[Association]:
        """List associations, newest first unless ``ascending``."""
        src = entities.alias("src")
        dst = entities.alias("dst")
        joined = associations.join(src, src.c.id == associations.c.source_id).join(
            dst, dst.c.id == associations.c.destination_id
        )
        conds = [self._visible_clause(src.c.account), self._visible_clause(dst.c.account)]
        if source_arn is not None:
            conds.append(src.c.arn == Arn.parse(source_arn, field_name="SourceArn").__str__())
        if destination_arn is not None:
            Arn.parse(destination_arn, field_name="DestinationArn")
            conds.append(dst.c.arn == destination_arn)
        if association_type is not None:
            conds.append(associations.c.association_type == AssociationType(association_type).value)
        select_from = sa.select(
            src.c.arn.label("source_arn"),
            dst.c.arn.label("destination_arn"),
            associations.c.association_type,
            associations.c.created_at,
            associations.c.account,
            associations.c.source_id,
            associations.c.destination_id,
        ).select_from(joined)

        def to_assoc(row: Any) -> Association:
            kind = AssociationType(row.association_type) if row.association_type else None
            return Association(
                row.source_arn, row.destination_arn, kind, from_micros(row.created_at), row.account
            )

        fingerprint = ["associations", source_arn, destination_arn, str(association_type)]
        return self._list(
            select_from,
            fingerprint,
            # A stable tie-break for edges created in the same microsecond.
            [associations.c.created_at, associations.c.source_id, associations.c.destination_id],
            ["created_at", "source_id", "destination_id"],
            conds,
            created_after,
            created_before,
            ascending,
            max_results,
            next_token,
            to_assoc,
        )

    def _list(
        self,
        source: Any,
        fingerprint: list[Any],
        sort_columns: list[Any],
        sort_keys: list[str],
        conds: list[Any],
        created_after: datetime | None,
        created_before: datetime | None,
        ascending: bool,
        max_results: int | None,
        next_token: str | None,
        convert: Any,
    ) -> Page[Any]:
        """List rows in (created, id...) order, a page at a time, by keyset.

        The token holds the last row's sort key and a digest of the filters, so a page
        never repeats or skips a row when rows are added meanwhile, and a token is only
        accepted by the listing that handed it out.
        """
        if max_results is not None and (isinstance(max_results, bool) or max_results < 1):
            raise ValueError(f"MaxResults must be at least 1, got {max_results}")
        created = sort_columns[0]
        if created_after is not None:
            conds.append(created >= to_micros(created_after))
        if created_before is not None:
            conds.append(created <= to_micros(created_before))
        digest = scope_of([*fingerprint, created_after, created_before, ascending])
        if next_token:
            after = PageToken.decode(next_token, digest).position
            if len(after) != len(sort_keys) or not all(isinstance(v, int) for v in after):
                raise InvalidPageTokenError("NextToken is not a token this store handed out")
            position = sa.tuple_(*sort_columns)
            bound = sa.tuple_(*(sa.literal(v) for v in after))
            conds.append(position > bound if ascending else position < bound)
        stmt = source.select() if isinstance(source, sa.Table) else source
        order = [c.asc() if ascending else c.desc() for c in sort_columns]
        stmt = stmt.where(*conds).order_by(*order)
        if max_results is not None:
            stmt = stmt.limit(max_results + 1)
        with _translated("list lineage"), self._read_tx() as conn:
            rows = conn.execute(stmt).all()
        more = max_results is not None and len(rows) > max_results
        rows = rows[:max_results] if more else rows
        token = None
        if more:
            last = rows[-1]._mapping
            token = PageToken(digest, tuple(last[k] for k in sort_keys)).encode()
        return Page(tuple(convert(r) for r in rows), token)

    # -- query --------------------------------------------------------------------------

    @contextmanager
    def read_graph(self, snapshot: int, query: LineageQuery) -> Iterator[_SqlGraph]:
        """Open one consistent read of the graph as of ``snapshot`` (µs)."""
        with _translated("query lineage"), self._read_tx(snapshot=True) as conn:
            yield _SqlGraph(self, conn, snapshot)

    def associations_among(self, arns: Sequence[str]) -> list[Association]:
        """Return every association whose two ends are both among ``arns``."""
        if isinstance(arns, str):
            raise TypeError("associations_among() takes a list of ARNs, not one string")
        if not arns:
            return []
        src_in = self._in("s.arn", "arns")
        dst_in = self._in("d.arn", "arns")
        sql = sa.text(
            "SELECT s.arn AS source_arn, d.arn AS destination_arn, a.association_type, "
            "a.created_at, a.account FROM lineage_associations a "
            "JOIN lineage_entities s ON s.id = a.source_id "
            "JOIN lineage_entities d ON d.id = a.destination_id "
            f"WHERE {src_in} AND {dst_in} AND {self._visible_sql('s.account')} "
            f"AND {self._visible_sql('d.account')} ORDER BY s.arn, d.arn"
        )
        params = {"arns": self._set(list(arns)), "lineage_me": self.account}
        with _translated("read associations"), self._read_tx() as conn:
            rows = conn.execute(sql, params).all()
        return [
            Association(
                r.source_arn,
                r.destination_arn,
                AssociationType(r.association_type) if r.association_type else None,
                from_micros(r.created_at),
                r.account,
            )
            for r in rows
        ]

    # -- groups, export -------------------------------------------------------------------

    def lineage_groups(self) -> list[LineageGroup]:
        """Return the account's lineage groups (its default group once it has lineage or
        shares it) and the groups shared with it that it accepted, own first."""
        stmt = (
            sa.select(lineage_groups)
            .where(self._visible_clause(lineage_groups.c.account))
            .order_by(lineage_groups.c.account != self.account, lineage_groups.c.account)
        )
        with _translated("list lineage groups"), self._read_tx() as conn:
            return [
                LineageGroup(r.name, r.account, r.region, from_micros(r.created_at))
                for r in conn.execute(stmt)
            ]

    # -- sharing ------------------------------------------------------------------------

    def _check_group(self, group: str, other: str, label: str) -> None:
        Arn(self.region, other, "lineage-group", group)  # validates the account
        if group != DEFAULT_LINEAGE_GROUP:
            raise ValueError(
                f"only {DEFAULT_LINEAGE_GROUP!r} can be shared (every entity belongs to its "
                f"account's default group), not {group!r}"
            )
        if other == self.account:
            raise ValueError(f"{label} {other} is this store's own account")

    @staticmethod
    def _row_share(row: Any) -> Share:
        return Share(
            owner=row.owner_account,
            consumer=row.consumer_account,
            group=row.group_name,
            region=row.region,
            status=ShareStatus(row.status),
            created=from_micros(row.created_at),
            modified=from_micros(row.modified_at),
        )

    def _share_row(self, conn: Connection, owner: str, consumer: str, group: str) -> Any:
        return conn.execute(
            sa.select(shares).where(
                shares.c.owner_account == owner,
                shares.c.consumer_account == consumer,
                shares.c.group_name == group,
            )
        ).first()

    def share(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Invite ``consumer_account`` to this account's lineage group (as a RAM share)."""
        self._check_group(group, consumer_account, "consumer_account")
        now = to_micros(utcnow())
        with _translated("share a lineage group"), self._write_tx() as conn:
            conn.execute(
                self._statement("groups"),
                [
                    {
                        "account": self.account,
                        "name": group,
                        "region": self.region,
                        "created_at": now,
                    }
                ],
            )
            row = self._share_row(conn, self.account, consumer_account, group)
            if row is None:
                conn.execute(
                    shares.insert().values(
                        owner_account=self.account,
                        consumer_account=consumer_account,
                        group_name=group,
                        region=self.region,
                        status=ShareStatus.PENDING.value,
                        created_at=now,
                        modified_at=now,
                    )
                )
            elif row.status == ShareStatus.REVOKED.value:
                conn.execute(
                    shares.update()
                    .where(
                        shares.c.owner_account == self.account,
                        shares.c.consumer_account == consumer_account,
                        shares.c.group_name == group,
                    )
                    .values(status=ShareStatus.PENDING.value, modified_at=now)
                )
            row = self._share_row(conn, self.account, consumer_account, group)
        self._known_groups.add((self.account, self.region))
        return self._row_share(row)

    def _set_status(
        self, owner: str, consumer: str, group: str, before: set[ShareStatus], after: ShareStatus
    ) -> Share | None:
        now = to_micros(utcnow())
        with _translated("change a share"), self._write_tx() as conn:
            row = self._share_row(conn, owner, consumer, group)
            if row is None or ShareStatus(row.status) not in before:
                return None
            if ShareStatus(row.status) is not after:
                conn.execute(
                    shares.update()
                    .where(
                        shares.c.owner_account == owner,
                        shares.c.consumer_account == consumer,
                        shares.c.group_name == group,
                    )
                    .values(status=after.value, modified_at=now)
                )
                row = self._share_row(conn, owner, consumer, group)
        return self._row_share(row)

    def accept(self, owner_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Accept ``owner_account``'s invitation: its lineage becomes visible to this one."""
        self._check_group(group, owner_account, "owner_account")
        done = self._set_status(
            owner_account,
            self.account,
            group,
            {ShareStatus.PENDING, ShareStatus.ACCEPTED},
            ShareStatus.ACCEPTED,
        )
        if done is None:
            raise EntityNotFoundError(
                f"account {owner_account} has no pending invitation to its lineage group "
                f"{group} for account {self.account}"
            )
        self._pager.clear()
        return done

    def revoke(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Stop sharing this account's lineage group with ``consumer_account``."""
        self._check_group(group, consumer_account, "consumer_account")
        done = self._set_status(
            self.account,
            consumer_account,
            group,
            {ShareStatus.PENDING, ShareStatus.ACCEPTED, ShareStatus.REVOKED},
            ShareStatus.REVOKED,
        )
        if done is None:
            raise EntityNotFoundError(
                f"lineage group {group} of account {self.account} is not shared with "
                f"account {consumer_account}"
            )
        return done

    def shares(self) -> list[Share]:
        """Return the shares this account is a party to: those it owns, then the others."""
        stmt = (
            sa.select(shares)
            .where(
                sa.or_(
                    shares.c.owner_account == self.account,
                    shares.c.consumer_account == self.account,
                )
            )
            .order_by(
                shares.c.owner_account != self.account,
                shares.c.owner_account,
                shares.c.group_name,
                shares.c.consumer_account,
            )
        )
        with _translated("list shares"), self._read_tx() as conn:
            return [self._row_share(r) for r in conn.execute(stmt)]

    def get_lineage_group_policy(self, lineage_group: str) -> dict[str, str]:
        """Return the resource policy of a lineage group this account sees (by name or
        ARN): the SageMaker actions it allows its accepted consumers."""
        if not isinstance(lineage_group, str):
            raise TypeError(f"lineage_group must be a string, not {type(lineage_group).__name__}")
        if lineage_group.startswith("arn:"):
            parsed = Arn.parse(lineage_group, field_name="LineageGroupArn")
            if parsed.resource != "lineage-group":
                raise ValueError(f"{lineage_group!r} is not a lineage group ARN")
            owner, name = parsed.account, parsed.resource_id
        else:
            owner, name = self.account, lineage_group
        visible = {g.arn: g for g in self.lineage_groups() if (g.account, g.name) == (owner, name)}
        if not visible:
            raise EntityNotFoundError(
                f"no lineage group {lineage_group} is visible to account {self.account}"
            )
        (group,) = visible.values()
        with _translated("read a lineage group policy"), self._read_tx() as conn:
            consumers = (
                conn.execute(
                    sa.select(shares.c.consumer_account).where(
                        shares.c.owner_account == owner,
                        shares.c.group_name == name,
                        shares.c.status == ShareStatus.ACCEPTED.value,
                    )
                )
                .scalars()
                .all()
            )
        if owner != self.account:
            consumers = [c for c in consumers if c == self.account]  # not the owner's others
        return lineage_group_policy(group.arn, list(consumers))

    def provision_account_role(
        self, account: str, *, password: str | None = None, grant_to: str | None = None
    ) -> str:
        """PostgreSQL: create the login role of ``account`` with the grants row-level
        security needs (see :func:`airflow_lineage.sharing.provision_account_role`);
        return its name.

        Run it on a store opened with :func:`~airflow_lineage.store.connect_admin` by a
        role that owns the lineage tables and may create roles.

        :raises ValueError: the store is SQLite, which has no roles.
        """
        if self._sqlite:
            raise ValueError("account roles are a PostgreSQL feature; SQLite has no roles")
        from airflow_lineage.sharing import provision_account_role

        with _translated("provision an account role"), self._engine.begin() as conn:
            return provision_account_role(conn, account, password=password, grant_to=grant_to)

    def export(self) -> Iterator[Entity | Association]:
        """Yield every entity, then every association, from one consistent snapshot."""
        src = entities.alias("src")
        dst = entities.alias("dst")
        edges = (
            sa.select(
                src.c.arn.label("source_arn"),
                dst.c.arn.label("destination_arn"),
                associations.c.association_type,
                associations.c.created_at,
                associations.c.account,
            )
            .select_from(
                associations.join(src, src.c.id == associations.c.source_id).join(
                    dst, dst.c.id == associations.c.destination_id
                )
            )
            .where(self._visible_clause(src.c.account), self._visible_clause(dst.c.account))
            .order_by(
                associations.c.created_at, associations.c.source_id, associations.c.destination_id
            )
        )
        with _translated("export lineage"), self._read_tx(snapshot=True) as conn:
            rows = conn.execution_options(yield_per=2000).execute(
                sa.select(entities)
                .where(self._visible_clause(entities.c.account))
                .order_by(entities.c.id)
            )
            for row in rows:
                yield self._row_entity(row)
            for row in conn.execution_options(yield_per=2000).execute(edges):
                kind = AssociationType(row.association_type) if row.association_type else None
                yield Association(
                    row.source_arn,
                    row.destination_arn,
                    kind,
                    from_micros(row.created_at),
                    row.account,
                )


class _SqlGraph:
    """The query walk's view of a SQL store, inside one read transaction.

    The walk's statements go straight to the DB-API cursor: each level may return tens of
    thousands of rows, and plain tuples cost a fraction of SQLAlchemy rows.
    """

    def __init__(self, store: SqlStore, conn: Connection, snapshot: int) -> None:
        self._cursor = conn.connection.cursor()
        self._sqlite = store._sqlite
        self._snapshot = snapshot
        # The accounts the caller sees, looked up once; no filter when they are all there
        # are (a store of one account, or one that sees every account it holds).
        self.visible, everything = store._visibility(conn)
        self.view = view_of(store.account, None if store.unrestricted else self.visible)
        self.accounts = None if everything else self.visible
        self._accounts: Any = None
        if self.accounts is not None:
            self._accounts = json.dumps(self.accounts) if self._sqlite else self.accounts

        def within(column: str, param: str = "ids") -> str:
            if self._sqlite:
                return f"{column} IN (SELECT value FROM json_each(:{param}))"
            return f"{column} = ANY(%({param})s)"

        snap = ":snap" if self._sqlite else "%(snap)s"
        seen = "" if self.accounts is None else " AND " + within("e.account", "accounts")
        # The snapshot bound: only associations (and so vertices) there at page 1.
        seen += f" AND a.created_at <= {snap}"
        attrs = "SELECT e.id, e.arn, e.type, e.lineage_type, e.created_at, e.modified_at"
        join = "FROM lineage_associations a JOIN lineage_entities e ON e.id ="
        down = f"{join} a.destination_id WHERE {within('a.source_id')}{seen}"
        up = f"{join} a.source_id WHERE {within('a.destination_id')}{seen}"
        self._next: dict[tuple[str, bool], str] = {}
        for props, extra in ((False, ", NULL"), (True, ", e.properties")):
            self._next[("Descendants", props)] = f"{attrs}{extra} {down}"
            self._next[("Ascendants", props)] = f"{attrs}{extra} {up}"
            self._next[("Both", props)] = f"{attrs}{extra} {down} UNION ALL {attrs}{extra} {up}"
        if self.accounts is None:
            edges = "FROM lineage_associations a WHERE"
            src_in = f"{within('a.source_id')} AND a.created_at <= {snap}"
            dst_in = f"{within('a.destination_id')} AND a.created_at <= {snap}"
            cols = "SELECT a.source_id, a.destination_id, a.association_type"
        else:  # the far end of an edge must be visible too (the near one is)
            cols = "SELECT a.source_id, a.destination_id, a.association_type"
            src_in = f"a.destination_id WHERE {within('a.source_id')}{seen}"
            dst_in = f"a.source_id WHERE {within('a.destination_id')}{seen}"
            edges = join
        self._edges = {
            "Descendants": f"{cols} {edges} {src_in}",
            "Ascendants": f"{cols} {edges} {dst_in}",
            "Both": f"{cols} {edges} {src_in} UNION {cols} {edges} {dst_in}",
        }
        attrs = "SELECT id, arn, type, lineage_type, created_at, modified_at"
        where = f"FROM lineage_entities WHERE {within('id')}"
        self._attrs = f"{attrs}, NULL {where}"
        self._attrs_props = f"{attrs}, properties {where}"
        self._resolve = f"SELECT arn, id FROM lineage_entities e WHERE {within('arn')}" + (
            "" if self.accounts is None else " AND " + within("e.account", "accounts")
        )
        # Does a walked vertex touch an entity the caller cannot see? Asked only when the
        # caller sees less than the store holds; the answer is one row or none.
        self._hidden: dict[str, str] = {}
        if store._enforced:
            # Row-level security hides those edges from this very session: ask the
            # database's probe, which answers yes/no for this account's own vertices only
            # (migration 0004). A probe that cannot answer raises; the query fails closed.
            probe = "SELECT 1 WHERE lineage_touches_hidden(%(ids)s::bigint[], %(walk)s::text)"
            self._hidden = dict.fromkeys(("Descendants", "Ascendants", "Both"), probe)
        elif self.accounts is not None:
            unseen = (
                "e.account NOT IN (SELECT value FROM json_each(:accounts))"
                if self._sqlite
                else "e.account <> ALL(%(accounts)s)"
            )
            down_h = f"EXISTS (SELECT 1 {join} a.destination_id WHERE {within('a.source_id')}"
            up_h = f"EXISTS (SELECT 1 {join} a.source_id WHERE {within('a.destination_id')}"
            down_h, up_h = f"{down_h} AND {unseen})", f"{up_h} AND {unseen})"
            self._hidden = {
                "Descendants": f"SELECT 1 WHERE {down_h}",
                "Ascendants": f"SELECT 1 WHERE {up_h}",
                "Both": f"SELECT 1 WHERE {down_h} OR {up_h}",
            }

    def _run(self, sql: str, values: Sequence[Any], walk: str | None = None) -> list[Any]:
        param = json.dumps(list(values)) if self._sqlite else list(values)
        self._cursor.execute(
            sql, {"ids": param, "accounts": self._accounts, "walk": walk, "snap": self._snapshot}
        )
        return list(self._cursor.fetchall())

    def resolve(self, arns: Sequence[str]) -> dict[str, int]:
        return dict(self._run(self._resolve, arns))

    def next_level(
        self, frontier: Sequence[int], direction: str, *, properties: bool
    ) -> Iterable[AttributeRow]:
        return self._run(self._next[(direction, properties)], frontier)

    def neighbors(
        self, frontier: Sequence[int], direction: str
    ) -> Iterable[tuple[int, int, str | None]]:
        return self._run(self._edges[direction], frontier)

    def attributes(self, keys: Sequence[int], *, properties: bool) -> Iterable[AttributeRow]:
        return self._run(self._attrs_props if properties else self._attrs, keys)

    def hidden(self, keys: Sequence[int], direction: str) -> bool:
        if not self._hidden or not keys:
            return False
        return bool(self._run(self._hidden[direction], keys, str(direction)))
