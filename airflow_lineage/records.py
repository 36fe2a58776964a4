"""JSON-lines records of lineage: one entity or association per line.

The format moves lineage between stores (``airflow-lineage export`` / ``import``) and is
exact: exporting a store, importing the file into an empty store and exporting again
gives the same bytes. Each line is one JSON object with sorted keys, ASCII only::

    {"arn": "...", "created": "2026-01-01T00:00:00.000000Z", "kind": "Artifact", ...}

``kind`` is ``Artifact``, ``Action``, ``Context`` or ``Association``. Every field of the
entity is written, ``null`` where it is unset; times are ISO-8601 UTC with microseconds.

Entity records (``*`` marks the fields a record must have; the others default as in
the model, ``modified`` to ``created``):

- ``kind`` *, ``arn`` *, ``type`` * (ArtifactType, ActionType or ContextType),
  ``source_uri`` *, ``created`` *, ``modified``;
- ``name``: ArtifactName (may be null), ActionName * or ContextName *;
- ``properties``, ``metadata_properties``, ``tags``: objects of strings;
- artifacts: ``source_types``, a list of ``{"source_id_type": ..., "value": ...}``;
- actions and contexts: ``description``, ``source_type``, ``source_id``;
- actions: ``status`` (Unknown, InProgress, Completed, Failed, Stopping, Stopped).

Association records: ``kind`` *, ``source_arn`` *, ``destination_arn`` *,
``association_type`` (may be null) and ``created`` *.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any

from airflow_lineage.model import (
    Action,
    Arn,
    Artifact,
    Association,
    AssociationType,
    Context,
    Entity,
    SourceType,
    utcnow,
)

__all__ = [
    "KINDS",
    "association_key",
    "dump",
    "dumps",
    "format_time",
    "from_record",
    "load",
    "load_all",
    "moved_arn",
    "parse_time",
    "rehome",
    "same_as_links",
    "to_record",
]

KINDS = ("Artifact", "Action", "Context", "Association")
"""The values of a record's ``kind`` field."""

_COMMON = ("arn", "kind", "type", "source_uri", "name", "properties",
           "metadata_properties", "tags", "created", "modified")  # fmt: skip
_NAMED = ("description", "source_type", "source_id")
_FIELDS: dict[str, frozenset[str]] = {
    "Artifact": frozenset((*_COMMON, "source_types")),
    "Action": frozenset((*_COMMON, *_NAMED, "status")),
    "Context": frozenset((*_COMMON, *_NAMED)),
    "Association": frozenset(
        ("kind", "source_arn", "destination_arn", "association_type", "created", "account")
    ),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Artifact": ("arn", "type", "source_uri", "created"),
    "Action": ("arn", "type", "source_uri", "name", "created"),
    "Context": ("arn", "type", "source_uri", "name", "created"),
    "Association": ("source_arn", "destination_arn", "created"),
}
_CLASSES: dict[str, type[Artifact] | type[Action] | type[Context]] = {
    "Artifact": Artifact,
    "Action": Action,
    "Context": Context,
}


# -- writing -------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """Return ``value`` as ISO-8601 UTC with microseconds, e.g. ``2026-01-01T00:00:00.000000Z``."""
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def to_record(item: Entity | Association) -> dict[str, Any]:
    """Return the JSON-able record of an entity or an association."""
    if isinstance(item, Association):
        kind = item.association_type
        return {
            "kind": "Association",
            "source_arn": item.source_arn,
            "destination_arn": item.destination_arn,
            "association_type": None if kind is None else kind.value,
            "created": format_time(item.created),
            "account": item.account,
        }
    if not isinstance(item, Artifact | Action | Context):
        raise TypeError(
            f"to_record() takes an Artifact, Action, Context or Association, "
            f"not {type(item).__name__}"
        )
    modified = item.modified if item.modified is not None else item.created
    record: dict[str, Any] = {
        "kind": item.lineage_type.value,
        "arn": item.arn,
        "type": item.type,
        "source_uri": item.source_uri,
        "name": item.name,
        "properties": dict(item.properties),
        "metadata_properties": dict(item.metadata_properties),
        "tags": dict(item.tags),
        "created": format_time(item.created),
        "modified": format_time(modified),
    }
    if isinstance(item, Artifact):
        record["source_types"] = [
            {"source_id_type": st.id_type.value, "value": st.value} for st in item.source_types
        ]
    else:
        record["description"] = item.description
        record["source_type"] = item.source_type
        record["source_id"] = item.source_id
        if isinstance(item, Action):
            record["status"] = item.status.value
    return record


def dumps(item: Entity | Association) -> str:
    """Return the record of ``item`` as one line of JSON (sorted keys, ASCII, no newline)."""
    return json.dumps(to_record(item), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def dump(items: Iterable[Entity | Association], fh: IO[str]) -> int:
    """Write one JSON line per item to ``fh`` and return how many were written."""
    count = 0
    for item in items:
        fh.write(dumps(item))
        fh.write("\n")
        count += 1
    return count


# -- reading -------------------------------------------------------------------------


def _string(d: Mapping[str, Any], key: str, *, optional: bool = False) -> Any:
    """Return a string field; raise ValueError naming it if it is missing or no string."""
    value = d.get(key)
    if value is None:
        if optional:
            return None
        raise ValueError(f"field {key!r} is required")
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be a string, not {_json_type(value)}")
    return value


def _mapping(d: Mapping[str, Any], key: str) -> dict[str, str]:
    """Return an object-of-strings field (empty when absent)."""
    value = d.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"field {key!r} must be an object of strings, not {_json_type(value)}")
    for k, v in value.items():
        if not isinstance(v, str):
            raise ValueError(
                f"field {key!r}: the value of {k!r} must be a string, not {_json_type(v)}"
            )
    return dict(value)


def parse_time(value: object, key: str = "created") -> datetime:
    """Parse an ISO-8601 time with a UTC offset; raise ValueError naming ``key``."""
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} must be an ISO-8601 string, not {_json_type(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"field {key!r}: {value!r} is not an ISO-8601 date and time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"field {key!r}: {value!r} has no UTC offset (add 'Z' for UTC)")
    return parsed.astimezone(UTC)


def _source_types(d: Mapping[str, Any]) -> tuple[SourceType, ...]:
    """Return an artifact record's SourceTypes."""
    value = d.get("source_types")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"field 'source_types' must be a list, not {_json_type(value)}")
    out = []
    for i, item in enumerate(value):
        where = f"source_types[{i}]"
        if not isinstance(item, dict) or set(item) != {"source_id_type", "value"}:
            raise ValueError(
                f"field {where!r} must be an object with exactly 'source_id_type' and 'value'"
            )
        try:
            out.append(SourceType(_string(item, "source_id_type"), _string(item, "value")))
        except (ValueError, TypeError) as e:
            raise ValueError(f"field {where!r}: {e}") from None
    return tuple(out)


def _json_type(value: object) -> str:
    """Return how JSON calls the type of ``value``, for error messages."""
    names: dict[type, str] = {
        bool: "a boolean", int: "a number", float: "a number", str: "a string",
        list: "a list", dict: "an object", type(None): "null",
    }  # fmt: skip
    return names.get(type(value), type(value).__name__)


def from_record(d: Mapping[str, Any]) -> Entity | Association:
    """Build the entity or association a record describes.

    :raises ValueError: naming the field that is missing, unknown or invalid.
    """
    if not isinstance(d, Mapping):
        raise ValueError(f"a record must be a JSON object, not {_json_type(d)}")
    kind = d.get("kind")
    if kind not in _FIELDS:
        raise ValueError(f"field 'kind' must be one of {', '.join(KINDS)}; got {kind!r}")
    unknown = sorted(set(d) - _FIELDS[kind])
    if unknown:
        raise ValueError(f"field {unknown[0]!r} is not a field of an {kind} record")
    for key in _REQUIRED[kind]:
        if d.get(key) is None:
            raise ValueError(f"field {key!r} is required in an {kind} record")
    builders: dict[str, Callable[[Mapping[str, Any]], Entity | Association]] = {
        "Association": _association,
        "Artifact": _artifact,
    }
    build = builders.get(kind, _named)
    try:
        return build(d)
    except ValueError:
        raise
    except TypeError as e:  # the model's own type checks
        raise ValueError(f"invalid {kind} record: {e}") from None


def _association(d: Mapping[str, Any]) -> Association:
    """Build an association from its record."""
    created = parse_time(d["created"], "created")
    source = _string(d, "source_arn")
    destination = _string(d, "destination_arn")
    kind = _string(d, "association_type", optional=True)
    account = _string(d, "account", optional=True)
    try:
        return Association(source, destination, kind, created, account)
    except ValueError as e:
        raise ValueError(f"invalid Association record: {e}") from None


def _common(d: Mapping[str, Any]) -> dict[str, Any]:
    """Return the fields every entity has, checked, as model keyword arguments."""
    created = parse_time(d["created"], "created")
    modified = d.get("modified")
    return {
        "arn": _string(d, "arn"),
        "type": _string(d, "type"),
        "source_uri": _string(d, "source_uri"),
        "name": _string(d, "name", optional=True),
        "properties": _mapping(d, "properties"),
        "metadata_properties": _mapping(d, "metadata_properties"),
        "tags": _mapping(d, "tags"),
        "created": created,
        "modified": created if modified is None else parse_time(modified, "modified"),
    }


def _artifact(d: Mapping[str, Any]) -> Artifact:
    """Build an artifact from its record."""
    fields = _common(d)
    source_types = _source_types(d)
    try:
        return Artifact(source_types=source_types, **fields)
    except ValueError as e:
        raise ValueError(f"invalid Artifact record: {e}") from None


def _named(d: Mapping[str, Any]) -> Action | Context:
    """Build an action or a context from its record."""
    kind = d["kind"]
    fields = _common(d)
    fields["description"] = _string(d, "description", optional=True)
    fields["source_type"] = _string(d, "source_type", optional=True)
    fields["source_id"] = _string(d, "source_id", optional=True)
    if kind == "Action":
        status = _string(d, "status", optional=True)
        if status is not None:
            fields["status"] = status
    try:
        entity = _CLASSES[kind](**fields)
    except ValueError as e:
        raise ValueError(f"invalid {kind} record: {e}") from None
    assert isinstance(entity, Action | Context)
    return entity


def _numbered(fh: Iterable[str]) -> Iterator[tuple[int, Entity | Association]]:
    """Yield ``(line number, item)`` for each non-blank line."""
    for lineno, line in enumerate(fh, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {lineno}: not valid JSON: {e.msg} (column {e.colno})") from None
        try:
            yield lineno, from_record(data)
        except ValueError as e:
            raise ValueError(f"line {lineno}: {e}") from None


def load(fh: Iterable[str]) -> Iterator[Entity | Association]:
    """Yield the entity or association of each JSON line in ``fh``; blank lines are skipped.

    :raises ValueError: ``line N: ...`` naming the line and the field at fault.
    """
    for _, item in _numbered(fh):
        yield item


def load_all(fh: Iterable[str]) -> tuple[list[Entity], list[Association], dict[str, int]]:
    """Read and check a whole file; return its entities, its associations and their lines.

    The third value maps each ARN, and each association's ``"source_arn destination_arn"``
    pair, to the line it came from, so that later errors can name the line.

    :raises ValueError: a record is invalid, or an ARN or a pair appears twice.
    """
    entities: list[Entity] = []
    associations: list[Association] = []
    lines: dict[str, int] = {}
    for lineno, item in _numbered(fh):
        if isinstance(item, Association):
            key = association_key(item)
            what = f"association from {item.source_arn} to {item.destination_arn}"
            associations.append(item)
        else:
            key = item.arn
            what = f"{item.lineage_type.value} {item.arn}"
            entities.append(item)
        if key in lines:
            raise ValueError(f"line {lineno}: duplicate {what} (first on line {lines[key]})")
        lines[key] = lineno
    return entities, associations, lines


def association_key(item: Association) -> str:
    """Return the key :func:`load_all` uses for an association: its two ARNs."""
    return f"{item.source_arn} {item.destination_arn}"


def rehome(
    items: Iterable[Entity | Association], account: str, region: str
) -> Iterator[Entity | Association]:
    """Yield copies of the items as they would be in another account and region.

    ARNs keep their resource ids (an artifact's id does not depend on its account), so
    the graph is the same. Each association keeps the account that added it: a copy
    does not rewrite who made the edge (writing an edge another account added takes the
    admin entry point, ``connect_admin``). Link each copy to its original with
    :func:`same_as_links`.
    """
    Arn(region, account, "lineage-group", "x")  # validates both

    for item in items:
        if isinstance(item, Association):
            yield dataclasses.replace(
                item,
                source_arn=moved_arn(item.source_arn, account, region),
                destination_arn=moved_arn(item.destination_arn, account, region),
            )
        else:
            yield dataclasses.replace(item, arn=moved_arn(item.arn, account, region))


def moved_arn(arn: str, account: str, region: str) -> str:
    """Return ``arn`` as it is in another account and region (same resource id)."""
    parsed = Arn.parse(arn)
    return str(Arn(region, account, parsed.resource, parsed.resource_id, parsed.partition))


def same_as_links(
    originals: Iterable[str], account: str, region: str, *, created: datetime | None = None
) -> list[Association]:
    """Return a ``SameAs`` association from each original entity to its rehomed copy.

    Originals already in ``account`` and ``region`` are their own copy: no link.
    """
    links = []
    for arn in originals:
        copy = moved_arn(arn, account, region)
        if copy != arn:
            links.append(Association(arn, copy, AssociationType.SAME_AS, created or utcnow()))
    return links
