"""Entities through a store: create-or-return shortcuts, and what an update changes.

The shortcuts are plain :meth:`~airflow_lineage.store.interface.Entities.write` calls
followed by a read, the same on every backend; the boto3 facade uses the functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    Context,
    Entity,
    SourceType,
)
from airflow_lineage.store.interface import Entities

__all__ = [
    "STATUS_RANK",
    "TRY_PROPERTY",
    "EntityShortcuts",
    "associate",
    "create",
    "get",
    "supersedes",
    "updated_entity",
]

E = TypeVar("E", Artifact, Action, Context)


TRY_PROPERTY = "airflow:try_number"
"""The action property that numbers the task try an action records."""

STATUS_RANK: dict[str, int] = {
    ActionStatus.UNKNOWN.value: 0,
    ActionStatus.IN_PROGRESS.value: 1,
    ActionStatus.STOPPING.value: 2,
    ActionStatus.COMPLETED.value: 3,
    ActionStatus.FAILED.value: 3,
    ActionStatus.STOPPED.value: 3,
}
"""How far an action's status has moved: InProgress, then Completed, Failed or Stopped."""


def _progress(action: Action) -> tuple[int, str, int]:
    """Return an action's progress: its try (as a number written in digits), then its
    status rank. The SQL store compares the same key in its upsert."""
    try_number = action.properties.get(TRY_PROPERTY, "")
    return len(try_number), try_number, STATUS_RANK.get(action.status.value, 0)


def supersedes(wanted: Entity, current: Entity) -> bool:
    """Return True when an upsert of ``wanted`` replaces the stored ``current``.

    An action's status moves forward only: a later try, or the same try further on
    (InProgress → Completed, Failed or Stopped), replaces it, whatever the writers'
    clocks say; an earlier one never does. Otherwise (equal progress, or an artifact or
    context) the newer ``modified`` time wins, so replayed records never roll back.
    """
    if isinstance(wanted, Action) and isinstance(current, Action):
        ahead, stored = _progress(wanted), _progress(current)
        if ahead != stored:
            return ahead > stored
    assert wanted.modified is not None and current.modified is not None
    return wanted.modified >= current.modified


def get(store: Entities, arn: str) -> Entity:
    """Return the entity with this ARN.

    :raises EntityNotFoundError: no entity has it (or the caller cannot see it).
    """
    found = store.get_many([arn]).get(arn)
    if found is None:
        raise EntityNotFoundError(f"no lineage entity has the ARN {arn}")
    return found


def create(store: Entities, entity: E) -> E:
    """Create ``entity``, or return the one the store holds under its key."""
    store.write([entity])
    return cast(E, get(store, entity.arn))  # the same ARN: the same kind of entity


def associate(store: Entities, association: Association) -> Association:
    """Add ``association``, or return the one its pair already has.

    :raises EntityNotFoundError: either end names no entity. Nothing is written.
    """
    store.write(associations=[association])
    found = store.list_associations(
        source_arn=association.source_arn, destination_arn=association.destination_arn
    )
    return found.items[0]


class EntityShortcuts:
    """Create-or-return methods over :class:`~airflow_lineage.store.interface.Entities`."""

    account: str
    region: str

    def get(self: Any, arn: str) -> Entity:
        """Return the entity with this ARN.

        :raises EntityNotFoundError: no entity has it.
        """
        return get(self, arn)

    def create_artifact(
        self: Any,
        source_uri: str,
        artifact_type: str,
        *,
        name: str | None = None,
        source_types: Iterable[SourceType | tuple[str, str]] = (),
        properties: Mapping[str, str] | None = None,
        metadata_properties: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Artifact:
        """Create the artifact for (SourceUri, ArtifactType), or return the existing one."""
        artifact = Artifact.new(
            source_uri,
            artifact_type,
            account=self.account,
            region=self.region,
            name=name,
            source_types=source_types,
            properties=properties,
            metadata_properties=metadata_properties,
            tags=tags,
        )
        return create(self, artifact)

    def create_action(
        self: Any,
        name: str,
        action_type: str,
        source_uri: str,
        *,
        status: ActionStatus | str = ActionStatus.UNKNOWN,
        description: str | None = None,
        source_type: str | None = None,
        source_id: str | None = None,
        properties: Mapping[str, str] | None = None,
        metadata_properties: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Action:
        """Create the action called ``name``, or return the existing one."""
        action = Action.new(
            name,
            action_type,
            source_uri,
            account=self.account,
            region=self.region,
            status=status,
            description=description,
            source_type=source_type,
            source_id=source_id,
            properties=properties,
            metadata_properties=metadata_properties,
            tags=tags,
        )
        return create(self, action)

    def create_context(
        self: Any,
        name: str,
        context_type: str,
        source_uri: str,
        *,
        description: str | None = None,
        source_type: str | None = None,
        source_id: str | None = None,
        properties: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Context:
        """Create the context called ``name``, or return the existing one."""
        context = Context.new(
            name,
            context_type,
            source_uri,
            account=self.account,
            region=self.region,
            description=description,
            source_type=source_type,
            source_id=source_id,
            properties=properties,
            tags=tags,
        )
        return create(self, context)

    def add_association(
        self: Any,
        source_arn: str,
        destination_arn: str,
        association_type: AssociationType | str | None = None,
    ) -> Association:
        """Associate two entities, or return the association the pair already has.

        :raises EntityNotFoundError: either ARN names no entity. Nothing is written.
        """
        assoc = Association(source_arn, destination_arn, association_type)  # type: ignore[arg-type]
        return associate(self, assoc)


def updated_entity(
    current: Entity,
    status: ActionStatus | str | None,
    description: str | None,
    name: str | None,
    properties: Mapping[str, str] | None,
    properties_to_remove: Iterable[str],
) -> Entity:
    """Return ``current`` changed as ``update()`` describes, validated.

    :raises ValueError: a field does not apply to this kind of entity or is invalid.
    """
    import dataclasses

    from airflow_lineage.model import utcnow

    changes: dict[str, Any] = {}
    if status is not None:
        if not isinstance(current, Action):
            raise ValueError(f"Status applies to actions only, not to {current.arn}")
        changes["status"] = status
    if description is not None:
        if isinstance(current, Artifact):
            raise ValueError(f"Description does not apply to artifacts ({current.arn})")
        changes["description"] = description
    if name is not None:
        if not isinstance(current, Artifact):
            raise ValueError(f"only artifacts can be renamed; {current.arn} is named by its ARN")
        changes["name"] = name
    remove = list(properties_to_remove)
    if properties is not None or remove:
        merged = dict(current.properties)
        merged.update(properties or {})
        for key in remove:
            merged.pop(key, None)
        changes["properties"] = merged
    return dataclasses.replace(current, modified=utcnow(), **changes)
