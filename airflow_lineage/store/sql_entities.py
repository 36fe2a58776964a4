"""The SQL store's entities and associations: rows, writes, reads and listings."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from airflow_lineage.exceptions import (
    AssociationsExistError,
    EntityNotFoundError,
    InvalidPageTokenError,
)
from airflow_lineage.model import (
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
    from_micros,
    to_micros,
)
from airflow_lineage.pagetoken import PageToken, scope_of
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.sharing import (
    AccessDeniedError,
)
from airflow_lineage.store.base import Page, updated_entity
from airflow_lineage.store.editing import STATUS_RANK, TRY_PROPERTY
from airflow_lineage.store.schema import (
    associations,
    entities,
    lineage_groups,
)
from airflow_lineage.store.sql_attestations import read_attestations, write_attestations
from airflow_lineage.store.sql_engine import SqlCore, translated
from airflow_lineage.store.sql_pipeline import write_pipelined
from airflow_lineage.store.sql_rows import entity_batches, entity_row, place, row_entity

__all__ = ["SqlEntities"]

_MUTABLE_COLUMNS = (
    "name",
    "status",
    "description",
    "properties",
    "metadata_properties",
    "tags",
    "modified_at",
)


_MAX_PAGE = 2**62

_TYPE_VALUE: dict[AssociationType | None, str | None] = {t: t.value for t in AssociationType}
_TYPE_VALUE[None] = None


def _driver_values(compiled: Any, row: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], Any]:
    """Return the function that gives a row's parameters for ``compiled``, whose own
    values (such as the status ranks of an upsert) are merged in."""
    fixed = compiled.params
    order = compiled.positiontup
    if not order:  # pyformat (psycopg): parameters by name
        return lambda r: {**fixed, **r}
    if len(order) > 1 and all(k in row for k in order):
        return itemgetter(*order)  # qmark (SQLite), all from the row: the fast common case
    return lambda r: tuple(r[k] if k in r else fixed[k] for k in order)


class SqlEntities(SqlCore):
    """Entities and associations in SQL (the store's Entities protocol)."""

    _entity_row = staticmethod(entity_row)
    _row_entity = staticmethod(row_entity)
    keeps_attestations = True

    def attestations(self, arns: Sequence[str]) -> dict[str, Attestation]:
        """Return the stored attestations of these actions; unknown ARNs are left out."""
        with translated("read attestations"), self._read_tx() as conn:
            return read_attestations(self, conn, arns)

    # -- writes -------------------------------------------------------------------------

    def write(
        self,
        entities: Iterable[Entity] = (),
        associations: Iterable[Association] = (),
        *,
        upsert: bool | Collection[str] = False,
        attestations: Iterable[Attestation] = (),
    ) -> None:
        """Record entities, associations and attestations in one transaction."""
        ents = list(entities)
        assocs = list(associations)
        signed = list(attestations)
        for s in signed:
            if not isinstance(s, Attestation):
                raise TypeError(f"write() takes Attestation values, not {type(s).__name__}")
            if place(s.arn)[0] != self.account and not self.unrestricted:
                self._own(s.arn, "sign")
        for e in ents:
            if not isinstance(e, Artifact | Action | Context):
                raise TypeError(
                    f"write() takes Artifact, Action or Context, not {type(e).__name__}"
                )
        for a in assocs:
            if not isinstance(a, Association):
                raise TypeError(f"write() takes Association edges, not {type(a).__name__}")
        for e in ents:
            # Entities are validated values: their ARN splits without parsing it again.
            if place(e.arn)[0] != self.account and not self.unrestricted:
                self._own(e.arn, "write")
        for a in assocs:
            if a.account is not None and a.account != self.account and not self.unrestricted:
                raise AccessDeniedError(
                    f"cannot record the association {a.source_arn} -> {a.destination_arn} "
                    f"as added by account {a.account}: this store acts as {self.account}"
                )
        if not ents and not assocs and not signed:
            return
        with translated("write lineage"):
            written = None
            if self._pipelined:
                written = write_pipelined(self, ents, assocs, upsert, signed)
            if written is None:  # SQLite, or an end to resolve: the statements one by one
                with self._write_tx() as conn:
                    written = self._write(conn, ents, assocs, upsert)
                    write_attestations(self, conn, signed)
        self._known_groups |= written  # only once the transaction has committed

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
                where=self._supersedes(fresh, entities.c),
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

    def _supersedes(self, fresh: Any, stored: Any) -> Any:
        """The SQL form of :func:`~airflow_lineage.store.editing.supersedes`: an action's
        (try, status rank) moves forward only; else the newer modification time wins."""

        def progress(t: Any) -> tuple[Any, ...]:
            raw: Any
            if self._sqlite:
                raw = sa.func.json_extract(t.properties, f'$."{TRY_PROPERTY}"')
            else:
                raw = sa.cast(t.properties, JSONB).op("->>")(TRY_PROPERTY)
            try_number = sa.func.coalesce(raw, "")
            rank = sa.case(STATUS_RANK, value=t.status, else_=0)
            return sa.func.length(try_number), try_number, rank

        ahead, current = sa.tuple_(*progress(fresh)), sa.tuple_(*progress(stored))
        is_action = stored.lineage_type == "Action"
        newer = fresh.modified_at >= stored.modified_at
        return sa.or_(
            sa.and_(is_action, ahead > current),
            sa.and_(sa.or_(~is_action, ahead == current), newer),
        )

    def _write(
        self,
        conn: Connection,
        ents: list[Entity],
        assocs: list[Association],
        upsert: bool | Collection[str],
    ) -> set[tuple[str, str]]:
        """Write in the caller's transaction; return the lineage groups it created."""
        batches, groups = entity_batches(
            [self._entity_row(e) for e in ents], upsert, self._known_groups
        )
        for kind, rows in batches:
            self._run_many(conn, kind, rows)
        if groups:
            conn.execute(self._statement("groups"), groups)
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
            account = self.account
            rows = [
                {
                    "source_id": ids[a.source_arn],
                    "destination_id": ids[a.destination_arn],
                    "association_type": _TYPE_VALUE[a.association_type],
                    "account": a.account or account,
                    "created_at": to_micros(a.created),
                }
                for a in assocs
            ]
            self._run_many(conn, "associations", rows)
        return {(g["account"], g["region"]) for g in groups}

    def _run_many(self, conn: Connection, kind: str, rows: list[dict[str, Any]]) -> None:
        """Run a cached insert statement for many rows straight on the driver's cursor.

        The statement is compiled once per store; SQLAlchemy's per-row parameter work
        would cost more than the database's own.
        """
        conn.exec_driver_sql(*self._driver_statement(kind, rows))

    def _driver_statement(self, kind: str, rows: list[dict[str, Any]]) -> tuple[str, list[Any]]:
        """Return a cached insert statement's SQL and ``rows`` as its driver takes them."""
        compiled, values = self._compiled(kind, rows[0])
        return compiled.string, list(map(values, rows))

    def _compiled(
        self, kind: str, row: Mapping[str, Any]
    ) -> tuple[Any, Callable[[Mapping[str, Any]], Any]]:
        """Return a cached insert statement compiled for rows with ``row``'s keys, and the
        function that turns such a row into the parameters its driver takes."""
        key = f"{kind}:sql"
        cached = self._upserts.get(key)
        if cached is None:
            compiled = self._statement(kind).compile(
                dialect=self._engine.dialect, column_keys=list(row)
            )
            cached = (compiled, _driver_values(compiled, row))
            self._upserts[key] = cached
        return cached

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
        return dict(conn.execute(sql, params).all())

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
        with translated("update lineage"), self._write_tx() as conn:
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
        with translated("delete lineage"), self._write_tx() as conn:
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
        with translated("delete an association"), self._write_tx() as conn:
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
        with translated("read lineage"), self._read_tx() as conn:
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
        if max_results is not None and max_results > _MAX_PAGE:
            # The database's integers are 64-bit: a larger page size cannot be asked for.
            raise ValueError(f"MaxResults must be at most 2**62, got {max_results}")
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
        with translated("list lineage"), self._read_tx() as conn:
            rows = conn.execute(stmt).all()
        more = max_results is not None and len(rows) > max_results
        rows = rows[:max_results] if more else rows
        token = None
        if more:
            last = rows[-1]._mapping
            token = PageToken(digest, tuple(last[k] for k in sort_keys)).encode()
        return Page(tuple(convert(r) for r in rows), token)

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
        with translated("read associations"), self._read_tx() as conn:
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
        with translated("list lineage groups"), self._read_tx() as conn:
            return [
                LineageGroup(r.name, r.account, r.region, from_micros(r.created_at))
                for r in conn.execute(stmt)
            ]
