"""The store interface: small protocols a backend implements (SQL, SageMaker).

- :class:`Entities`: record, read, change and list entities and associations. Writes
  are idempotent where SageMaker reuses entities (an artifact by account, SourceUri and
  ArtifactType; an action or context by name; an association by its pair): a second
  create keeps what exists. ``write(upsert=...)`` takes the given mutable fields where
  the given ``modified`` is not older than the stored one (an action's status moves
  forward only, see :func:`airflow_lineage.store.editing.supersedes`); ``upsert`` may be a
  collection of ARNs to upsert. Listings are newest first unless ``ascending``, time
  bounds inclusive, ``max_results=None`` everything.
- :class:`GraphReading`: a read of the graph for the one query engine
  (:mod:`airflow_lineage.store.querying`).
- :class:`Sharing`: optional; sharing lineage groups between accounts.
- :class:`Exporting`: every entity, then every association, in a stable order.

Only these types and :mod:`airflow_lineage.model` values cross the interface: no
SQLAlchemy or botocore object reaches a caller. Errors are those of
:mod:`airflow_lineage.exceptions`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from airflow_lineage.model import (
    ActionStatus,
    Association,
    AssociationType,
    Entity,
    LineageGroup,
    LineageType,
)
from airflow_lineage.traversal import GraphReader

if TYPE_CHECKING:
    from airflow_lineage.provenance.attestation import Attestation
    from airflow_lineage.query import LineageQuery, LineageResult
    from airflow_lineage.sharing import Share

__all__ = ["Entities", "Exporting", "GraphReading", "GraphSnapshot", "Page", "Sharing", "Store"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next (None on the last page)."""

    items: tuple[T, ...]
    next_token: str | None = None


class Entities(Protocol):
    """Entities and associations of one account (and what is shared with it)."""

    account: str
    region: str

    keeps_attestations: bool
    """Whether the store keeps the signed provenance of actions (see ``write``)."""

    @abstractmethod
    def write(self, entities: Iterable[Entity] = (), associations: Iterable[Association] = (),
              *, upsert: bool | Collection[str] = False,
              attestations: Iterable[Attestation] = ()) -> None:  # fmt: skip
        """Record entities and associations in one transaction (all or nothing), with
        the ``attestations`` (signed provenance) of the actions written, where the store
        keeps them (:attr:`keeps_attestations`; the others ignore them).

        :raises EntityNotFoundError: an association names an entity that is neither
            stored nor in the batch. Nothing is written."""

    def attestations(self, arns: Sequence[str]) -> dict[str, Attestation]:
        """Return the stored attestations of these actions; unknown ARNs are left out."""
        return {}

    @abstractmethod
    def get_many(self, arns: Sequence[str]) -> dict[str, Entity]:
        """Return the entities with these ARNs; unknown ARNs are left out."""

    @abstractmethod
    def update(self, arn: str, *, status: ActionStatus | str | None = None,
               description: str | None = None, name: str | None = None,
               properties: Mapping[str, str] | None = None,
               properties_to_remove: Iterable[str] = ()) -> Entity:  # fmt: skip
        """Change mutable fields (properties merged, then removed).

        :raises EntityNotFoundError: no entity has ``arn``.
        :raises ValueError: a field does not apply to this kind of entity."""

    @abstractmethod
    def delete(self, arn: str, *, disassociate: bool = False) -> None:
        """Delete an entity; with ``disassociate`` its associations first.

        :raises AssociationsExistError: it has associations; nothing is deleted."""

    @abstractmethod
    def delete_association(self, source_arn: str, destination_arn: str) -> None:
        """Delete an association. :raises EntityNotFoundError: there is none."""

    @abstractmethod
    def list_entities(self, lineage_type: LineageType | str, *, type: str | None = None,
                      source_uri: str | None = None, name: str | None = None,
                      created_after: datetime | None = None,
                      created_before: datetime | None = None, ascending: bool = False,
                      max_results: int | None = None,
                      next_token: str | None = None) -> Page[Entity]:  # fmt: skip
        """List artifacts, actions or contexts."""

    @abstractmethod
    def list_associations(self, *, source_arn: str | None = None,
                          destination_arn: str | None = None,
                          association_type: AssociationType | str | None = None,
                          created_after: datetime | None = None,
                          created_before: datetime | None = None, ascending: bool = False,
                          max_results: int | None = None,
                          next_token: str | None = None) -> Page[Association]:  # fmt: skip
        """List associations."""

    @abstractmethod
    def associations_among(self, arns: Sequence[str]) -> list[Association]:
        """Return the associations with both ends among ``arns``, with who added them."""

    @abstractmethod
    def lineage_groups(self) -> list[LineageGroup]:
        """Return the lineage groups the caller's account can see."""


class GraphSnapshot(GraphReader[Any], Protocol):
    """A graph reader bound to one snapshot and one caller."""

    view: str
    """What the caller sees, as a short string; "" when no share can change it."""


class GraphReading(Protocol):
    """Reading the graph for the query engine."""

    def read_graph(
        self, snapshot: int, query: LineageQuery
    ) -> AbstractContextManager[GraphSnapshot]:
        """Open a read of the graph as of ``snapshot`` (µs; associations created later
        are left out) for ``query``."""


@runtime_checkable
class Sharing(Protocol):
    """Optional: share lineage groups between accounts (AWS RAM-style)."""

    @abstractmethod
    def share(self, consumer_account: str, *, group: str = ...) -> Share:
        """Invite another account to a lineage group of the caller's."""

    @abstractmethod
    def accept(self, owner_account: str, *, group: str = ...) -> Share:
        """Accept an invitation. :raises EntityNotFoundError: there is none."""

    @abstractmethod
    def revoke(self, consumer_account: str, *, group: str = ...) -> Share:
        """Stop sharing. :raises EntityNotFoundError: the group is not shared."""

    @abstractmethod
    def shares(self) -> list[Share]:
        """Return every share the caller is party to (as owner or as consumer)."""

    @abstractmethod
    def get_lineage_group_policy(self, lineage_group: str) -> dict[str, str]:
        """Return ``{"LineageGroupArn", "ResourcePolicy"}`` of a group the caller sees."""


class Exporting(Protocol):
    """Reading everything out, for backup and moving between backends."""

    @abstractmethod
    def export(self) -> Iterator[Entity | Association]:
        """Yield every entity, then every association, in a stable order."""


class Store(Entities, Protocol):
    """What callers of a store use: :class:`Entities` and one-query lineage."""

    def query(self, query: LineageQuery) -> LineageResult:
        """Run one lineage query and return one page of its result."""
