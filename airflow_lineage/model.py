"""Lineage entities: artifacts, actions, contexts, associations, lineage groups.

The entities follow Amazon SageMaker ML Lineage Tracking. Each is a small immutable value
validated at construction against SageMaker's own API model (its constraints, extracted
from botocore at build time, see :mod:`.apispec`), so an entity that exists is one
SageMaker would accept, and every local ARN is a valid SageMaker ARN.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, NamedTuple, TypeAlias, TypeVar

from airflow_lineage.apispec import check_string, limits, service_shape_members

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_LINEAGE_GROUP",
    "LOCAL_REGION",
    "Action",
    "ActionStatus",
    "Arn",
    "Artifact",
    "Association",
    "AssociationType",
    "Context",
    "Direction",
    "Edge",
    "Entity",
    "LineageGroup",
    "LineageType",
    "SourceIdType",
    "SourceType",
    "Vertex",
    "from_micros",
    "to_micros",
    "utcnow",
]

DEFAULT_ACCOUNT = "000000000000"
LOCAL_REGION = "local"
DEFAULT_LINEAGE_GROUP = "sagemaker-default-lineage-group"

_ACCOUNT_RE = re.compile(r"[0-9]{12}")
_REGION_RE = re.compile(r"[a-z0-9\-]*")
_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-z\-]*):sagemaker:(?P<region>[a-z0-9\-]*):(?P<account>[0-9]{12}):"
    r"(?P<resource>[a-z\-]+)/(?P<name>.+)",
    re.DOTALL,
)


class LineageType(StrEnum):
    """The kind of a lineage entity (QueryLineage's ``LineageType``)."""

    ARTIFACT = "Artifact"
    ACTION = "Action"
    CONTEXT = "Context"
    TRIAL_COMPONENT = "TrialComponent"


class Direction(StrEnum):
    """Which way a lineage query walks associations."""

    ASCENDANTS = "Ascendants"
    DESCENDANTS = "Descendants"
    BOTH = "Both"


class AssociationType(StrEnum):
    """The meaning of an association, source to destination."""

    CONTRIBUTED_TO = "ContributedTo"
    ASSOCIATED_WITH = "AssociatedWith"
    DERIVED_FROM = "DerivedFrom"
    PRODUCED = "Produced"
    SAME_AS = "SameAs"


class ActionStatus(StrEnum):
    """The status of an action (a step run)."""

    UNKNOWN = "Unknown"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class SourceIdType(StrEnum):
    """How an artifact's content is identified (a digest or a version)."""

    MD5_HASH = "MD5Hash"
    S3_ETAG = "S3ETag"
    S3_VERSION = "S3Version"
    CUSTOM = "Custom"


_RESOURCE_OF: dict[str, LineageType] = {
    "artifact": LineageType.ARTIFACT,
    "action": LineageType.ACTION,
    "context": LineageType.CONTEXT,
    "experiment-trial-component": LineageType.TRIAL_COMPONENT,
}


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def to_micros(value: datetime) -> int:
    """Return a timezone-aware time as integer microseconds since the epoch.

    :raises TypeError: ``value`` is not a datetime (e.g. a time bound given as text).
    """
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r:.100}")
    return int(value.timestamp()) * 1_000_000 + value.microsecond


def from_micros(value: int) -> datetime:
    """Return integer microseconds since the epoch as a UTC datetime."""
    secs, micros = divmod(value, 1_000_000)
    return datetime.fromtimestamp(secs, UTC).replace(microsecond=micros)


_E = TypeVar("_E", bound=StrEnum)


def _enum(cls: type[_E], field_name: str, value: object) -> _E:
    """Return ``value`` as a member of ``cls``; raise ValueError naming the field."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        try:
            return cls(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in cls)
    raise ValueError(f"{field_name} must be one of {allowed}; got {value!r}")


@dataclass(frozen=True, slots=True)
class Arn:
    """A parsed SageMaker lineage ARN: ``arn:aws:sagemaker:{region}:{account}:{resource}/{id}``."""

    region: str
    account: str
    resource: str
    resource_id: str
    partition: str = "aws"

    def __post_init__(self) -> None:
        if not _ACCOUNT_RE.fullmatch(self.account):
            raise ValueError(f"account must be 12 digits, got {self.account!r}")
        if not _REGION_RE.fullmatch(self.region):
            raise ValueError(f"region {self.region!r} must be lowercase letters, digits and '-'")
        if not self.resource_id:
            raise ValueError("an ARN needs a resource id after the '/'")

    @classmethod
    def parse(cls, text: str, *, field_name: str = "Arn") -> Arn:
        """Parse a SageMaker ARN; raise ValueError naming ``field_name`` if it is not one."""
        if not isinstance(text, str):
            raise TypeError(f"{field_name} must be a string, not {type(text).__name__}")
        m = _ARN_RE.fullmatch(text)
        if m is None or len(text) > 256:
            raise ValueError(f"{field_name} {text!r} is not a SageMaker lineage ARN")
        return cls(m["region"], m["account"], m["resource"], m["name"], m["partition"])

    @property
    def lineage_type(self) -> LineageType | None:
        """Return the lineage type this ARN names, or None for other resources."""
        return _RESOURCE_OF.get(self.resource)

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:"
            f"{self.resource}/{self.resource_id}"
        )


def artifact_id(
    source_uri: str, artifact_type: str, source_types: Iterable[SourceType] = ()
) -> str:
    """Return the 32-hex artifact id for (SourceUri, ArtifactType[, content identifiers]).

    Without SourceTypes an artifact is keyed by (SourceUri, ArtifactType). With them the
    content is part of the key: the same URI holding other bytes is another version of
    the data, a distinct artifact (SageMaker's own SDK, too, expects several artifacts
    per SourceUri and tells them apart by type and SourceTypes). The id does not depend
    on the account, so copies of one object in two accounts get ARNs that differ only in
    the account, as SageMaker's SameAs copies do.
    """
    parts = [source_uri, artifact_type]
    parts += sorted(f"{st.id_type.value}={st.value}" for st in source_types)
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return digest[:32]


def _aware(field_name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{field_name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"{field_name} must be timezone-aware")
    return value.astimezone(UTC)


def _freeze_properties(
    field_name: str, props: Mapping[str, str] | None, value_shape: str, map_shape: str
) -> Mapping[str, str]:
    if props is None:
        return MappingProxyType({})
    if not isinstance(props, Mapping):
        raise TypeError(f"{field_name} must be a mapping of strings, not {type(props).__name__}")
    max_count = limits(map_shape).max
    if max_count is not None and len(props) > max_count:
        raise ValueError(f"{field_name} may hold at most {max_count} entries, got {len(props)}")
    for key, value in props.items():
        check_string(f"{field_name} key", key, "StringParameterValue")
        check_string(f"{field_name}[{key!r}]", value, value_shape)
    return MappingProxyType(dict(sorted(props.items())))


def _metadata(values: Mapping[str, str] | None) -> Mapping[str, str]:
    """Validate MetadataProperties (CommitId, Repository, GeneratedBy, ProjectId)."""
    if not values:
        return MappingProxyType({})
    allowed = service_shape_members("MetadataProperties")
    for key, value in values.items():
        if key not in allowed:
            raise ValueError(
                f"MetadataProperties has no field {key!r}; allowed: {', '.join(allowed)}"
            )
        check_string(f"MetadataProperties.{key}", value, "MetadataPropertyValue")
    return MappingProxyType(dict(sorted(values.items())))


def _tags(values: Mapping[str, str] | None) -> Mapping[str, str]:
    """Validate tags given as a mapping of key to value."""
    if not values:
        return MappingProxyType({})
    if not isinstance(values, Mapping):
        raise TypeError("Tags must be a mapping of key to value")
    max_count = limits("TagList").max
    if max_count is not None and len(values) > max_count:
        raise ValueError(f"Tags may hold at most {max_count} entries, got {len(values)}")
    for key, value in values.items():
        check_string("Tags key", key, "TagKey")
        check_string(f"Tags[{key!r}]", value, "TagValue")
    return MappingProxyType(dict(sorted(values.items())))


@dataclass(frozen=True, slots=True)
class SourceType:
    """One content identifier of an artifact, e.g. ``Custom`` = ``sha256:<hex>``."""

    id_type: SourceIdType
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "id_type", _enum(SourceIdType, "SourceIdType", self.id_type))
        check_string("SourceTypes.Value", self.value, "String256")

    @classmethod
    def of(cls, value: SourceType | tuple[str, str]) -> SourceType:
        """Return ``value`` as a SourceType; a pair is (SourceIdType, Value)."""
        if isinstance(value, SourceType):
            return value
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise TypeError(f"a SourceType is a (SourceIdType, Value) pair, not {value!r}")
        return cls(_enum(SourceIdType, "SourceIdType", value[0]), value[1])


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entity:
    arn: str
    type: str
    source_uri: str
    name: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    metadata_properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    created: datetime = field(default_factory=utcnow)
    modified: datetime | None = None

    lineage_type: ClassVar[LineageType]
    _resource: ClassVar[str]
    _value_shape: ClassVar[str] = "StringParameterValue"
    _map_shape: ClassVar[str] = "LineageEntityParameters"
    _type_field: ClassVar[str]

    def __post_init__(self) -> None:
        arn = Arn.parse(self.arn, field_name=f"{self.lineage_type.value}Arn")
        if arn.resource != self._resource:
            raise ValueError(f"{self.arn!r} is not an {self._resource} ARN")
        check_string(self._type_field, self.type, "String256")
        check_string("SourceUri", self.source_uri, "SourceUri")
        created = _aware("created", self.created)
        object.__setattr__(self, "created", created)
        modified = created if self.modified is None else _aware("modified", self.modified)
        object.__setattr__(self, "modified", modified)
        props = _freeze_properties(
            "Properties", self.properties, self._value_shape, self._map_shape
        )
        object.__setattr__(self, "properties", props)
        object.__setattr__(self, "metadata_properties", _metadata(self.metadata_properties))
        object.__setattr__(self, "tags", _tags(self.tags))

    @property
    def account(self) -> str:
        """Return the 12-digit account that owns the entity."""
        return Arn.parse(self.arn).account

    @property
    def lineage_group_arn(self) -> str:
        """Return the ARN of the lineage group the entity belongs to."""
        arn = Arn.parse(self.arn)
        return str(Arn(arn.region, arn.account, "lineage-group", DEFAULT_LINEAGE_GROUP))

    def vertex(self) -> Vertex:
        """Return the entity as a query-result vertex."""
        return Vertex(self.arn, self.type, self.lineage_type)


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact(_Entity):
    """URI-addressable data: a data set, features, a model, an image, code, a report."""

    source_types: tuple[SourceType, ...] = ()

    lineage_type: ClassVar[LineageType] = LineageType.ARTIFACT
    _resource: ClassVar[str] = "artifact"
    _value_shape: ClassVar[str] = "ArtifactPropertyValue"
    _map_shape: ClassVar[str] = "ArtifactProperties"
    _type_field: ClassVar[str] = "ArtifactType"

    def __post_init__(self) -> None:
        _Entity.__post_init__(self)
        check_string("ArtifactName", self.name, "ExperimentEntityName", optional=True)
        types = tuple(SourceType.of(st) for st in self.source_types)
        object.__setattr__(self, "source_types", types)
        expected = Arn.parse(self.arn).resource_id
        if expected != artifact_id(self.source_uri, self.type, types):
            raise ValueError(
                f"ArtifactArn {self.arn!r} does not belong to SourceUri {self.source_uri!r} "
                f"with ArtifactType {self.type!r} and these SourceTypes; build artifacts "
                "with Artifact.new()"
            )

    @classmethod
    def new(
        cls,
        source_uri: str,
        artifact_type: str,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = LOCAL_REGION,
        name: str | None = None,
        source_types: Iterable[SourceType | tuple[str, str]] = (),
        properties: Mapping[str, str] | None = None,
        metadata_properties: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        created: datetime | None = None,
    ) -> Artifact:
        """Build an artifact; its ARN is derived from (account, SourceUri, ArtifactType).

        :raises ValueError: naming the field that SageMaker's API model rejects.
        """
        check_string("SourceUri", source_uri, "SourceUri")
        check_string("ArtifactType", artifact_type, "String256")
        types = tuple(SourceType.of(st) for st in source_types)
        arn = str(Arn(region, account, "artifact", artifact_id(source_uri, artifact_type, types)))
        return cls(
            arn=arn,
            type=artifact_type,
            source_uri=source_uri,
            name=name,
            source_types=types,
            properties=dict(properties or {}),
            metadata_properties=dict(metadata_properties or {}),
            tags=dict(tags or {}),
            created=created or utcnow(),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _NamedEntity(_Entity):
    """An entity addressed by its name: the ARN ends with ``/{name}``."""

    description: str | None = None
    source_type: str | None = None
    source_id: str | None = None

    _name_shape: ClassVar[str]

    def __post_init__(self) -> None:
        _Entity.__post_init__(self)
        kind = self.lineage_type.value
        check_string(f"{kind}Name", self.name, self._name_shape)
        if Arn.parse(self.arn).resource_id != self.name:
            raise ValueError(f"{kind}Arn {self.arn!r} does not end with its name {self.name!r}")
        check_string("Description", self.description, "ExperimentDescription", optional=True)
        check_string("SourceType", self.source_type, "String256", optional=True)
        check_string("SourceId", self.source_id, "String256", optional=True)

    @classmethod
    def _arn_for(cls, name: str, account: str, region: str) -> str:
        check_string(f"{cls.lineage_type.value}Name", name, cls._name_shape)
        return str(Arn(region, account, cls._resource, name))


@dataclass(frozen=True, slots=True, kw_only=True)
class Action(_NamedEntity):
    """A step run: data preparation, training, evaluation, approval, deployment."""

    status: ActionStatus = ActionStatus.UNKNOWN

    lineage_type: ClassVar[LineageType] = LineageType.ACTION
    _resource: ClassVar[str] = "action"
    _type_field: ClassVar[str] = "ActionType"
    _name_shape: ClassVar[str] = "ExperimentEntityName"

    def __post_init__(self) -> None:
        _NamedEntity.__post_init__(self)
        object.__setattr__(self, "status", _enum(ActionStatus, "Status", self.status))

    @classmethod
    def new(
        cls,
        name: str,
        action_type: str,
        source_uri: str,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = LOCAL_REGION,
        status: ActionStatus | str = ActionStatus.UNKNOWN,
        description: str | None = None,
        source_type: str | None = None,
        source_id: str | None = None,
        properties: Mapping[str, str] | None = None,
        metadata_properties: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        created: datetime | None = None,
    ) -> Action:
        """Build an action named ``name``; its ARN is ``…:action/{name}``."""
        return cls(
            arn=cls._arn_for(name, account, region),
            name=name,
            type=action_type,
            source_uri=source_uri,
            status=status,  # type: ignore[arg-type]  # coerced and checked in __post_init__
            description=description,
            source_type=source_type,
            source_id=source_id,
            properties=dict(properties or {}),
            metadata_properties=dict(metadata_properties or {}),
            tags=dict(tags or {}),
            created=created or utcnow(),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Context(_NamedEntity):
    """A grouping: a pipeline, a pipeline run, an endpoint, a model group."""

    lineage_type: ClassVar[LineageType] = LineageType.CONTEXT
    _resource: ClassVar[str] = "context"
    _type_field: ClassVar[str] = "ContextType"
    _name_shape: ClassVar[str] = "ContextName"

    @classmethod
    def new(
        cls,
        name: str,
        context_type: str,
        source_uri: str,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = LOCAL_REGION,
        description: str | None = None,
        source_type: str | None = None,
        source_id: str | None = None,
        properties: Mapping[str, str] | None = None,
        metadata_properties: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        created: datetime | None = None,
    ) -> Context:
        """Build a context named ``name``; its ARN is ``…:context/{name}``."""
        return cls(
            arn=cls._arn_for(name, account, region),
            name=name,
            type=context_type,
            source_uri=source_uri,
            description=description,
            source_type=source_type,
            source_id=source_id,
            properties=dict(properties or {}),
            metadata_properties=dict(metadata_properties or {}),
            tags=dict(tags or {}),
            created=created or utcnow(),
        )


Entity: TypeAlias = Artifact | Action | Context

_ASSOCIABLE = {"experiment", "experiment-trial-component", "artifact", "action", "context"}
_EXPERIMENT_SIDE = {"experiment", "experiment-trial-component"}


@dataclass(frozen=True, slots=True)
class Association:
    """A typed edge from ``source_arn`` to ``destination_arn``."""

    source_arn: str
    destination_arn: str
    association_type: AssociationType | None = None
    created: datetime = field(default_factory=utcnow, compare=False)
    account: str | None = field(default=None, compare=False)
    """The account that added the edge; None until a store records it (then the
    writing store's account)."""

    def __post_init__(self) -> None:
        src = Arn.parse(self.source_arn, field_name="SourceArn")
        dst = Arn.parse(self.destination_arn, field_name="DestinationArn")
        for label, arn in (("SourceArn", src), ("DestinationArn", dst)):
            if arn.resource not in _ASSOCIABLE:
                raise ValueError(f"{label} {arn} cannot be associated (resource {arn.resource!r})")
        if src.resource in _EXPERIMENT_SIDE and dst.resource in _EXPERIMENT_SIDE:
            raise ValueError("two experiment entities cannot be associated with each other")
        if self.source_arn == self.destination_arn:
            raise ValueError("an association needs two different entities, got the same ARN twice")
        if self.association_type is not None:
            kind = _enum(AssociationType, "AssociationType", self.association_type)
            object.__setattr__(self, "association_type", kind)
        object.__setattr__(self, "created", _aware("created", self.created))
        if self.account is not None and not _ACCOUNT_RE.fullmatch(self.account):
            raise ValueError(f"account must be 12 digits, got {self.account!r}")

    def edge(self) -> Edge:
        """Return the association as a query-result edge."""
        return Edge(self.source_arn, self.destination_arn, self.association_type)


class Vertex(NamedTuple):
    """One entity in a query result: its ARN, its type string and its lineage type.

    A named tuple: results can hold hundreds of thousands of them.
    """

    arn: str
    type: str
    lineage_type: LineageType


class Edge(NamedTuple):
    """One association in a query result."""

    source_arn: str
    destination_arn: str
    association_type: AssociationType | None


@dataclass(frozen=True, slots=True)
class LineageGroup:
    """A lineage group: the unit SageMaker shares between accounts."""

    name: str
    account: str
    region: str = LOCAL_REGION
    created: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        check_string("LineageGroupName", self.name, "ExperimentEntityName")
        Arn(self.region, self.account, "lineage-group", self.name)  # validates the parts

    @property
    def arn(self) -> str:
        """Return the group's ARN."""
        return str(Arn(self.region, self.account, "lineage-group", self.name))
