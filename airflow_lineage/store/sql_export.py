"""The SQL store's export: every entity, then every association, from one snapshot."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from airflow_lineage.model import (
    Association,
    AssociationType,
    Entity,
    from_micros,
)
from airflow_lineage.store.schema import (
    associations,
    entities,
)
from airflow_lineage.store.sql_engine import translated
from airflow_lineage.store.sql_entities import SqlEntities

__all__ = ["SqlExport"]


class SqlExport(SqlEntities):
    """Exporting a SQL store (its entities as rows read them)."""

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
        with translated("export lineage"), self._read_tx(snapshot=True) as conn:
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
