"""The embedded lineage store on SQLAlchemy Core: a SQLite file or PostgreSQL.

Every write is one transaction. SQLite runs in WAL mode and writers take the write lock
up front (``BEGIN IMMEDIATE``) so that concurrent processes queue instead of failing on
a lock upgrade. Idempotent creates rely on unique keys and ``ON CONFLICT DO NOTHING``,
so they hold under concurrent writers too.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
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
from airflow_lineage.query import LineageQuery, LineageResult, PageToken
from airflow_lineage.store.base import LineageStore, Page
from airflow_lineage.store.schema import (
    SCHEMA_REVISION,
    VERSION_TABLE,
    associations,
    entities,
    lineage_groups,
)
from airflow_lineage.traversal import AttributeRow, QueryOutcome, run_query

__all__ = ["SqlStore"]

log = logging.getLogger(__name__)

_RESULT_CACHE_SIZE = 8
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


class SqlStore(LineageStore):
    """Lineage in a SQL database: an embedded SQLite file or a PostgreSQL server.

    :param url: a SQLAlchemy URL, e.g. ``sqlite:////path/lineage.db`` or
        ``postgresql+psycopg://user@host/db``.
    :param account: the 12-digit account entities are created in.
    :param timeout: seconds any one call may wait for the database (to connect, for a
        lock, for a statement) before it fails with :class:`StoreError`.
    """

    def __init__(
        self,
        url: str,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = LOCAL_REGION,
        timeout: float = 60.0,
    ) -> None:
        Arn(region, account, "lineage-group", DEFAULT_LINEAGE_GROUP)  # validates both
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.account = account
        self.region = region
        self.url = normalize_url(url)
        self._engine = self._make_engine(self.url, float(timeout))
        self._sqlite = self._engine.dialect.name == "sqlite"
        self._upserts: dict[str, Any] = {}
        self._known_groups: set[tuple[str, str]] = set()
        self._results: OrderedDict[str, QueryOutcome] = OrderedDict()
        self._results_lock = threading.Lock()
        with _translated("open the schema"):
            self._migrate()

    # -- engine and schema ------------------------------------------------------------

    @staticmethod
    def _make_engine(url: str, timeout: float) -> Engine:
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
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
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

    def _migrate(self) -> None:
        with self._engine.connect() as conn:
            if self._revision(conn) == SCHEMA_REVISION:
                return
        with self._migration_lock(), self._engine.begin() as conn:
            if self._revision(conn) == SCHEMA_REVISION:
                return
            from alembic.command import upgrade
            from alembic.config import Config  # lazy: only a new or old store needs it

            cfg = Config()
            cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
            cfg.attributes["connection"] = conn
            upgrade(cfg, "head")

    @staticmethod
    def _revision(conn: Connection) -> str | None:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """Serialise schema creation between processes opening a new store at once."""
        database = self._engine.url.database
        if self._sqlite and database and database != ":memory:":
            lock_path = Path(database).expanduser().with_suffix(".migrate.lock")
            with open(lock_path, "w") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        elif not self._sqlite:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(727245)"))
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(727245)"))
                    conn.commit()
        else:
            yield

    @contextmanager
    def _write_tx(self) -> Iterator[Connection]:
        with self._engine.connect().execution_options(lineage_write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def _read_tx(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStore({self._engine.url!r}, account={self.account!r})"

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
            ids = self._ids(conn, list(wanted))
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

    def _ids(self, conn: Connection, arns: Sequence[str]) -> dict[str, int]:
        sql = sa.text(f"SELECT arn, id FROM lineage_entities WHERE {self._in('arn', 'arns')}")
        return {arn: id_ for arn, id_ in conn.execute(sql, {"arns": self._set(arns)})}

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
        Arn.parse(arn)
        if isinstance(properties_to_remove, str):
            raise TypeError("properties_to_remove must be a list of keys, not one string")
        remove = list(properties_to_remove)
        with _translated("update lineage"), self._write_tx() as conn:
            current = self._get_many(conn, [arn]).get(arn)
            if current is None:
                raise EntityNotFoundError(f"no lineage entity has the ARN {arn}")
            changes: dict[str, Any] = {}
            if status is not None:
                if not isinstance(current, Action):
                    raise ValueError(f"Status applies to actions only, not to {arn}")
                changes["status"] = status
            if description is not None:
                if isinstance(current, Artifact):
                    raise ValueError(f"Description does not apply to artifacts ({arn})")
                changes["description"] = description
            if name is not None:
                if not isinstance(current, Artifact):
                    raise ValueError(f"only artifacts can be renamed; {arn} is named by its ARN")
                changes["name"] = name
            if properties is not None or remove:
                merged = dict(current.properties)
                merged.update(properties or {})
                for key in remove:
                    merged.pop(key, None)
                changes["properties"] = merged
            import dataclasses

            updated = dataclasses.replace(current, modified=utcnow(), **changes)
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
        """Delete an entity; with ``disassociate`` its associations go first."""
        Arn.parse(arn)
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
                if count:
                    raise AssociationsExistError(
                        f"{arn} still has {count} association(s); delete them first "
                        "or pass disassociate=True"
                    )
            conn.execute(entities.delete().where(entities.c.id == id_))

    def delete_association(self, source_arn: str, destination_arn: str) -> None:
        """Delete the association between two entities."""
        Arn.parse(source_arn, field_name="SourceArn")
        Arn.parse(destination_arn, field_name="DestinationArn")
        with _translated("delete an association"), self._write_tx() as conn:
            ids = self._ids(conn, [source_arn, destination_arn])
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
        sql = sa.text(f"SELECT * FROM lineage_entities WHERE {self._in('arn', 'arns')}")
        return {
            row.arn: self._row_entity(row) for row in conn.execute(sql, {"arns": self._set(arns)})
        }

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
        conds = [entities.c.lineage_type == kind.value]
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
        conds = []
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
        digest = _list_digest([*fingerprint, created_after, created_before, ascending])
        if next_token:
            after = _decode_list_token(next_token, digest, len(sort_keys))
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
            token = _encode_list_token(digest, [last[k] for k in sort_keys])
        return Page(tuple(convert(r) for r in rows), token)

    # -- query --------------------------------------------------------------------------

    def query(self, query: LineageQuery) -> LineageResult:
        """Run one lineage query and return one page of its result."""
        if not isinstance(query, LineageQuery):
            raise TypeError(f"query() takes a LineageQuery, not {type(query).__name__}")
        offset = 0
        snapshot = uuid.uuid4().hex[:16]
        outcome = None
        if query.next_token:
            token = PageToken.decode(query.next_token, query)
            offset, snapshot = token.offset, token.snapshot
            with self._results_lock:
                outcome = self._results.get(snapshot)
                if outcome is not None:
                    self._results.move_to_end(snapshot)
        if outcome is None:
            with _translated("query lineage"), self._read_tx() as conn:
                outcome = run_query(_SqlGraph(self, conn), query)
        if offset > len(outcome.vertices):
            raise InvalidPageTokenError("NextToken points past the end of this query's result")
        vertices, edges, nxt = outcome.page(offset, query.max_results)
        token_out = None
        if nxt is not None:
            token_out = PageToken(query.fingerprint(), nxt, snapshot).encode()
            with self._results_lock:
                self._results[snapshot] = outcome
                self._results.move_to_end(snapshot)
                while len(self._results) > _RESULT_CACHE_SIZE:
                    self._results.popitem(last=False)
        return LineageResult(tuple(vertices), tuple(edges), token_out)

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
            f"WHERE {src_in} AND {dst_in} ORDER BY s.arn, d.arn"
        )
        with _translated("read associations"), self._read_tx() as conn:
            rows = conn.execute(sql, {"arns": self._set(list(arns))}).all()
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
        """Return the account's lineage groups (its default group once it has lineage)."""
        stmt = (
            sa.select(lineage_groups)
            .where(lineage_groups.c.account == self.account)
            .order_by(lineage_groups.c.name)
        )
        with _translated("list lineage groups"), self._read_tx() as conn:
            return [
                LineageGroup(r.name, r.account, r.region, from_micros(r.created_at))
                for r in conn.execute(stmt)
            ]

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
            .order_by(
                associations.c.created_at, associations.c.source_id, associations.c.destination_id
            )
        )
        with _translated("export lineage"), self._read_tx() as conn:
            rows = conn.execution_options(yield_per=2000).execute(
                sa.select(entities).order_by(entities.c.id)
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

    def __init__(self, store: SqlStore, conn: Connection) -> None:
        self._cursor = conn.connection.cursor()
        self._sqlite = store._sqlite

        def within(column: str) -> str:
            if self._sqlite:
                return f"{column} IN (SELECT value FROM json_each(:ids))"
            return f"{column} = ANY(%(ids)s)"

        edges = "FROM lineage_associations WHERE"
        src_in, dst_in = within("source_id"), within("destination_id")
        attrs = "SELECT e.id, e.arn, e.type, e.lineage_type, e.created_at, e.modified_at"
        join = "FROM lineage_associations a JOIN lineage_entities e ON e.id ="
        down = f"{join} a.destination_id WHERE {within('a.source_id')}"
        up = f"{join} a.source_id WHERE {within('a.destination_id')}"
        self._next: dict[tuple[str, bool], str] = {}
        for props, extra in ((False, ", NULL"), (True, ", e.properties")):
            self._next[("Descendants", props)] = f"{attrs}{extra} {down}"
            self._next[("Ascendants", props)] = f"{attrs}{extra} {up}"
            self._next[("Both", props)] = f"{attrs}{extra} {down} UNION ALL {attrs}{extra} {up}"
        cols = "SELECT source_id, destination_id, association_type"
        self._edges = {
            "Descendants": f"{cols} {edges} {src_in}",
            "Ascendants": f"{cols} {edges} {dst_in}",
            "Both": f"{cols} {edges} {src_in} UNION {cols} {edges} {dst_in}",
        }
        attrs = "SELECT id, arn, type, lineage_type, created_at, modified_at"
        where = f"FROM lineage_entities WHERE {within('id')}"
        self._attrs = f"{attrs}, NULL {where}"
        self._attrs_props = f"{attrs}, properties {where}"
        self._resolve = f"SELECT arn, id FROM lineage_entities WHERE {within('arn')}"

    def _run(self, sql: str, values: Sequence[Any]) -> list[Any]:
        param = json.dumps(list(values)) if self._sqlite else list(values)
        self._cursor.execute(sql, {"ids": param})
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


def _list_digest(parts: list[Any]) -> str:
    raw = json.dumps([p.isoformat() if isinstance(p, datetime) else p for p in parts])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _encode_list_token(digest: str, key: list[Any]) -> str:
    raw = json.dumps({"l": digest, "k": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_list_token(token: str, digest: str, size: int) -> list[Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = body["k"]
        if not isinstance(key, list) or len(key) != size:
            raise ValueError
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in key):
            raise ValueError
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidPageTokenError("NextToken is not a token this store handed out") from e
    if body.get("l") != digest:
        raise InvalidPageTokenError("NextToken belongs to a different listing")
    return key
