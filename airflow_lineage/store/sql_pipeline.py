"""Write lineage to PostgreSQL in one round trip, with psycopg's pipeline mode.

A task's record is a few statements (its entities, their lineage groups, its
associations, its attestation) and a commit. Sent one by one, each waits for the
server's answer: about ten round trips, each a wake-up of the server and of the writer
on a machine that also runs the scheduler and the tasks. In a pipeline they go out
together, the commit with them, and the answers come back together.

Association ends are resolved in SQL, each ARN joined to an entity. Row-level security
limits an account's join to the entities it sees (the store is not used this way by a
login that bypasses it, see ``SqlCore``). An end that resolves to nothing makes the
insert fail (the policy refuses the row, or its NOT NULL key does), which aborts the
whole transaction: nothing is written, and the caller writes statement by statement
instead, which names the missing ARN.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from airflow_lineage.exceptions import StoreError
from airflow_lineage.model import Arn, Association, Entity, to_micros
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.store.sql_rows import entity_batches

if TYPE_CHECKING:
    from airflow_lineage.store.sql_entities import SqlEntities

__all__ = ["supports_pipeline", "write_pipelined"]

_ASSOCIATIONS = """
INSERT INTO lineage_associations (source_id, destination_id, association_type, account, created_at)
SELECT s.id, d.id, v.association_type, v.account, v.created_at
FROM unnest(%(sources)s::text[], %(destinations)s::text[], %(types)s::text[],
            %(accounts)s::text[], %(created)s::bigint[])
     AS v(source_arn, destination_arn, association_type, account, created_at)
LEFT JOIN lineage_entities s ON s.arn = v.source_arn
LEFT JOIN lineage_entities d ON d.arn = v.destination_arn
ON CONFLICT (source_id, destination_id) DO NOTHING
"""

# An envelope is kept only where the stored action is the version it signs (an action's
# status moves forward only, so a late record may leave the action as it was), and the
# newest envelope of an action wins: the rules of sql_attestations, in one statement.
_ATTESTATIONS = """
INSERT INTO lineage_attestations (arn, account, modified_at, envelope)
SELECT v.arn, v.account, v.modified_at, v.envelope
FROM unnest(%(arns)s::text[], %(accounts)s::text[], %(modified)s::bigint[],
            %(envelopes)s::text[]) AS v(arn, account, modified_at, envelope)
JOIN lineage_entities e ON e.arn = v.arn AND e.modified_at = v.modified_at
ON CONFLICT (arn) DO UPDATE SET envelope = EXCLUDED.envelope, modified_at = EXCLUDED.modified_at
WHERE EXCLUDED.modified_at >= lineage_attestations.modified_at
"""


def supports_pipeline(dialect: Any) -> bool:
    """Return whether writes through ``dialect`` can be pipelined (psycopg 3 on a libpq
    with pipeline mode)."""
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return False
    import psycopg

    return bool(psycopg.Pipeline.is_supported())


def write_pipelined(
    store: SqlEntities,
    ents: list[Entity],
    assocs: list[Association],
    upsert: bool | Collection[str],
    signed: Sequence[Attestation],
) -> set[tuple[str, str]] | None:
    """Write in one transaction and one round trip.

    :returns: the (account, region) of the lineage groups created; None when an
        association end did not resolve (nothing was written).
    :raises StoreError: the server refused the write or could not be reached (a
        connection found closed is replaced once, as the write is idempotent).
    """
    import psycopg

    rows = [store._entity_row(e) for e in ents]
    batches, groups = entity_batches(rows, upsert, store._known_groups)
    statements: list[tuple[str, Any, bool]] = []
    for kind, batch in batches:
        statements.append((*store._driver_statement(kind, batch), True))
    if groups:
        statements.append((*store._driver_statement("groups", groups), True))
    if assocs:
        statements.append((_ASSOCIATIONS, _association_params(store, assocs), False))
    if signed:
        statements.append((_ATTESTATIONS, _attestation_params(signed), False))
    for attempt in (1, 2):
        with store._engine.connect() as conn:
            raw: Any = conn.connection.driver_connection
            try:
                with raw.pipeline(), raw.cursor() as cur:
                    for sql, params, many in statements:
                        if many:
                            cur.executemany(sql, params)
                        else:
                            cur.execute(sql, params)
                    cur.execute("COMMIT")
            except (psycopg.errors.NotNullViolation, psycopg.errors.InsufficientPrivilege):
                # An unresolved end (row-level security checks the row before its NOT
                # NULL key): the caller's statement-by-statement write names it.
                raw.rollback()
                return None
            except psycopg.OperationalError as e:
                if raw.closed and attempt == 1:
                    conn.invalidate()  # a connection the server closed: once more
                    continue
                conn.invalidate()
                raise StoreError(f"lineage store failed to write lineage: {e}") from e
            except psycopg.Error as e:
                raw.rollback()
                raise StoreError(
                    f"lineage store failed to write lineage: {type(e).__name__}: {e}"
                ) from e
        break
    return {(g["account"], g["region"]) for g in groups}


def _association_params(store: SqlEntities, assocs: list[Association]) -> dict[str, Any]:
    return {
        "sources": [a.source_arn for a in assocs],
        "destinations": [a.destination_arn for a in assocs],
        "types": [a.association_type.value if a.association_type else None for a in assocs],
        "accounts": [a.account or store.account for a in assocs],
        "created": [to_micros(a.created) for a in assocs],
    }


def _attestation_params(signed: Sequence[Attestation]) -> dict[str, Any]:
    return {
        "arns": [a.arn for a in signed],
        "accounts": [Arn.parse(a.arn).account for a in signed],
        "modified": [to_micros(a.modified) for a in signed],
        "envelopes": [a.envelope for a in signed],
    }
