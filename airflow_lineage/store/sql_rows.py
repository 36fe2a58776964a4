"""The SQL store's rows: an entity as a row of ``lineage_entities`` and back, and the
rows a write of entities adds."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from airflow_lineage.model import (
    DEFAULT_LINEAGE_GROUP,
    Action,
    ActionStatus,
    Artifact,
    Context,
    Entity,
    SourceType,
    from_micros,
    to_micros,
)

__all__ = ["entity_batches", "entity_row", "place", "row_entity", "string_map_json"]


def _quoted(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def string_map_json(values: Mapping[str, str]) -> str:
    """Return ``json.dumps(dict(values), sort_keys=True)`` for a mapping of strings.

    Entities hold validated string maps, and encoding them here is several times faster
    than ``json.dumps``, which builds an encoder on every call: a batch has thousands.
    """
    return "{" + ", ".join([_quote(k) + ": " + _quote(v) for k, v in sorted(values.items())]) + "}"


def _json_or_none(values: Mapping[str, str]) -> str | None:
    return string_map_json(values) if values else None


def _source_json(entity: Entity) -> str:
    """Return the ``source`` column: an artifact's source types, or an action's or a
    context's source (compact JSON, as ``json.dumps(..., separators=(",", ":"))``)."""
    if isinstance(entity, Artifact):
        pairs = [f"[{_quote(t.id_type.value)},{_quote(t.value)}]" for t in entity.source_types]
        return "[" + ",".join(pairs) + "]"
    return f'{{"SourceType":{_quoted(entity.source_type)},"SourceId":{_quoted(entity.source_id)}}}'


def entity_row(entity: Entity) -> dict[str, Any]:
    """Return the row of the entities table that holds ``entity``."""
    if isinstance(entity, Artifact):
        status = description = None
    else:
        status = entity.status.value if isinstance(entity, Action) else None
        description = entity.description
    assert entity.modified is not None
    return {
        "arn": entity.arn,
        "account": place(entity.arn)[0],
        "lineage_type": entity.lineage_type.value,
        "name": entity.name,
        "type": entity.type,
        "source_uri": entity.source_uri,
        "source": _source_json(entity),
        "status": status,
        "description": description,
        "properties": string_map_json(entity.properties),
        "metadata_properties": _json_or_none(entity.metadata_properties),
        "tags": _json_or_none(entity.tags),
        "created_at": to_micros(entity.created),
        "modified_at": to_micros(entity.modified),
    }


def row_entity(row: Any) -> Entity:
    """Return the entity a row of the entities table holds."""
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


def place(arn: str) -> tuple[str, str]:
    """Return the (account, region) of a validated entity's ARN."""
    parts = arn.split(":", 5)
    return parts[4], parts[3]


Batches = list[tuple[str, list[dict[str, Any]]]]


def entity_batches(
    rows: list[dict[str, Any]],
    upsert: bool | Collection[str],
    known_groups: Collection[tuple[str, str]],
) -> tuple[Batches, list[dict[str, Any]]]:
    """Return entity rows by statement (``upsert``: the ARNs that may replace a stored
    row, or all or none), and the rows of the lineage groups they need that are not in
    ``known_groups`` (account, region)."""
    if isinstance(upsert, bool):
        batches = [("upsert" if upsert else "insert", rows)] if rows else []
    else:
        chosen = set(upsert)
        updated = [r for r in rows if r["arn"] in chosen]
        kept = [r for r in rows if r["arn"] not in chosen]
        batches = [(k, b) for k, b in (("upsert", updated), ("insert", kept)) if b]
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        account, region = place(row["arn"])
        if (account, region) in known_groups:
            continue
        group = groups.setdefault(
            account,
            {
                "account": account,
                "name": DEFAULT_LINEAGE_GROUP,
                "region": region,
                "created_at": row["created_at"],
            },
        )
        group["created_at"] = min(group["created_at"], row["created_at"])
    return batches, list(groups.values())
