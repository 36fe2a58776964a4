"""Where the SQL store keeps signed provenance: one row per action in
``lineage_attestations`` (its DSSE envelope), written in the action's transaction.

On PostgreSQL the table has the row-level security of the entities (migration 0005): an
account reads the envelopes of the accounts it sees and writes only its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from airflow_lineage.model import Arn, from_micros, to_micros
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.store.schema import attestations as table

if TYPE_CHECKING:
    from airflow_lineage.store.sql_engine import SqlCore as SqlStore

__all__ = ["read_attestations", "write_attestations"]


def _statement(store: SqlStore) -> Any:
    insert = store._insert(table)
    fresh = insert.excluded
    # The newest record of the action wins, as for the action itself (same rule, same
    # transaction), so the stored envelope is the one of the stored action.
    return insert.on_conflict_do_update(
        index_elements=["arn"],
        set_={"envelope": fresh.envelope, "modified_at": fresh.modified_at},
        where=fresh.modified_at >= table.c.modified_at,
    )


def write_attestations(store: SqlStore, conn: Connection, items: Sequence[Attestation]) -> None:
    """Write the attestations in the caller's transaction, each only where its action's
    stored version is the one it signs (an action's status only moves forward, so a
    late record may leave the action as it was: its envelope must not replace the one
    that signs what is stored)."""
    if not items:
        return
    stored: dict[str, int] = dict(
        conn.execute(
            sa.text(
                f"SELECT arn, modified_at FROM lineage_entities WHERE {store._in('arn', 'arns')}"
            ),
            {"arns": store._set([a.arn for a in items])},
        ).all()
    )
    items = [a for a in items if stored.get(a.arn) == to_micros(a.modified)]
    if not items:
        return
    rows = [
        {
            "arn": a.arn,
            "account": Arn.parse(a.arn).account,
            "modified_at": to_micros(a.modified),
            "envelope": a.envelope,
        }
        for a in items
    ]
    conn.execute(_statement(store), rows)


def read_attestations(
    store: SqlStore, conn: Connection, arns: Sequence[str]
) -> dict[str, Attestation]:
    """Return the visible attestations of these actions."""
    if not arns:
        return {}
    sql = sa.text(
        "SELECT arn, envelope, modified_at FROM lineage_attestations "
        f"WHERE {store._in('arn', 'arns')} AND {store._visible_sql('account')}"
    )
    params = {"arns": store._set(list(arns)), "lineage_me": store.account}
    return {
        row.arn: Attestation(row.arn, row.envelope, from_micros(row.modified_at))
        for row in conn.execute(sql, params)
    }
