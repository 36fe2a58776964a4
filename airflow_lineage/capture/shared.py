"""Commit a task's record to its store, linked to the copies other accounts share.

Both ways a record reaches the store, a direct write from the task process and the
relay's (:mod:`.relay`), commit it here, so a record means the same either way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

from airflow_lineage import config
from airflow_lineage.capture.record import LineageRecord
from airflow_lineage.model import Artifact, Association, AssociationType
from airflow_lineage.store.base import LineageStore

__all__ = ["commit", "with_shared_copies"]

_SHARED_TTL = 30.0


def commit(record: LineageRecord, store: LineageStore) -> None:
    """Write ``record`` to ``store`` in one transaction, with its shared-copy links."""
    record = with_shared_copies(record, store)
    store.write(
        record.entities,
        record.associations,
        upsert=record.upsert,
        attestations=record.attestations,
    )


def has_shared_lineage(store: LineageStore) -> bool:
    """Return whether another account shares lineage with this one.

    The answer is kept for 30 s in a small file beside the outbox folder, so that the
    task processes of one machine ask the store once per 30 s, not once per task.
    """
    ident = f"{type(store).__name__}|{getattr(store, 'url', '')}|{store.account}"
    name = f".lineage-shared-{hashlib.sha256(ident.encode()).hexdigest()[:16]}"
    cache = config.outbox_dir().parent / name
    try:
        if time.time() - cache.stat().st_mtime < _SHARED_TTL:
            return cache.read_text() == "1"
    except (OSError, ValueError):
        pass  # no answer kept yet
    shared = any(g.account != store.account for g in store.lineage_groups())
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{time.time_ns()}.tmp")
        tmp.write_text("1" if shared else "0")
        tmp.replace(cache)
    except OSError:  # an unwritable folder only costs the next task a query
        pass
    return shared


def with_shared_copies(record: LineageRecord, store: LineageStore) -> LineageRecord:
    """Link each input to the copies of the same data that other accounts share with
    this one (``SameAs``, as SageMaker does), so lineage continues across accounts."""
    if not record.inputs:
        return record
    try:
        if not has_shared_lineage(store):
            return record
        own = {e.arn: e for e in record.entities if isinstance(e, Artifact)}
        links = []
        for arn in record.inputs:
            mine = own.get(arn)
            if mine is None:
                continue
            for other in store.list_entities(
                "Artifact", source_uri=mine.source_uri, type=mine.type
            ).items:
                if other.account != store.account:
                    links.append(Association(other.arn, mine.arn, AssociationType.SAME_AS))
    except Exception:  # an unreachable store: the record still goes to the outbox
        return record
    if not links:
        return record
    return dataclasses.replace(record, associations=(*record.associations, *links))
