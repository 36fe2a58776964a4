"""The one interface every lineage store implements (SQL, SageMaker).

Only this module's types and :mod:`airflow_lineage.model` values cross it: no SQLAlchemy
or botocore object ever reaches a caller.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from airflow_lineage.model import (
    DEFAULT_ACCOUNT,
    DEFAULT_LINEAGE_GROUP,
    LOCAL_REGION,
    Action,
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    Context,
    Entity,
    LineageGroup,
    LineageType,
    SourceType,
)
from airflow_lineage.query import LineageQuery, LineageResult

if TYPE_CHECKING:
    from airflow_lineage.facade import Boto3Facade
    from airflow_lineage.provenance.attestation import Attestation
    from airflow_lineage.sharing import Share

__all__ = ["LineageStore", "Page", "updated_entity"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next (None on the last page)."""

    items: tuple[T, ...]
    next_token: str | None = None


class LineageStore(ABC):
    """Where lineage lives: entities, associations, one-query lineage.

    A store is bound to one account (and region); entities it creates belong to it.
    Writes are idempotent where SageMaker reuses entities: an artifact by (account,
    SourceUri, ArtifactType), an action or context by name, an association by its
    (source, destination) pair. A second create returns what exists.
    """

    account: str = DEFAULT_ACCOUNT
    region: str = LOCAL_REGION
    detects_hidden_lineage: bool = True
    """Whether a query can tell that its walk met lineage the account may not see
    (``LineageResult.visibility_cut_off``); a gate on a store that cannot tell rejects
    unless its policy allows it."""

    keeps_attestations: bool = False
    """Whether the store keeps the signed provenance of actions (see ``write``)."""

    # -- writes ---------------------------------------------------------------------

    @abstractmethod
    def write(
        self,
        entities: Iterable[Entity] = (),
        associations: Iterable[Association] = (),
        *,
        upsert: bool | Collection[str] = False,
        attestations: Iterable[Attestation] = (),
    ) -> None:
        """Record entities and associations in one transaction (all or nothing).

        ``attestations`` (signed provenance of actions) are written in the same
        transaction where the store keeps them (:attr:`keeps_attestations`), newest
        ``modified`` winning as for the action; a store that keeps none ignores them.

        Entities that exist already are kept as they are, unless ``upsert``: then their
        mutable fields (name, status, description, properties, metadata, tags) take the
        given values where the given ``modified`` time is not older than the stored one,
        so records replayed out of order never roll an entity back. ``upsert`` may also
        be a collection of ARNs: only those entities are upserted. Associations that
        exist are kept.

        :raises EntityNotFoundError: an association names an entity that is neither in
            the store nor in this batch. Nothing is written.
        """

    def attestations(self, arns: Sequence[str]) -> dict[str, Attestation]:
        """Return the stored attestations of these actions; unknown ARNs are left out."""
        return {}

    @abstractmethod
    def get_many(self, arns: Sequence[str]) -> dict[str, Entity]:
        """Return the entities with these ARNs; unknown ARNs are left out."""

    def get(self, arn: str) -> Entity:
        """Return the entity with this ARN.

        :raises EntityNotFoundError: no entity has it.
        """
        from airflow_lineage.exceptions import EntityNotFoundError

        found = self.get_many([arn]).get(arn)
        if found is None:
            raise EntityNotFoundError(f"no lineage entity has the ARN {arn}")
        return found

    def create_artifact(
        self,
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
        return self._create(artifact)  # type: ignore[return-value]

    def create_action(
        self,
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
        return self._create(action)  # type: ignore[return-value]

    def create_context(
        self,
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
        return self._create(context)  # type: ignore[return-value]

    def _create(self, entity: Entity) -> Entity:
        self.write([entity])
        return self.get(entity.arn)

    def add_association(
        self,
        source_arn: str,
        destination_arn: str,
        association_type: AssociationType | str | None = None,
    ) -> Association:
        """Associate two entities, or return the association the pair already has.

        :raises EntityNotFoundError: either ARN names no entity. Nothing is written.
        """
        assoc = Association(source_arn, destination_arn, association_type)  # type: ignore[arg-type]
        self.write(associations=[assoc])
        found = self.list_associations(source_arn=source_arn, destination_arn=destination_arn)
        return found.items[0]

    @abstractmethod
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
        """Change an entity's mutable fields; given properties are merged, then removed.

        Type and Source are immutable, as in SageMaker. ``status`` is for actions,
        ``name`` for artifacts, ``description`` for actions and contexts.

        :raises EntityNotFoundError: no entity has this ARN.
        :raises ValueError: a field does not apply to this kind of entity or is invalid.
        """

    @abstractmethod
    def delete(self, arn: str, *, disassociate: bool = False) -> None:
        """Delete an entity; with ``disassociate`` its associations go first.

        :raises AssociationsExistError: the entity has associations and
            ``disassociate`` is False. Nothing is deleted.
        :raises EntityNotFoundError: no entity has this ARN.
        """

    @abstractmethod
    def delete_association(self, source_arn: str, destination_arn: str) -> None:
        """Delete the association between two entities.

        :raises EntityNotFoundError: the pair has no association.
        """

    # -- reads ----------------------------------------------------------------------

    @abstractmethod
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
        """List artifacts, actions or contexts, newest first unless ``ascending``.

        Time bounds are inclusive. ``max_results=None`` returns everything.
        """

    @abstractmethod
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

    @abstractmethod
    def associations_among(self, arns: Sequence[str]) -> list[Association]:
        """Return every association whose two ends are both among ``arns``, with the
        account that added it."""

    @abstractmethod
    def query(self, query: LineageQuery) -> LineageResult:
        """Run one lineage query and return one page of its result.

        :raises EntityNotFoundError: a start ARN names no entity.
        :raises InvalidPageTokenError: ``next_token`` is not one of this query's.
        """

    @abstractmethod
    def lineage_groups(self) -> list[LineageGroup]:
        """Return the lineage groups the caller's account can see."""

    # -- sharing (AWS RAM-style shares of lineage groups) -------------------------------

    def _no_sharing(self, operation: str) -> NotImplementedError:
        return NotImplementedError(
            f"{type(self).__name__} does not support {operation}: sharing lineage groups "
            "between accounts is implemented by the SQL store"
        )

    def share(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Share one of the caller's lineage groups with another account (an invitation).

        The consumer sees the group's lineage once it has accepted. Sharing again what
        was revoked sends a new invitation; sharing what is shared returns the share.
        """
        raise self._no_sharing("share")

    def accept(self, owner_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Accept the invitation of ``owner_account`` to its lineage group.

        :raises EntityNotFoundError: the owner has not invited the caller.
        """
        raise self._no_sharing("accept")

    def revoke(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Stop sharing one of the caller's lineage groups with ``consumer_account``.

        :raises EntityNotFoundError: the group is not shared with that account.
        """
        raise self._no_sharing("revoke")

    def shares(self) -> list[Share]:
        """Return the shares the caller is a party to (as owner or as consumer)."""
        raise self._no_sharing("shares")

    def get_lineage_group_policy(self, lineage_group: str) -> dict[str, str]:
        """Return ``{"LineageGroupArn", "ResourcePolicy"}`` of a group the caller sees.

        :raises EntityNotFoundError: the caller sees no such group.
        """
        raise self._no_sharing("get_lineage_group_policy")

    @abstractmethod
    def export(self) -> Iterator[Entity | Association]:
        """Yield every entity, then every association, in a stable order."""

    def close(self) -> None:  # noqa: B027 - optional for stores that hold nothing
        """Release connections."""

    def as_boto3_client(self) -> Boto3Facade:
        """Return an object with boto3's SageMaker lineage methods, bound to this store."""
        from airflow_lineage.facade import Boto3Facade

        return Boto3Facade(self)

    def __enter__(self) -> LineageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def updated_entity(
    current: Entity,
    status: ActionStatus | str | None,
    description: str | None,
    name: str | None,
    properties: Mapping[str, str] | None,
    properties_to_remove: Iterable[str],
) -> Entity:
    """Return ``current`` changed as :meth:`LineageStore.update` describes, validated.

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
