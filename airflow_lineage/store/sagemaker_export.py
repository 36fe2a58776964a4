"""The SageMaker store's export: every entity, then every association."""

from __future__ import annotations

from collections.abc import Iterator

from airflow_lineage.model import (
    Association,
    Entity,
    LineageType,
)
from airflow_lineage.store.sagemaker_client import (
    _translated,
)
from airflow_lineage.store.sagemaker_entities import SageMakerEntities

__all__ = ["SageMakerExport"]


class SageMakerExport(SageMakerEntities):
    """Exporting a SageMaker store."""

    def export(self) -> Iterator[Entity | Association]:
        """Yield every entity (artifacts, actions, contexts; oldest first), then every
        association (oldest first)."""
        with _translated("export lineage"):
            for kind in (LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT):
                ents = self._all_entities(kind)
                ents.sort(key=lambda e: (e.created, e.arn))
                yield from ents
            found: dict[tuple[str, str], Association] = {}
            for s in self._pages("list_associations", "AssociationSummaries", MaxResults=100):
                a = self._association(s)
                found.setdefault((a.source_arn, a.destination_arn), a)
            yield from sorted(
                found.values(), key=lambda a: (a.created, a.source_arn, a.destination_arn)
            )
