"""A boto3-shaped SageMaker lineage client over a local lineage store.

:class:`Boto3Facade` has the method names of ``boto3.client("sagemaker")`` for the ML
Lineage Tracking operations, takes exactly their keyword arguments and returns exactly
their response shapes, so code written for boto3 runs unchanged against the embedded
store::

    sm = airflow_lineage.connect().as_boto3_client()
    arn = sm.create_artifact(Source={"SourceUri": "s3://b/k"}, ArtifactType="DataSet")[
        "ArtifactArn"
    ]
    sm.query_lineage(StartArns=[arn], Direction="Descendants")["Vertices"]
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

from botocore.exceptions import ClientError, OperationNotPageableError, ParamValidationError

from airflow_lineage.apispec import limits, service_model
from airflow_lineage.exceptions import (
    AssociationsExistError,
    EntityNotFoundError,
    InvalidPageTokenError,
    LineageError,
)
from airflow_lineage.model import (
    Action,
    Arn,
    Artifact,
    Association,
    AssociationType,
    Context,
    Edge,
    Entity,
    LineageGroup,
    LineageType,
    SourceType,
)
from airflow_lineage.pagetoken import PageToken, scope_of
from airflow_lineage.query import DEFAULT_DEPTH, NO_FILTER, LineageFilter, LineageQuery
from airflow_lineage.store.editing import E, associate, create, get
from airflow_lineage.store.interface import Sharing, Store

if TYPE_CHECKING:
    from botocore.model import ServiceModel
    from botocore.paginate import Paginator


__all__ = ["Boto3Facade", "ClientMeta", "RequestValidationError"]

Params = dict[str, Any]
Response = dict[str, Any]
T = TypeVar("T")

DEFAULT_LIST_RESULTS = 10
"""SageMaker's documented default page size of the List* operations."""

_OPERATIONS: dict[str, str] = {
    "create_artifact": "CreateArtifact",
    "describe_artifact": "DescribeArtifact",
    "list_artifacts": "ListArtifacts",
    "update_artifact": "UpdateArtifact",
    "delete_artifact": "DeleteArtifact",
    "create_action": "CreateAction",
    "describe_action": "DescribeAction",
    "list_actions": "ListActions",
    "update_action": "UpdateAction",
    "delete_action": "DeleteAction",
    "create_context": "CreateContext",
    "describe_context": "DescribeContext",
    "list_contexts": "ListContexts",
    "update_context": "UpdateContext",
    "delete_context": "DeleteContext",
    "add_association": "AddAssociation",
    "delete_association": "DeleteAssociation",
    "list_associations": "ListAssociations",
    "query_lineage": "QueryLineage",
    "list_lineage_groups": "ListLineageGroups",
    "describe_lineage_group": "DescribeLineageGroup",
    "get_lineage_group_policy": "GetLineageGroupPolicy",
    "list_tags": "ListTags",
}
"""The boto3 method name of every operation the facade implements."""

# SageMaker's size limits on QueryLineage that the local store deliberately exceeds.
_BEYOND_SAGEMAKER: dict[str, frozenset[str]] = {
    "QueryLineage": frozenset(
        {
            "StartArns",
            "MaxDepth",
            "MaxResults",
            "Filters.Types",
            "Filters.LineageTypes",
            "Filters.Properties",
        }
    ),
}

# boto3 has no QueryLineage paginator; the facade offers one (pages of vertices).
_QUERY_LINEAGE_PAGINATOR: dict[str, Any] = {
    "input_token": "NextToken",
    "output_token": "NextToken",
    "limit_key": "MaxResults",
    "result_key": ["Vertices", "Edges"],
}


class RequestValidationError(ClientError, ParamValidationError):  # type: ignore[misc]
    """A request that botocore's parameter validation rejects.

    It is a ``ClientError`` with code ``ValidationException`` (what SageMaker answers to
    a malformed request) and also a ``ParamValidationError`` (what boto3 raises before
    sending one), so either ``except`` clause of boto3 code catches it.
    """

    def __init__(self, error_response: Mapping[str, Any], operation_name: str, report: str):
        # Neither parent's __init__ can run: ClientError's super() call would reach
        # BotoCoreError.__init__, which takes keyword arguments only.
        error = error_response.get("Error", {})
        Exception.__init__(
            self,
            ClientError.MSG_TEMPLATE.format(
                error_code=error.get("Code", "Unknown"),
                error_message=error.get("Message", "Unknown"),
                operation_name=operation_name,
                retry_info="",
            ),
        )
        self.response = error_response
        self.operation_name = operation_name
        self.kwargs = {"report": report}


@dataclass(frozen=True, slots=True)
class ClientMeta:
    """The part of boto3's ``client.meta`` that lineage code reads."""

    service_model: ServiceModel
    region_name: str
    partition: str = "aws"


@cache
def _client_exceptions() -> Any:
    """Return boto3's ``client.exceptions`` object for SageMaker (modeled error classes)."""
    from botocore.errorfactory import ClientExceptionsFactory

    return ClientExceptionsFactory().create_client_exceptions(service_model())


@cache
def _paginator_configs() -> dict[str, dict[str, Any]]:
    """Return botocore's SageMaker paginator configurations, by operation name."""
    from botocore.loaders import create_loader

    model = service_model()
    data = create_loader().load_service_model(model.service_name, "paginators-1", model.api_version)
    pagination = cast(dict[str, dict[str, Any]], data["pagination"])
    configs = {op: pagination[op] for op in _OPERATIONS.values() if op in pagination}
    configs["QueryLineage"] = _QUERY_LINEAGE_PAGINATOR
    return configs


def _timestamp(value: object) -> datetime | None:
    """Return a request timestamp (datetime, ISO 8601 string or epoch) as aware UTC.

    :raises ValueError: it is no time (botocore's parser raises RuntimeError or
        OverflowError for epochs out of range, which the caller must not see).
    """
    if value is None:
        return None
    from botocore.utils import parse_to_aware_datetime

    try:
        return cast(datetime, parse_to_aware_datetime(value)).astimezone(UTC)
    except (ValueError, TypeError, OverflowError, OSError, RuntimeError) as e:
        raise ValueError(f"{_show(value)} is not a timestamp: {e}") from e


def _show(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _constraint_errors(
    value: Any, shape: Any, path: str, exempt: frozenset[str], out: list[str]
) -> None:
    """Collect what SageMaker's server would reject and botocore's validator lets through.

    botocore checks types, required members and minimums; the service also checks
    maximum lengths and counts, patterns and enums. Values have passed botocore's
    validator, so their Python types are right.
    """
    kind = shape.type_name
    maximum = shape.metadata.get("max")

    def fail(constraint: str) -> None:
        out.append(f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: {constraint}")

    if kind == "structure":
        for name, member in shape.members.items():
            if name in value:
                sub = f"{path}.{name}" if path else name
                _constraint_errors(value[name], member, sub, exempt, out)
    elif kind == "list":
        if maximum is not None and len(value) > maximum and path not in exempt:
            fail(f"Member must have length less than or equal to {maximum}")
        for i, item in enumerate(value):
            _constraint_errors(item, shape.member, f"{path}[{i}]", exempt, out)
    elif kind == "map":
        if maximum is not None and len(value) > maximum and path not in exempt:
            fail(f"Member must have length less than or equal to {maximum}")
        for key, item in value.items():
            _constraint_errors(key, shape.key, f"{path} (key: {_show(key)})", exempt, out)
            _constraint_errors(item, shape.value, f"{path}.{key}", exempt, out)
    elif kind == "string":
        lim = limits(shape.name)
        if lim.max is not None and len(value) > lim.max:
            fail(f"Member must have length less than or equal to {lim.max}")
        if lim.pattern is not None and not lim.pattern.fullmatch(value):
            fail(f"Member must satisfy regular expression pattern: {lim.pattern.pattern}")
        if lim.enum and value not in lim.enum:
            fail(f"Member must satisfy enum value set: [{', '.join(lim.enum)}]")
    elif (
        kind in ("integer", "long")
        and maximum is not None
        and value > maximum
        and path not in exempt
    ):
        fail(f"Member must have value less than or equal to {maximum}")


def _source_types(items: Iterable[Mapping[str, str]]) -> tuple[SourceType, ...]:
    return tuple(SourceType(item["SourceIdType"], item["Value"]) for item in items)  # type: ignore[arg-type]


def _tags(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """Turn boto3's ``[{"Key": k, "Value": v}]`` into the store's mapping."""
    tags: dict[str, str] = {}
    for item in items or ():
        key = item["Key"]
        if key in tags:
            raise ValueError(f"Tags has the key {key!r} twice; tag keys must be unique")
        tags[key] = item["Value"]
    return tags


def _has_source(artifact: Artifact, source: Mapping[str, Any]) -> bool:
    """Return True when an artifact has this ArtifactSource (SourceTypes as a set, if given)."""
    wanted = set(_source_types(source.get("SourceTypes", ())))
    return artifact.source_uri == source["SourceUri"] and (
        not wanted or set(artifact.source_types) == wanted
    )


def _artifact_source(artifact: Artifact) -> Response:
    return {
        "SourceUri": artifact.source_uri,
        "SourceTypes": [
            {"SourceIdType": st.id_type.value, "Value": st.value} for st in artifact.source_types
        ],
    }


def _named_source(entity: Action | Context) -> Response:
    source: Response = {"SourceUri": entity.source_uri}
    if entity.source_type is not None:
        source["SourceType"] = entity.source_type
    if entity.source_id is not None:
        source["SourceId"] = entity.source_id
    return source


def _describe(entity: Entity) -> Response:
    """Return the Describe* response body of an entity."""
    kind = entity.lineage_type.value
    out: Response = {}
    if entity.name is not None:
        out[f"{kind}Name"] = entity.name
    out[f"{kind}Arn"] = entity.arn
    if isinstance(entity, Artifact):
        out["Source"] = _artifact_source(entity)
    else:
        out["Source"] = _named_source(entity)
    out[f"{kind}Type"] = entity.type
    if not isinstance(entity, Artifact) and entity.description is not None:
        out["Description"] = entity.description
    if isinstance(entity, Action):
        out["Status"] = entity.status.value
    out["Properties"] = dict(entity.properties)
    out["CreationTime"] = entity.created
    out["LastModifiedTime"] = entity.modified
    # DescribeContext has no MetadataProperties member; the context model has none either.
    if entity.metadata_properties and not isinstance(entity, Context):
        out["MetadataProperties"] = dict(entity.metadata_properties)
    out["LineageGroupArn"] = entity.lineage_group_arn
    return out


def _summary(entity: Entity) -> Response:
    """Return the List* summary of an entity."""
    kind = entity.lineage_type.value
    out: Response = {f"{kind}Arn": entity.arn}
    if entity.name is not None:
        out[f"{kind}Name"] = entity.name
    if isinstance(entity, Artifact):
        out["Source"] = _artifact_source(entity)
    else:
        out["Source"] = _named_source(entity)
    out[f"{kind}Type"] = entity.type
    if isinstance(entity, Action):
        out["Status"] = entity.status.value
    out["CreationTime"] = entity.created
    out["LastModifiedTime"] = entity.modified
    return out


_VALUE: dict[LineageType | AssociationType, str] = {
    **{m: m.value for m in LineageType},
    **{m: m.value for m in AssociationType},
}
"""Each enum member's plain string (a dict look-up costs a fraction of ``.value``, and a
query's response holds one or two per vertex)."""


def _edges(edges: Iterable[Edge]) -> list[Response]:
    """Return QueryLineage's ``Edges`` (one loop, no call per edge: a page holds hundreds)."""
    return [
        {"SourceArn": src, "DestinationArn": dst, "AssociationType": _VALUE[kind]}
        if kind is not None
        else {"SourceArn": src, "DestinationArn": dst}
        for src, dst, kind in edges
    ]


def _group_summary(group: LineageGroup) -> Response:
    return {
        "LineageGroupArn": group.arn,
        "LineageGroupName": group.name,
        "CreationTime": group.created,
        "LastModifiedTime": group.created,
    }


class Boto3Facade:
    """Serve SageMaker's lineage API, boto3-style, from a local lineage store.

    Every method takes the keyword arguments of the boto3 SageMaker client method of the
    same name and returns its response shape, with a ``ResponseMetadata`` dict like
    boto3's. Timestamps come back as timezone-aware UTC datetimes.

    Validation, as boto3 and SageMaker do it, before anything is read or written:

    - botocore's own ``ParamValidator`` against the real service model (types, required
      members, unknown members, minimums). A failure raises
      :class:`RequestValidationError`: a ``ClientError`` with code
      ``ValidationException`` that is also boto3's ``ParamValidationError``.
    - SageMaker's server-side constraints botocore does not check: maximum lengths and
      counts, patterns and enums, then the entity model's own checks. A failure raises
      ``ClientError`` ``ValidationException`` naming the field.

    Beyond SageMaker, on purpose: QueryLineage's size limits are not enforced. Many
    ``StartArns`` (SageMaker: one), ``MaxDepth`` up to
    :data:`airflow_lineage.query.MAX_DEPTH` (SageMaker: 10), any ``MaxResults``
    (SageMaker: 50) and any number of filter values. Code that stays within SageMaker's
    limits behaves the same on both.

    Errors are ``ClientError`` with SageMaker's codes, of boto3's modeled exception class
    where SageMaker models one (``facade.exceptions.ResourceNotFound``): an unknown
    entity is ``ResourceNotFound``, a bad value or page token ``ValidationException``,
    deleting an entity that still has associations ``ConflictException``, a store
    failure ``InternalFailure``. The original exception is chained as ``__cause__``.

    Differences from SageMaker:

    - Creates are idempotent, as the store's writes are: creating an artifact whose key
      (SourceUri, ArtifactType and, when given, SourceTypes) exists, an action or
      context whose name exists, or an association whose pair exists returns the
      existing one's ARN and leaves it as it was (type of an existing association
      included), where SageMaker raises ``ValidationException`` "... already exists".
    - An artifact's ARN is derived from its key, so the same URI with other
      SourceTypes (other content) is another artifact, not an error.
    - Update* merge ``Properties`` into the existing ones, then drop
      ``PropertiesToRemove``.
    - QueryLineage without ``MaxResults`` returns the whole result in one page. The
      SageMaker SDK's own ``LineageQuery`` never sends ``MaxResults`` and never follows
      ``NextToken``, so any finite default would silently truncate the lineage such code
      sees; the store computes the whole result anyway, so returning it costs nothing.
    - ``get_paginator("query_lineage")`` exists (boto3 has none); its pages hold vertices
      and the edges that come with them.
    - Describe* omit ``CreatedBy``/``LastModifiedBy``: the store records no user.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.meta = ClientMeta(service_model=service_model(), region_name=store.region)

    @property
    def exceptions(self) -> Any:
        """Return boto3's modeled SageMaker exception classes (``ResourceNotFound``, ...)."""
        return _client_exceptions()

    def __repr__(self) -> str:
        return f"Boto3Facade({self._store!r})"

    def close(self) -> None:
        """Do nothing: the store belongs to the caller, who closes it."""

    # -- plumbing -------------------------------------------------------------------------

    def _call(self, method: str, params: Params, handler: Callable[[Params], Response]) -> Response:
        """Validate a request, run its handler and wrap the response like boto3."""
        from botocore.validate import ParamValidator

        operation_name = _OPERATIONS[method]
        operation = service_model().operation_model(operation_name)
        try:
            report = ParamValidator().validate(params, operation.input_shape)
            text = report.generate_report() if report.has_errors() else None
        except (ValueError, TypeError, OverflowError, OSError, RuntimeError) as e:
            # botocore's validator itself breaks on some values (an epoch beyond the
            # platform's time range raises RuntimeError): that is a bad request too.
            text = f"Invalid request parameters: {type(e).__name__}: {e}"
        if text is not None:
            raise RequestValidationError(
                self._error_body("ValidationException", f"Parameter validation failed:\n{text}"),
                operation_name,
                text,
            )
        problems: list[str] = []
        exempt = _BEYOND_SAGEMAKER.get(operation_name, frozenset())
        _constraint_errors(params, operation.input_shape, "", exempt, problems)
        if problems:
            count = len(problems)
            noun = "error" if count == 1 else "errors"
            message = f"{count} validation {noun} detected: " + "; ".join(problems)
            raise self._client_error("ValidationException", message, operation_name)
        try:
            body = handler(params)
        except EntityNotFoundError as e:
            raise self._client_error("ResourceNotFound", str(e), operation_name) from e
        except AssociationsExistError as e:
            # SageMaker does not document this case. ConflictException is its code for "a
            # conflict when you attempted to modify a SageMaker entity such as an
            # Experiment or Artifact" and what it answers to deleting a resource that is
            # in use (DeletePipeline, DeleteModelPackageGroup). The request is well formed,
            # so ValidationException would mislead; the remedy (disassociate first) is a
            # state change, which is what a conflict says.
            raise self._client_error("ConflictException", str(e), operation_name) from e
        except (InvalidPageTokenError, ValueError, TypeError) as e:
            raise self._client_error("ValidationException", str(e), operation_name) from e
        except LineageError as e:
            raise self._client_error("InternalFailure", str(e), operation_name, 500) from e
        body["ResponseMetadata"] = self._metadata(200)
        return body

    @staticmethod
    def _metadata(status: int) -> Response:
        request_id = str(uuid.uuid4())
        return {
            "RequestId": request_id,
            "HTTPStatusCode": status,
            "HTTPHeaders": {
                "x-amzn-requestid": request_id,
                "content-type": "application/x-amz-json-1.1",
            },
            "RetryAttempts": 0,
        }

    def _error_body(self, code: str, message: str, status: int = 400) -> Response:
        body: Response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": self._metadata(status),
        }
        if code != "ValidationException" and code != "InternalFailure":
            body["Message"] = message  # botocore copies modeled error members to the top
        return body

    def _client_error(
        self, code: str, message: str, operation_name: str, status: int = 400
    ) -> ClientError:
        error_class = self.exceptions.from_code(code)
        return cast(
            ClientError, error_class(self._error_body(code, message, status), operation_name)
        )

    def _named_arn(self, value: str, field: str, resource: str) -> str:
        """Return the ARN of a name-or-ARN parameter (a name is in the store's account)."""
        if value.startswith("arn:"):
            arn = Arn.parse(value, field_name=field)
            if arn.resource != resource:
                raise ValueError(f"{field} {value!r} is not an {resource} ARN")
            return str(arn)
        return str(Arn(self._store.region, self._store.account, resource, value))

    def _create(self, new: Callable[..., E], *args: Any, **kwargs: Any) -> E:
        """Create an entity in the store's account, or return the one it holds."""
        entity = new(*args, account=self._store.account, region=self._store.region, **kwargs)
        return create(self._store, entity)

    def _entity(self, arn: str, cls: type[T]) -> T:
        found = get(self._store, arn)
        if not isinstance(found, cls):  # an ARN of another kind: never the one asked for
            raise EntityNotFoundError(f"no {cls.__name__.lower()} has the ARN {arn}")
        return found

    def _delete(self, arn: str) -> None:
        """Delete an entity, refusing while it has associations (as SageMaker's clients expect)."""
        try:
            self._store.delete(arn)
        except AssociationsExistError as e:
            raise AssociationsExistError(
                f"{arn} still has associations; delete them with DeleteAssociation first"
            ) from e

    @staticmethod
    def _ascending(params: Params) -> bool:
        return bool(params.get("SortOrder", "Descending") == "Ascending")

    @staticmethod
    def _page_size(params: Params) -> int:
        return cast(int, params.get("MaxResults", DEFAULT_LIST_RESULTS))

    @staticmethod
    def _local_page(
        operation_name: str, params: Params, items: Sequence[T]
    ) -> tuple[Sequence[T], str | None]:
        """Cut one page out of a fully listed, sorted result.

        Used where the store cannot filter or sort as asked (e.g. SortBy=Name); the token
        is bound to the request so it cannot be replayed against another listing.
        """
        spec = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
        scope = scope_of([operation_name, spec])
        offset = 0
        token = params.get("NextToken")
        if token:
            position = PageToken.decode(token, scope).position
            if len(position) != 1 or not isinstance(position[0], int) or position[0] < 0:
                raise InvalidPageTokenError("NextToken is not a token this listing handed out")
            offset = position[0]
        end = offset + Boto3Facade._page_size(params)
        next_token = PageToken(scope, (end,)).encode() if end < len(items) else None
        return items[offset:end], next_token

    def _list_entities(
        self,
        operation_name: str,
        params: Params,
        kind: LineageType,
        type_param: str,
        result_key: str,
    ) -> Response:
        """Serve ListArtifacts, ListActions or ListContexts."""
        ascending = self._ascending(params)
        filters: dict[str, Any] = {
            "type": params.get(type_param),
            "source_uri": params.get("SourceUri"),
            "created_after": _timestamp(params.get("CreatedAfter")),
            "created_before": _timestamp(params.get("CreatedBefore")),
        }
        if params.get("SortBy", "CreationTime") == "CreationTime":
            page = self._store.list_entities(
                kind,
                ascending=ascending,
                max_results=self._page_size(params),
                next_token=params.get("NextToken") or None,
                **filters,
            )
            items: Sequence[Entity] = page.items
            token = page.next_token
        else:  # SortBy=Name: the store sorts by time only, so sort here
            every = self._store.list_entities(kind, ascending=True, **filters).items
            ordered = sorted(every, key=lambda e: (e.name or "", e.arn), reverse=not ascending)
            items, token = self._local_page(operation_name, params, ordered)
        out: Response = {result_key: [_summary(e) for e in items]}
        if token is not None:
            out["NextToken"] = token
        return out

    # -- artifacts -------------------------------------------------------------------------

    def create_artifact(self, **kwargs: Any) -> Response:
        """Create an artifact, or return the ARN of the one with the same key.

        The key is (SourceUri, ArtifactType) plus the SourceTypes when given.
        """

        def handle(p: Params) -> Response:
            artifact = self._create(
                Artifact.new,
                p["Source"]["SourceUri"],
                p["ArtifactType"],
                name=p.get("ArtifactName"),
                source_types=_source_types(p["Source"].get("SourceTypes", ())),
                properties=p.get("Properties"),
                metadata_properties=p.get("MetadataProperties"),
                tags=_tags(p.get("Tags")),
            )
            return {"ArtifactArn": artifact.arn}

        return self._call("create_artifact", kwargs, handle)

    def describe_artifact(self, **kwargs: Any) -> Response:
        """Describe the artifact with ``ArtifactArn``."""

        def handle(p: Params) -> Response:
            return _describe(self._entity(p["ArtifactArn"], Artifact))

        return self._call("describe_artifact", kwargs, handle)

    def list_artifacts(self, **kwargs: Any) -> Response:
        """List artifacts, filtered by SourceUri, ArtifactType and creation time."""

        def handle(p: Params) -> Response:
            return self._list_entities(
                "ListArtifacts", p, LineageType.ARTIFACT, "ArtifactType", "ArtifactSummaries"
            )

        return self._call("list_artifacts", kwargs, handle)

    def update_artifact(self, **kwargs: Any) -> Response:
        """Rename an artifact or change its properties."""

        def handle(p: Params) -> Response:
            arn = self._entity(p["ArtifactArn"], Artifact).arn
            self._store.update(
                arn,
                name=p.get("ArtifactName"),
                properties=p.get("Properties"),
                properties_to_remove=p.get("PropertiesToRemove", ()),
            )
            return {"ArtifactArn": arn}

        return self._call("update_artifact", kwargs, handle)

    def delete_artifact(self, **kwargs: Any) -> Response:
        """Delete an artifact named by ``ArtifactArn`` or by ``Source``.

        ``Source`` must name exactly one artifact: its SourceUri and, when given, the same
        set of SourceTypes. Several artifacts (of different ArtifactTypes) with one
        SourceUri are refused with ValidationException rather than all deleted.
        """

        def handle(p: Params) -> Response:
            source = p.get("Source")
            if "ArtifactArn" in p:
                artifact = self._entity(p["ArtifactArn"], Artifact)
                if source is not None and not _has_source(artifact, source):
                    raise ValueError(
                        f"ArtifactArn {artifact.arn} does not have the Source "
                        f"{source['SourceUri']!r}; give one or the other"
                    )
                arn = artifact.arn
            elif source is not None:
                arn = self._artifact_by_source(source)
            else:
                raise ValueError("Either ArtifactArn or Source must be specified")
            self._delete(arn)
            return {"ArtifactArn": arn}

        return self._call("delete_artifact", kwargs, handle)

    def _artifact_by_source(self, source: Mapping[str, Any]) -> str:
        uri = source["SourceUri"]
        found = [
            e.arn
            for e in self._store.list_entities(LineageType.ARTIFACT, source_uri=uri).items
            if isinstance(e, Artifact) and _has_source(e, source)
        ]
        if not found:
            raise EntityNotFoundError(f"no artifact has the Source {uri!r}")
        if len(found) > 1:
            raise ValueError(
                f"Source {uri!r} names {len(found)} artifacts ({', '.join(sorted(found))}); "
                "delete by ArtifactArn"
            )
        return found[0]

    # -- actions ---------------------------------------------------------------------------

    def create_action(self, **kwargs: Any) -> Response:
        """Create an action, or return the ARN of the action with that name."""

        def handle(p: Params) -> Response:
            source = p["Source"]
            action = self._create(
                Action.new,
                p["ActionName"],
                p["ActionType"],
                source["SourceUri"],
                status=p.get("Status", "Unknown"),
                description=p.get("Description"),
                source_type=source.get("SourceType"),
                source_id=source.get("SourceId"),
                properties=p.get("Properties"),
                metadata_properties=p.get("MetadataProperties"),
                tags=_tags(p.get("Tags")),
            )
            return {"ActionArn": action.arn}

        return self._call("create_action", kwargs, handle)

    def describe_action(self, **kwargs: Any) -> Response:
        """Describe the action with ``ActionName`` (a name or an ARN)."""

        def handle(p: Params) -> Response:
            arn = self._named_arn(p["ActionName"], "ActionName", "action")
            return _describe(self._entity(arn, Action))

        return self._call("describe_action", kwargs, handle)

    def list_actions(self, **kwargs: Any) -> Response:
        """List actions, filtered by SourceUri, ActionType and creation time."""

        def handle(p: Params) -> Response:
            return self._list_entities(
                "ListActions", p, LineageType.ACTION, "ActionType", "ActionSummaries"
            )

        return self._call("list_actions", kwargs, handle)

    def update_action(self, **kwargs: Any) -> Response:
        """Change an action's description, status or properties."""

        def handle(p: Params) -> Response:
            arn = self._named_arn(p["ActionName"], "ActionName", "action")
            self._store.update(
                arn,
                status=p.get("Status"),
                description=p.get("Description"),
                properties=p.get("Properties"),
                properties_to_remove=p.get("PropertiesToRemove", ()),
            )
            return {"ActionArn": arn}

        return self._call("update_action", kwargs, handle)

    def delete_action(self, **kwargs: Any) -> Response:
        """Delete the action with ``ActionName``."""

        def handle(p: Params) -> Response:
            arn = self._named_arn(p["ActionName"], "ActionName", "action")
            self._delete(arn)
            return {"ActionArn": arn}

        return self._call("delete_action", kwargs, handle)

    # -- contexts --------------------------------------------------------------------------

    def create_context(self, **kwargs: Any) -> Response:
        """Create a context, or return the ARN of the context with that name."""

        def handle(p: Params) -> Response:
            source = p["Source"]
            context = self._create(
                Context.new,
                p["ContextName"],
                p["ContextType"],
                source["SourceUri"],
                description=p.get("Description"),
                source_type=source.get("SourceType"),
                source_id=source.get("SourceId"),
                properties=p.get("Properties"),
                tags=_tags(p.get("Tags")),
            )
            return {"ContextArn": context.arn}

        return self._call("create_context", kwargs, handle)

    def describe_context(self, **kwargs: Any) -> Response:
        """Describe the context with ``ContextName`` (a name or an ARN)."""

        def handle(p: Params) -> Response:
            arn = self._named_arn(p["ContextName"], "ContextName", "context")
            return _describe(self._entity(arn, Context))

        return self._call("describe_context", kwargs, handle)

    def list_contexts(self, **kwargs: Any) -> Response:
        """List contexts, filtered by SourceUri, ContextType and creation time."""

        def handle(p: Params) -> Response:
            return self._list_entities(
                "ListContexts", p, LineageType.CONTEXT, "ContextType", "ContextSummaries"
            )

        return self._call("list_contexts", kwargs, handle)

    def update_context(self, **kwargs: Any) -> Response:
        """Change a context's description or properties."""

        def handle(p: Params) -> Response:
            arn = self._named_arn(p["ContextName"], "ContextName", "context")
            self._store.update(
                arn,
                description=p.get("Description"),
                properties=p.get("Properties"),
                properties_to_remove=p.get("PropertiesToRemove", ()),
            )
            return {"ContextArn": arn}

        return self._call("update_context", kwargs, handle)

    def delete_context(self, **kwargs: Any) -> Response:
        """Delete the context with ``ContextName``."""

        def handle(p: Params) -> Response:
            arn = self._named_arn(p["ContextName"], "ContextName", "context")
            self._delete(arn)
            return {"ContextArn": arn}

        return self._call("delete_context", kwargs, handle)

    # -- associations ----------------------------------------------------------------------

    def add_association(self, **kwargs: Any) -> Response:
        """Associate ``SourceArn`` with ``DestinationArn`` (idempotent per pair)."""

        def handle(p: Params) -> Response:
            assoc = associate(
                self._store,
                Association(p["SourceArn"], p["DestinationArn"], p.get("AssociationType")),
            )
            return {"SourceArn": assoc.source_arn, "DestinationArn": assoc.destination_arn}

        return self._call("add_association", kwargs, handle)

    def delete_association(self, **kwargs: Any) -> Response:
        """Delete the association from ``SourceArn`` to ``DestinationArn``."""

        def handle(p: Params) -> Response:
            self._store.delete_association(p["SourceArn"], p["DestinationArn"])
            return {"SourceArn": p["SourceArn"], "DestinationArn": p["DestinationArn"]}

        return self._call("delete_association", kwargs, handle)

    def list_associations(self, **kwargs: Any) -> Response:
        """List associations, filtered by their ends, type and creation time."""

        def handle(p: Params) -> Response:
            ascending = self._ascending(p)
            sort_by = p.get("SortBy", "CreationTime")
            filters: dict[str, Any] = {
                "source_arn": p.get("SourceArn"),
                "destination_arn": p.get("DestinationArn"),
                "association_type": p.get("AssociationType"),
                "created_after": _timestamp(p.get("CreatedAfter")),
                "created_before": _timestamp(p.get("CreatedBefore")),
            }
            by_type = "SourceType" in p or "DestinationType" in p
            if sort_by == "CreationTime" and not by_type:
                page = self._store.list_associations(
                    ascending=ascending,
                    max_results=self._page_size(p),
                    next_token=p.get("NextToken") or None,
                    **filters,
                )
                summaries = self._association_summaries(page.items)
                token = page.next_token
            else:  # the store neither filters by entity type nor sorts by ARN: do it here
                listed = self._store.list_associations(ascending=True, **filters).items
                src_type, dst_type = p.get("SourceType"), p.get("DestinationType")
                every = [
                    s
                    for s in self._association_summaries(listed)
                    if (src_type is None or s.get("SourceType") == src_type)
                    and (dst_type is None or s.get("DestinationType") == dst_type)
                ]
                every.sort(
                    key=lambda s: (
                        s[sort_by] if sort_by != "CreationTime" else "",
                        s["CreationTime"],
                        s["SourceArn"],
                        s["DestinationArn"],
                    ),
                    reverse=not ascending,
                )
                page_items, token = self._local_page("ListAssociations", p, every)
                summaries = list(page_items)
            out: Response = {"AssociationSummaries": summaries}
            if token is not None:
                out["NextToken"] = token
            return out

        return self._call("list_associations", kwargs, handle)

    def _association_summaries(self, items: Sequence[Association]) -> list[Response]:
        ends = self._store.get_many(
            list(dict.fromkeys(a for x in items for a in (x.source_arn, x.destination_arn)))
        )
        out = []
        for assoc in items:
            summary: Response = {
                "SourceArn": assoc.source_arn,
                "DestinationArn": assoc.destination_arn,
            }
            src = ends.get(assoc.source_arn)
            dst = ends.get(assoc.destination_arn)
            if src is not None:
                summary["SourceType"] = src.type
            if dst is not None:
                summary["DestinationType"] = dst.type
            if assoc.association_type is not None:
                summary["AssociationType"] = assoc.association_type.value
            if src is not None and src.name is not None:
                summary["SourceName"] = src.name
            if dst is not None and dst.name is not None:
                summary["DestinationName"] = dst.name
            summary["CreationTime"] = assoc.created
            out.append(summary)
        return out

    # -- query -----------------------------------------------------------------------------

    def query_lineage(self, **kwargs: Any) -> Response:
        """Walk the lineage graph from ``StartArns``; return one page of vertices and edges."""

        def handle(p: Params) -> Response:
            flt = p.get("Filters")
            query = LineageQuery(
                start_arns=tuple(p.get("StartArns", ())),
                direction=p.get("Direction", "Both"),
                include_edges=p.get("IncludeEdges", False),
                max_depth=p.get("MaxDepth", DEFAULT_DEPTH),
                filters=NO_FILTER
                if not flt
                else LineageFilter(
                    types=tuple(flt.get("Types", ())),
                    lineage_types=tuple(flt.get("LineageTypes", ())),
                    created_before=_timestamp(flt.get("CreatedBefore")),
                    created_after=_timestamp(flt.get("CreatedAfter")),
                    modified_before=_timestamp(flt.get("ModifiedBefore")),
                    modified_after=_timestamp(flt.get("ModifiedAfter")),
                    properties=flt.get("Properties", {}),
                ),
                max_results=p.get("MaxResults"),
                next_token=p.get("NextToken") or None,
            )
            result = self._store.query(query)
            out: Response = {
                "Vertices": [
                    {"Arn": arn, "Type": kind, "LineageType": _VALUE[lineage]}
                    for arn, kind, lineage in result.vertices
                ],
                "Edges": _edges(result.edges),
            }
            if result.next_token is not None:
                out["NextToken"] = result.next_token
            return out

        return self._call("query_lineage", kwargs, handle)

    # -- lineage groups, tags --------------------------------------------------------------

    def list_lineage_groups(self, **kwargs: Any) -> Response:
        """List the lineage groups of the store's account."""

        def handle(p: Params) -> Response:
            after = _timestamp(p.get("CreatedAfter"))
            before = _timestamp(p.get("CreatedBefore"))
            groups = [
                g
                for g in self._store.lineage_groups()
                if (after is None or g.created >= after) and (before is None or g.created <= before)
            ]
            if p.get("SortBy", "CreationTime") == "Name":
                groups.sort(key=lambda g: (g.name, g.arn), reverse=not self._ascending(p))
            else:
                groups.sort(key=lambda g: (g.created, g.arn), reverse=not self._ascending(p))
            items, token = self._local_page("ListLineageGroups", p, groups)
            out: Response = {"LineageGroupSummaries": [_group_summary(g) for g in items]}
            if token is not None:
                out["NextToken"] = token
            return out

        return self._call("list_lineage_groups", kwargs, handle)

    def describe_lineage_group(self, **kwargs: Any) -> Response:
        """Describe the lineage group called ``LineageGroupName``."""

        def handle(p: Params) -> Response:
            name = p["LineageGroupName"]
            for group in self._store.lineage_groups():
                if group.name == name:
                    return {
                        "LineageGroupName": group.name,
                        "LineageGroupArn": group.arn,
                        "CreationTime": group.created,
                        "LastModifiedTime": group.created,
                    }
            raise EntityNotFoundError(f"no lineage group is called {name!r}")

        return self._call("describe_lineage_group", kwargs, handle)

    def get_lineage_group_policy(self, **kwargs: Any) -> Response:
        """Return the resource policy of the lineage group ``LineageGroupName`` (a name or
        an ARN): which accounts it is shared with, for which actions."""

        def handle(p: Params) -> Response:
            if not isinstance(self._store, Sharing):
                raise EntityNotFoundError(
                    f"lineage group {p['LineageGroupName']} has no policy: "
                    f"{type(self._store).__name__} does not share lineage groups"
                )
            policy = self._store.get_lineage_group_policy(p["LineageGroupName"])
            return {
                "LineageGroupArn": policy["LineageGroupArn"],
                "ResourcePolicy": policy["ResourcePolicy"],
            }

        return self._call("get_lineage_group_policy", kwargs, handle)

    def list_tags(self, **kwargs: Any) -> Response:
        """List the tags of the lineage entity with ``ResourceArn``."""

        def handle(p: Params) -> Response:
            entity = get(self._store, p["ResourceArn"])
            tags = [{"Key": k, "Value": v} for k, v in entity.tags.items()]
            page_params = {"MaxResults": p.get("MaxResults", 50), **p}
            items, token = self._local_page("ListTags", page_params, tags)
            out: Response = {"Tags": list(items)}
            if token is not None:
                out["NextToken"] = token
            return out

        return self._call("list_tags", kwargs, handle)

    # -- pagination ------------------------------------------------------------------------

    def can_paginate(self, operation_name: str) -> bool:
        """Return True when ``get_paginator(operation_name)`` works."""
        op = _OPERATIONS.get(operation_name)
        return op is not None and op in _paginator_configs()

    def get_paginator(self, operation_name: str) -> Paginator:
        """Return botocore's paginator for a list operation (or for ``query_lineage``).

        It is botocore's own ``Paginator`` class driving this facade, so
        ``PaginationConfig`` (``MaxItems``, ``PageSize``, ``StartingToken``),
        ``build_full_result()`` and ``search()`` behave as with boto3.

        :raises OperationNotPageableError: the operation has no paginator.
        """
        from botocore.paginate import Paginator

        if not self.can_paginate(operation_name):
            raise OperationNotPageableError(operation_name=operation_name)
        op = _OPERATIONS[operation_name]
        return cast(
            "Paginator",
            Paginator(
                getattr(self, operation_name),
                _paginator_configs()[op],
                service_model().operation_model(op),
            ),
        )
