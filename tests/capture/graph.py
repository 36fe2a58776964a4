"""Summarise a captured lineage store as plain sets that a test can compare exactly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from airflow_lineage import Action, Artifact, Association, Context, connect
from airflow_lineage.verify import local_path


def key(entity: Any, base: Path | None = None) -> str:
    """Return a readable key: ``task:<id>`` for actions (``task:<id>@try<n>`` for a try
    after the first), the URI (base-relative) otherwise."""
    if isinstance(entity, Action):
        name = f"task:{entity.properties.get('airflow:task_id', entity.name)}"
        try_number = entity.properties.get("airflow:try_number", "1")
        return name if try_number == "1" else f"{name}@try{try_number}"
    uri = entity.source_uri
    if base is not None:
        uri = uri.replace(f"file://{base}", "file://BASE")
    if isinstance(entity, Context):
        return f"{entity.type}:{uri}"
    return uri


def captured(url: str, base: Path | None = None) -> dict[str, Any]:
    """Return the store's vertices, edges, action statuses and digests, keyed readably."""
    with connect(url) as store:
        items = list(store.export())
    entities = {e.arn: e for e in items if not isinstance(e, Association)}
    vertices = {(e.lineage_type.value, e.type, key(e, base)) for e in entities.values()}
    edges = {
        (
            key(entities[a.source_arn], base),
            key(entities[a.destination_arn], base),
            a.association_type.value if a.association_type else None,
        )
        for a in items
        if isinstance(a, Association)
    }
    statuses = {key(e): e.status.value for e in entities.values() if isinstance(e, Action)}
    digests = {
        key(e, base): tuple(st.value for st in e.source_types)
        for e in entities.values()
        if isinstance(e, Artifact)
    }
    return {
        "vertices": vertices,
        "edges": edges,
        "statuses": statuses,
        "digests": digests,
        "entities": entities,
    }


def sha256_of(uri: str) -> str:
    """Return ``sha256:<hex>`` of the local file a URI names, as it is now."""
    path = local_path(uri)
    assert path is not None
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
