"""What one task run contributes to lineage: its inputs, outputs and step metadata.

Extractors, operators and the listener all describe a step with a :class:`StepLineage`;
the capture turns it into entities and associations (see :mod:`.builder`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from airflow_lineage.model import AssociationType, SourceType

__all__ = ["ContextRef", "DataRef", "StepLineage"]


def _frozen(values: Mapping[str, object] | None, what: str) -> Mapping[str, str]:
    if values is None:
        return MappingProxyType({})
    if not isinstance(values, Mapping):
        raise TypeError(f"{what} must be a mapping, not {type(values).__name__}")
    out = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"{what} keys must be strings, got {key!r}")
        out[key] = value if isinstance(value, str) else str(value)
    return MappingProxyType(dict(sorted(out.items())))


@dataclass(frozen=True, slots=True)
class DataRef:
    """An input or output of a step: URI-addressable data that becomes an Artifact.

    :param uri: the SourceUri, e.g. ``s3://bucket/key`` or ``file:///abs/path``.
    :param artifact_type: the ArtifactType, e.g. DataSet, Model, Image, Code, Report.
    :param digests: content identifiers; ``Custom`` ``sha256:<hex>`` for local files.
    """

    uri: str
    artifact_type: str = "DataSet"
    digests: tuple[SourceType, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.uri, str) or not self.uri:
            raise ValueError(f"a data reference needs a non-empty URI, got {self.uri!r}")
        object.__setattr__(
            self,
            "digests",
            tuple(d if isinstance(d, SourceType) else SourceType(*d) for d in self.digests),
        )
        object.__setattr__(self, "properties", _frozen(self.properties, "DataRef properties"))

    @property
    def key(self) -> tuple[str, str]:
        """Return what identifies the artifact: (SourceUri, ArtifactType)."""
        return (self.uri, self.artifact_type)


@dataclass(frozen=True, slots=True)
class ContextRef:
    """A context the step's action points at, e.g. the Endpoint it deploys to.

    The association runs action → context with ``association_type``.
    """

    name: str
    context_type: str
    uri: str
    association_type: AssociationType = AssociationType.ASSOCIATED_WITH
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "association_type", AssociationType(self.association_type))
        object.__setattr__(self, "properties", _frozen(self.properties, "ContextRef properties"))


@dataclass(frozen=True, slots=True)
class StepLineage:
    """Everything known about one step beyond its Airflow identity.

    :param step_type: the ActionType (DataPreparation, Training, Evaluation, ...);
        None keeps the default (the operator's class name).
    :param source_uri: what ran, e.g. a SageMaker job ARN; None keeps the Airflow URI.
    :param parameters: recorded as properties ``param:<name>``.
    :param metrics: recorded as properties ``metric:<name>``.
    """

    step_type: str | None = None
    inputs: tuple[DataRef, ...] = ()
    outputs: tuple[DataRef, ...] = ()
    contexts: tuple[ContextRef, ...] = ()
    parameters: Mapping[str, str] = field(default_factory=dict, hash=False)
    metrics: Mapping[str, str] = field(default_factory=dict, hash=False)
    properties: Mapping[str, str] = field(default_factory=dict, hash=False)
    source_uri: str | None = None
    source_type: str | None = None
    source_id: str | None = None
    associated_from: tuple[str, ...] = ()
    """ARNs of entities that are ``AssociatedWith`` this step, e.g. the approval that
    allowed a deployment."""
    input_arns: tuple[str, ...] = ()
    """ARNs of recorded entities that contributed to the step (a model under review)."""

    def __post_init__(self) -> None:
        for name in ("inputs", "outputs", "contexts", "associated_from", "input_arns"):
            value = getattr(self, name)
            if isinstance(value, str | bytes):
                raise TypeError(f"StepLineage.{name} must be a sequence, not a string")
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "parameters", _frozen(self.parameters, "parameters"))
        object.__setattr__(self, "metrics", _frozen(self.metrics, "metrics"))
        object.__setattr__(self, "properties", _frozen(self.properties, "properties"))

    @property
    def is_empty(self) -> bool:
        """Return True when the step says nothing."""
        return self == StepLineage()

    def merge(self, other: StepLineage) -> StepLineage:
        """Return this lineage completed by ``other``: data refs are united, ``self`` wins ties."""
        return StepLineage(
            step_type=self.step_type or other.step_type,
            inputs=_union(self.inputs, other.inputs),
            outputs=_union(self.outputs, other.outputs),
            contexts=tuple({c.name: c for c in (*other.contexts, *self.contexts)}.values()),
            parameters={**other.parameters, **self.parameters},
            metrics={**other.metrics, **self.metrics},
            properties={**other.properties, **self.properties},
            source_uri=self.source_uri or other.source_uri,
            source_type=self.source_type or other.source_type,
            source_id=self.source_id or other.source_id,
            associated_from=tuple(dict.fromkeys((*self.associated_from, *other.associated_from))),
            input_arns=tuple(dict.fromkeys((*self.input_arns, *other.input_arns))),
        )


def _union(first: Iterable[DataRef], second: Iterable[DataRef]) -> tuple[DataRef, ...]:
    """Unite data refs by (uri, type) in first-seen order; the first wins unless only a
    later one carries digests."""
    out: dict[tuple[str, str], DataRef] = {}
    for ref in (*first, *second):
        known = out.get(ref.key)
        if known is None or (ref.digests and not known.digests):
            out[ref.key] = ref
    return tuple(out.values())
