"""The lineage store on Amazon SageMaker ML Lineage Tracking, through boto3.

The client comes from the amazon provider's ``SageMakerHook`` (credentials, role
assumption and region from the Airflow AWS connection) with botocore's adaptive retry
mode, or is injected (tests pass a ``Stubber``-wrapped client). SageMaker's API limits
are hidden here:

- **Artifact ARNs.** SageMaker picks an artifact's ARN itself; our model derives it from
  (account, SourceUri, ArtifactType, SourceTypes) so lineage can move between backends.
  The store maps one to the other: it finds a service artifact by ``ListArtifacts``
  (SourceUri, ArtifactType) and compares the derived id, and caches the mapping.
  Actions and contexts are named by their ARN on both sides.
- **Times.** SageMaker sets CreationTime/LastModifiedTime itself; the entity's own
  ``created``/``modified`` travel in two reserved tags (``airflow-lineage:created``,
  ``airflow-lineage:modified``, µs since the epoch), so an exported graph imports
  unchanged and last-writer-wins upserts compare the writer's times. Entities SageMaker
  created on its own (no such tags) use the service's times.
- **Queries.** QueryLineage takes one start ARN, stops at depth 10, pages by 50 and may
  repeat vertices across pages. The store walks one level at a time (QueryLineage from
  each frontier vertex with ``MaxDepth=1``, following every NextToken and de-duplicating)
  through :func:`airflow_lineage.traversal.run_query`, so any number of start ARNs, any
  depth, and exactly the SQL store's result order and pages.
- **Throttling.** Adaptive retries in botocore, plus a retry loop of our own on
  ``ThrottlingException`` around every call.
- **Idempotent writes.** An entity is looked up before it is created; a
  ``ValidationException`` saying "already exists" (a concurrent writer, or an index that
  has not caught up) is success.

Limits: a write is not one transaction (SageMaker has none); every association end is
checked before anything is written, so a dangling edge writes nothing, but a failure
half-way leaves what was written. Metadata properties cannot be changed once created.
Listings read every entity of the listing (SageMaker cannot sort by our ``created``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from airflow_lineage.exceptions import (
    AssociationsExistError,
    EntityNotFoundError,
    InvalidPageTokenError,
    StoreError,
)
from airflow_lineage.model import (
    DEFAULT_LINEAGE_GROUP,
    Action,
    ActionStatus,
    Arn,
    Artifact,
    Association,
    AssociationType,
    Context,
    Direction,
    Entity,
    LineageGroup,
    LineageType,
    SourceType,
    artifact_id,
    from_micros,
    to_micros,
    utcnow,
)
from airflow_lineage.pagetoken import PageToken, scope_of
from airflow_lineage.query import LineageQuery
from airflow_lineage.sharing import Share, ShareStatus
from airflow_lineage.store.base import LineageStore, Page, updated_entity
from airflow_lineage.store.interface import Sharing
from airflow_lineage.traversal import AttributeRow

__all__ = ["CREATED_TAG", "MODIFIED_TAG", "SageMakerStore"]

log = logging.getLogger(__name__)

CREATED_TAG = "airflow-lineage:created"
MODIFIED_TAG = "airflow-lineage:modified"
_RESERVED_TAGS = frozenset({CREATED_TAG, MODIFIED_TAG})
_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)
_NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
_RESULT_CACHE_SIZE = 8
_LIST_PAGE = 100
_QUERY_PAGE = 50
_LINEAGE_TYPES = {m.value: m for m in LineageType}


def _error_code(error: BaseException) -> str | None:
    """Return the AWS error code of a botocore ClientError (None for anything else)."""
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    return str(code) if code is not None else None


def _is_client_error(error: BaseException) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(error, ClientError)


def _is_not_found(error: BaseException) -> bool:
    return _is_client_error(error) and _error_code(error) in _NOT_FOUND_CODES


def _is_already_exists(error: BaseException) -> bool:
    if not _is_client_error(error) or _error_code(error) != "ValidationException":
        return False
    return "already exists" in str(error).lower()


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn botocore errors into our errors, once, at the store boundary."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as e:
        if _error_code(e) in _NOT_FOUND_CODES:
            raise EntityNotFoundError(f"SageMaker failed to {action}: {e}") from e
        raise StoreError(f"SageMaker failed to {action}: {e}") from e
    except BotoCoreError as e:
        raise StoreError(f"SageMaker failed to {action}: {e.__class__.__name__}: {e}") from e


def _tag_time(tags: Mapping[str, str], key: str) -> datetime | None:
    value = tags.get(key)
    if value is None or not value.isdigit():
        return None
    return from_micros(int(value))


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SageMakerStore(LineageStore, Sharing):
    """Lineage in Amazon SageMaker ML Lineage Tracking.

    QueryLineage returns only what the caller may see, and nothing about the rest, so
    this store cannot tell that a walk was cut off by account visibility
    (``detects_hidden_lineage`` is False).

    :param client: a boto3 SageMaker client to use (tests pass a Stubber-wrapped one);
        when None, one is made lazily by the amazon provider's ``SageMakerHook``.
    :param aws_conn_id: the Airflow AWS connection for the hook.
    :param region: the region; default: the client's (or the connection's) region.
    :param account: the 12-digit account; default: asked of STS on first need.
    :param max_attempts: tries per call when SageMaker throttles (ours and botocore's).
    :param retry_delay: first back-off in seconds; doubles per throttled try, capped at 20.
    :param sleep: how to wait between tries (tests pass a no-op).
    :raises ValueError: the account or region is malformed.
    """

    detects_hidden_lineage = False

    def __init__(
        self,
        *,
        client: Any = None,
        ram_client: Any = None,
        aws_conn_id: str | None = "aws_default",
        region: str | None = None,
        account: str | None = None,
        max_attempts: int = 10,
        retry_delay: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
        self._client = client
        self._ram_client = ram_client
        self.aws_conn_id = aws_conn_id
        self._max_attempts = max_attempts
        self._retry_delay = float(retry_delay)
        self._sleep = sleep
        resolved_region = region or (client.meta.region_name if client is not None else None)
        if resolved_region is None:
            resolved_region = self.client.meta.region_name
        self.region = str(resolved_region)
        self.account = account or self._caller_account()
        Arn(self.region, self.account, "lineage-group", "sagemaker-default-lineage-group")
        self._svc_of: dict[str, str] = {}  # model artifact ARN -> service artifact ARN
        self._model_of: dict[str, str] = {}  # service artifact ARN -> model artifact ARN
        self._cache_lock = threading.Lock()

    # -- client and calls ---------------------------------------------------------------

    @property
    def client(self) -> Any:
        """Return the boto3 SageMaker client, made through ``SageMakerHook`` on first use."""
        if self._client is None:
            from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
            from botocore.config import Config

            config = Config(retries={"mode": "adaptive", "max_attempts": self._max_attempts})
            hook = SageMakerHook(  # type: ignore[no-untyped-call]
                aws_conn_id=self.aws_conn_id,
                # None until __init__ has settled the region: then the connection's.
                region_name=self.__dict__.get("region"),
                config=config,
            )
            self._client = hook.conn
        return self._client

    def _caller_account(self) -> str:
        """Ask STS (through the same AWS connection) which account the caller is in."""
        from airflow.providers.amazon.aws.hooks.sts import StsHook

        with _translated("find the caller's account"):
            hook = StsHook(  # type: ignore[no-untyped-call]
                aws_conn_id=self.aws_conn_id, region_name=self.region
            )
            return str(hook.conn.get_caller_identity()["Account"])

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call one SageMaker API method, retrying while it throttles."""
        return self._retrying(self.client, method, params)

    def _retrying(self, client: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call one method of an AWS client, retrying while it throttles."""
        delay = self._retry_delay
        for attempt in range(1, self._max_attempts + 1):
            try:
                response: dict[str, Any] = getattr(client, method)(**params)
                return response
            except Exception as e:
                if _error_code(e) not in _THROTTLING_CODES or attempt == self._max_attempts:
                    raise
                log.debug("SageMaker throttled %s (try %d); retrying", method, attempt)
                self._sleep(delay)
                delay = min(delay * 2, 20.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(self, method: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield every item of a listing, following NextToken to the end."""
        token: str | None = None
        while True:
            response = self._call(method, **params, **({"NextToken": token} if token else {}))
            yield from response.get(key, [])
            token = response.get("NextToken")
            if not token:
                return

    def close(self) -> None:
        """Forget cached ARN mappings and query results (the client needs no closing)."""
        self._pager.clear()

    def __repr__(self) -> str:
        return f"SageMakerStore(region={self.region!r}, account={self.account!r})"

    # -- ARNs: our model's <-> SageMaker's ------------------------------------------------

    def _remember(self, model_arn: str, svc_arn: str) -> None:
        with self._cache_lock:
            self._svc_of[model_arn] = svc_arn
            self._model_of[svc_arn] = model_arn

    def _forget(self, model_arn: str) -> None:
        with self._cache_lock:
            svc = self._svc_of.pop(model_arn, None)
            if svc is not None:
                self._model_of.pop(svc, None)

    @staticmethod
    def _model_artifact_arn(svc_arn: str, summary: Mapping[str, Any]) -> str:
        """Return our ARN for a service artifact described by a summary or Describe."""
        source = summary.get("Source") or {}
        types = tuple(
            SourceType.of((st["SourceIdType"], st["Value"])) for st in source.get("SourceTypes", [])
        )
        parsed = Arn.parse(svc_arn)
        ident = artifact_id(source["SourceUri"], summary["ArtifactType"], types)
        return str(Arn(parsed.region, parsed.account, "artifact", ident, parsed.partition))

    def _scan_artifacts(self, **filters: Any) -> None:
        """List artifacts (all pages) and remember the ARN of each."""
        for summary in self._pages("list_artifacts", "ArtifactSummaries", **filters):
            svc = summary["ArtifactArn"]
            self._remember(self._model_artifact_arn(svc, summary), svc)

    def _svc_arn(self, model_arn: str) -> str | None:
        """Return SageMaker's ARN for one of ours (None when SageMaker has no such entity)."""
        parsed = Arn.parse(model_arn)
        if parsed.resource != "artifact":
            return model_arn
        found = self._svc_of.get(model_arn)
        if found is None:
            self._scan_artifacts()
            found = self._svc_of.get(model_arn)
        return found

    def _find_artifact(self, artifact: Artifact) -> str | None:
        """Return the service ARN of the artifact SageMaker holds for this one, if any."""
        found = self._svc_of.get(artifact.arn)
        if found is not None:
            return found
        self._scan_artifacts(SourceUri=artifact.source_uri, ArtifactType=artifact.type)
        return self._svc_of.get(artifact.arn)

    def _model_arn(self, svc_arn: str) -> str:
        """Return our ARN for one of SageMaker's (Describe once per artifact, then cached)."""
        if Arn.parse(svc_arn).resource != "artifact":
            return svc_arn
        found = self._model_of.get(svc_arn)
        if found is None:
            described = self._call("describe_artifact", ArtifactArn=svc_arn)
            found = self._model_artifact_arn(svc_arn, described)
            self._remember(found, svc_arn)
        return found

    # -- entities <-> API shapes --------------------------------------------------------

    def _tags_of(self, svc_arn: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self._pages("list_tags", "Tags", ResourceArn=svc_arn)}

    def _describe(self, model_arn: str) -> Entity | None:
        """Read one entity (Describe + ListTags); None when SageMaker has no such entity."""
        try:
            parsed = Arn.parse(model_arn)
        except (ValueError, TypeError):
            return None
        kind = parsed.lineage_type
        if kind not in (LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT):
            return None
        svc = self._svc_arn(model_arn)
        if svc is None:
            return None
        try:
            if kind is LineageType.ARTIFACT:
                d = self._call("describe_artifact", ArtifactArn=svc)
            elif kind is LineageType.ACTION:
                d = self._call("describe_action", ActionName=svc)
            else:
                d = self._call("describe_context", ContextName=svc)
            tags = self._tags_of(svc)
        except Exception as e:
            if _is_not_found(e):
                self._forget(model_arn)
                return None
            raise
        return self._entity(model_arn, kind, d, tags)

    @staticmethod
    def _entity(
        model_arn: str, kind: LineageType, d: Mapping[str, Any], all_tags: Mapping[str, str]
    ) -> Entity:
        tags = {k: v for k, v in all_tags.items() if k not in _RESERVED_TAGS}
        created = _tag_time(all_tags, CREATED_TAG) or _aware(d.get("CreationTime")) or utcnow()
        modified = _tag_time(all_tags, MODIFIED_TAG) or _aware(d.get("LastModifiedTime")) or created
        source = d.get("Source") or {}
        common: dict[str, Any] = {
            "arn": model_arn,
            "source_uri": source["SourceUri"],
            "properties": dict(d.get("Properties") or {}),
            "metadata_properties": dict(d.get("MetadataProperties") or {}),
            "tags": tags,
            "created": created,
            "modified": modified,
        }
        if kind is LineageType.ARTIFACT:
            return Artifact(
                type=d["ArtifactType"],
                name=d.get("ArtifactName"),
                source_types=tuple(
                    SourceType.of((st["SourceIdType"], st["Value"]))
                    for st in source.get("SourceTypes", [])
                ),
                **common,
            )
        extra: dict[str, Any] = {
            "description": d.get("Description"),
            "source_type": source.get("SourceType"),
            "source_id": source.get("SourceId"),
        }
        if kind is LineageType.ACTION:
            return Action(
                type=d["ActionType"],
                name=Arn.parse(model_arn).resource_id,
                status=ActionStatus(d.get("Status") or "Unknown"),
                **common,
                **extra,
            )
        return Context(
            type=d["ContextType"], name=Arn.parse(model_arn).resource_id, **common, **extra
        )

    @staticmethod
    def _tag_list(entity: Entity) -> list[dict[str, str]]:
        assert entity.modified is not None
        tags = dict(entity.tags)
        tags[CREATED_TAG] = str(to_micros(entity.created))
        tags[MODIFIED_TAG] = str(to_micros(entity.modified))
        return [{"Key": k, "Value": v} for k, v in tags.items()]

    def _create_entity(self, entity: Entity) -> None:
        """Create one entity in SageMaker; "already exists" counts as success."""
        params: dict[str, Any] = {"Tags": self._tag_list(entity)}
        if entity.properties:
            params["Properties"] = dict(entity.properties)
        if entity.metadata_properties and not isinstance(entity, Context):
            params["MetadataProperties"] = dict(entity.metadata_properties)
        try:
            if isinstance(entity, Artifact):
                source: dict[str, Any] = {"SourceUri": entity.source_uri}
                if entity.source_types:
                    source["SourceTypes"] = [
                        {"SourceIdType": st.id_type.value, "Value": st.value}
                        for st in entity.source_types
                    ]
                if entity.name:
                    params["ArtifactName"] = entity.name
                out = self._call(
                    "create_artifact", Source=source, ArtifactType=entity.type, **params
                )
                self._remember(entity.arn, out["ArtifactArn"])
                return
            named = {"SourceUri": entity.source_uri}
            if entity.source_type:
                named["SourceType"] = entity.source_type
            if entity.source_id:
                named["SourceId"] = entity.source_id
            if entity.description is not None:
                params["Description"] = entity.description
            if isinstance(entity, Action):
                self._call(
                    "create_action",
                    ActionName=entity.name,
                    Source=named,
                    ActionType=entity.type,
                    Status=entity.status.value,
                    **params,
                )
            else:
                self._call(
                    "create_context",
                    ContextName=entity.name,
                    Source=named,
                    ContextType=entity.type,
                    **params,
                )
        except Exception as e:
            if not _is_already_exists(e):
                raise
            log.debug("%s already exists in SageMaker; reusing it", entity.arn)
            if isinstance(entity, Artifact):
                self._find_artifact(entity)

    def _apply(self, current: Entity, wanted: Entity) -> None:
        """Make SageMaker's copy of ``current`` hold the mutable fields of ``wanted``."""
        svc = self._svc_arn(current.arn)
        assert svc is not None
        props = dict(wanted.properties)
        removed = [k for k in current.properties if k not in props]
        params: dict[str, Any] = {"Properties": props}
        if removed:
            params["PropertiesToRemove"] = removed
        if isinstance(current, Artifact):
            if wanted.name:
                params["ArtifactName"] = wanted.name
            self._call("update_artifact", ArtifactArn=svc, **params)
        else:
            assert isinstance(wanted, Action | Context)
            if wanted.description is not None:
                params["Description"] = wanted.description
            if isinstance(current, Action):
                assert isinstance(wanted, Action)
                params["Status"] = wanted.status.value
                self._call("update_action", ActionName=current.name, **params)
            else:
                self._call("update_context", ContextName=current.name, **params)
        self._call("add_tags", ResourceArn=svc, Tags=self._tag_list(wanted))
        gone = [k for k in current.tags if k not in wanted.tags]
        if gone:
            self._call("delete_tags", ResourceArn=svc, TagKeys=gone)

    # -- writes -------------------------------------------------------------------------

    def write(
        self,
        entities: Iterable[Entity] = (),
        associations: Iterable[Association] = (),
        *,
        upsert: bool | Collection[str] = False,
    ) -> None:
        """Record entities and associations; every association end is checked first.

        :raises EntityNotFoundError: an association names an entity that is neither in
            SageMaker nor in this batch. Nothing is written.
        :raises ValueError: an entity belongs to another account or region.
        :raises StoreError: SageMaker failed.
        """
        ents = list(entities)
        assocs = list(associations)
        for e in ents:
            if not isinstance(e, Artifact | Action | Context):
                raise TypeError(
                    f"write() takes Artifact, Action or Context, not {type(e).__name__}"
                )
            arn = Arn.parse(e.arn)
            if (arn.account, arn.region) != (self.account, self.region):
                raise ValueError(
                    f"{e.arn} belongs to account {arn.account} in {arn.region}; this SageMaker "
                    f"store writes to account {self.account} in {self.region}"
                )
        for a in assocs:
            if not isinstance(a, Association):
                raise TypeError(f"write() takes Association edges, not {type(a).__name__}")
        if not ents and not assocs:
            return
        chosen: Callable[[str], bool]
        if isinstance(upsert, bool):
            chosen = lambda _arn: upsert  # noqa: E731
        else:
            selected = set(upsert)
            chosen = selected.__contains__
        with _translated("write lineage"):
            batch = {e.arn for e in ents}
            ends = dict.fromkeys(
                arn for a in assocs for arn in (a.source_arn, a.destination_arn) if arn not in batch
            )
            missing = [arn for arn in ends if not self._exists(arn)]
            if missing:
                raise EntityNotFoundError(
                    f"cannot associate: no lineage entity has the ARN {missing[0]}"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                )
            for e in ents:
                self._write_entity(e, chosen(e.arn))
            for a in assocs:
                self._add_association(a)

    def _exists(self, model_arn: str) -> bool:
        """Return True when SageMaker holds the entity with this ARN."""
        kind = Arn.parse(model_arn).lineage_type
        if kind is LineageType.ARTIFACT:
            svc = self._svc_arn(model_arn)
            if svc is None:
                return False
            return self._try_describe("describe_artifact", ArtifactArn=svc)
        if kind is LineageType.ACTION:
            return self._try_describe("describe_action", ActionName=model_arn)
        if kind is LineageType.CONTEXT:
            return self._try_describe("describe_context", ContextName=model_arn)
        if kind is LineageType.TRIAL_COMPONENT:
            return self._try_describe("describe_trial_component", TrialComponentName=model_arn)
        return False

    def _try_describe(self, method: str, **params: Any) -> bool:
        try:
            self._call(method, **params)
        except Exception as e:
            if _is_not_found(e):
                return False
            raise
        return True

    def _write_entity(self, entity: Entity, upsert: bool) -> None:
        if isinstance(entity, Artifact):
            exists = self._find_artifact(entity) is not None
            if exists and not upsert:
                return
            current = self._describe(entity.arn) if exists else None
        else:
            current = self._describe(entity.arn)
        if current is None:
            self._create_entity(entity)
            return
        if not upsert:
            return
        assert current.modified is not None and entity.modified is not None
        if entity.modified >= current.modified:
            self._apply(current, entity)

    def _add_association(self, assoc: Association) -> None:
        src = self._svc_arn(assoc.source_arn)
        dst = self._svc_arn(assoc.destination_arn)
        if src is None or dst is None:
            missing = assoc.source_arn if src is None else assoc.destination_arn
            raise EntityNotFoundError(f"cannot associate: no lineage entity has the ARN {missing}")
        params: dict[str, Any] = {"SourceArn": src, "DestinationArn": dst}
        if assoc.association_type is not None:
            params["AssociationType"] = assoc.association_type.value
        try:
            self._call("add_association", **params)
        except Exception as e:
            if not _is_already_exists(e):
                raise

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

        :raises EntityNotFoundError: no entity has this ARN.
        :raises ValueError: a field does not apply to this kind of entity or is invalid.
        """
        Arn.parse(arn)
        if isinstance(properties_to_remove, str):
            raise TypeError("properties_to_remove must be a list of keys, not one string")
        remove = list(properties_to_remove)
        with _translated("update lineage"):
            current = self._describe(arn)
            if current is None:
                raise EntityNotFoundError(f"no lineage entity has the ARN {arn}")
            updated = updated_entity(current, status, description, name, properties, remove)
            self._apply(current, updated)
        return updated

    def delete(self, arn: str, *, disassociate: bool = False) -> None:
        """Delete an entity; with ``disassociate`` its associations go first.

        :raises AssociationsExistError: the entity has associations and
            ``disassociate`` is False. Nothing is deleted.
        :raises EntityNotFoundError: no entity has this ARN.
        """
        parsed = Arn.parse(arn)
        with _translated("delete lineage"):
            svc = self._svc_arn(arn)
            if svc is None or not self._exists(arn):
                raise EntityNotFoundError(f"no lineage entity has the ARN {arn}")
            touching = self._associations_touching(svc)
            if touching and not disassociate:
                raise AssociationsExistError(
                    f"{arn} still has {len(touching)} association(s); delete them first "
                    "or pass disassociate=True"
                )
            for src, dst in touching:
                try:
                    self._call("delete_association", SourceArn=src, DestinationArn=dst)
                except Exception as e:
                    if not _is_not_found(e):
                        raise
            if parsed.resource == "artifact":
                self._call("delete_artifact", ArtifactArn=svc)
            elif parsed.resource == "action":
                self._call("delete_action", ActionName=parsed.resource_id)
            elif parsed.resource == "context":
                self._call("delete_context", ContextName=parsed.resource_id)
            else:
                raise ValueError(f"{arn} is not an artifact, action or context")
            self._forget(arn)

    def _associations_touching(self, svc_arn: str) -> list[tuple[str, str]]:
        pairs: dict[tuple[str, str], None] = {}
        for key in ("SourceArn", "DestinationArn"):
            for s in self._pages("list_associations", "AssociationSummaries", **{key: svc_arn}):
                pairs[(s["SourceArn"], s["DestinationArn"])] = None
        return list(pairs)

    def delete_association(self, source_arn: str, destination_arn: str) -> None:
        """Delete the association between two entities.

        :raises EntityNotFoundError: the pair has no association.
        """
        Arn.parse(source_arn, field_name="SourceArn")
        Arn.parse(destination_arn, field_name="DestinationArn")
        gone = EntityNotFoundError(f"no association from {source_arn} to {destination_arn}")
        with _translated("delete an association"):
            src = self._svc_arn(source_arn)
            dst = self._svc_arn(destination_arn)
            if src is None or dst is None:
                raise gone
            try:
                self._call("delete_association", SourceArn=src, DestinationArn=dst)
            except Exception as e:
                if _is_not_found(e):
                    raise gone from e
                raise

    # -- reads --------------------------------------------------------------------------

    def get_many(self, arns: Sequence[str]) -> dict[str, Entity]:
        """Return the entities with these ARNs; unknown ARNs are left out."""
        if isinstance(arns, str):
            raise TypeError("get_many() takes a list of ARNs, not one string")
        found: dict[str, Entity] = {}
        with _translated("read lineage"):
            for arn in dict.fromkeys(arns):
                entity = self._describe(arn)
                if entity is not None:
                    found[arn] = entity
        return found

    def _all_entities(
        self, kind: LineageType, type: str | None = None, source_uri: str | None = None
    ) -> list[Entity]:
        """Read every entity of a kind (optionally one type or SourceUri), fully."""
        method, key, arn_key, type_key = {
            LineageType.ARTIFACT: (
                "list_artifacts",
                "ArtifactSummaries",
                "ArtifactArn",
                "ArtifactType",
            ),
            LineageType.ACTION: ("list_actions", "ActionSummaries", "ActionArn", "ActionType"),
            LineageType.CONTEXT: ("list_contexts", "ContextSummaries", "ContextArn", "ContextType"),
        }[kind]
        filters: dict[str, Any] = {"MaxResults": _LIST_PAGE}
        if type is not None:
            filters[type_key] = type
        if source_uri is not None:
            filters["SourceUri"] = source_uri
        out: list[Entity] = []
        seen: set[str] = set()
        for summary in self._pages(method, key, **filters):
            svc = summary[arn_key]
            if svc in seen:
                continue
            seen.add(svc)
            if kind is LineageType.ARTIFACT:
                model = self._model_artifact_arn(svc, summary)
                self._remember(model, svc)
            else:
                model = svc
            entity = self._describe(model)
            if entity is not None:
                out.append(entity)
        return out

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

        :raises InvalidPageTokenError: ``next_token`` is not one of this listing's.
        """
        kind = LineageType(lineage_type)
        if kind is LineageType.TRIAL_COMPONENT:
            raise ValueError("the SageMaker store lists artifacts, actions and contexts")
        digest = scope_of(
            [
                "entities",
                kind.value,
                type,
                source_uri,
                name,
                created_after,
                created_before,
                ascending,
            ]
        )
        with _translated("list lineage"):
            items = [
                e
                for e in self._all_entities(kind, type, source_uri)
                if (name is None or e.name == name)
                and (created_after is None or e.created >= created_after)
                and (created_before is None or e.created <= created_before)
            ]
        rows = [((to_micros(e.created), e.arn, ""), e) for e in items]
        return self._page(rows, digest, ascending, max_results, next_token)

    @staticmethod
    def _page(
        rows: list[tuple[tuple[int, str, str], Any]],
        digest: str,
        ascending: bool,
        max_results: int | None,
        next_token: str | None,
    ) -> Page[Any]:
        """Cut sorted rows into a page by keyset (the token holds the last row's key)."""
        if max_results is not None and (isinstance(max_results, bool) or max_results < 1):
            raise ValueError(f"MaxResults must be at least 1, got {max_results}")
        rows.sort(key=lambda r: r[0], reverse=not ascending)
        if next_token:
            after = PageToken.decode(next_token, digest).position
            if len(after) != 3 or not isinstance(after[0], int):
                raise InvalidPageTokenError("NextToken is not a token this store handed out")
            rows = [r for r in rows if (r[0] > after if ascending else r[0] < after)]
        more = max_results is not None and len(rows) > max_results
        if max_results is not None:
            rows = rows[:max_results]
        token = PageToken(digest, rows[-1][0]).encode() if more else None
        return Page(tuple(r[1] for r in rows), token)

    def _association(self, summary: Mapping[str, Any]) -> Association:
        kind = summary.get("AssociationType")
        return Association(
            self._model_arn(summary["SourceArn"]),
            self._model_arn(summary["DestinationArn"]),
            AssociationType(kind) if kind else None,
            _aware(summary.get("CreationTime")) or utcnow(),
            self.account,
        )

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
        """List associations, newest first unless ``ascending``.

        :raises InvalidPageTokenError: ``next_token`` is not one of this listing's.
        """
        if source_arn is not None:
            Arn.parse(source_arn, field_name="SourceArn")
        if destination_arn is not None:
            Arn.parse(destination_arn, field_name="DestinationArn")
        kind = AssociationType(association_type) if association_type is not None else None
        digest = scope_of(
            [
                "associations",
                source_arn,
                destination_arn,
                str(association_type),
                created_after,
                created_before,
                ascending,
            ]
        )
        filters: dict[str, Any] = {"MaxResults": _LIST_PAGE}
        if kind is not None:
            filters["AssociationType"] = kind.value
        found: dict[tuple[str, str], Association] = {}
        with _translated("list associations"):
            for key, arn in (("SourceArn", source_arn), ("DestinationArn", destination_arn)):
                if arn is None:
                    continue
                svc = self._svc_arn(arn)
                if svc is None:
                    return Page(())
                filters[key] = svc
            for summary in self._pages("list_associations", "AssociationSummaries", **filters):
                a = self._association(summary)
                found.setdefault((a.source_arn, a.destination_arn), a)
        rows = [
            ((to_micros(a.created), a.source_arn, a.destination_arn), a)
            for a in found.values()
            if (created_after is None or a.created >= created_after)
            and (created_before is None or a.created <= created_before)
        ]
        return self._page(rows, digest, ascending, max_results, next_token)

    def associations_among(self, arns: Sequence[str]) -> list[Association]:
        """Return every association whose two ends are both among ``arns``."""
        if isinstance(arns, str):
            raise TypeError("associations_among() takes a list of ARNs, not one string")
        wanted = set(arns)
        found: dict[tuple[str, str], Association] = {}
        with _translated("read associations"):
            for arn in dict.fromkeys(arns):
                svc = self._svc_arn(arn)
                if svc is None:
                    continue
                for s in self._pages("list_associations", "AssociationSummaries", SourceArn=svc):
                    a = self._association(s)
                    if a.destination_arn in wanted:
                        found.setdefault((a.source_arn, a.destination_arn), a)
        return [found[k] for k in sorted(found)]

    # -- query --------------------------------------------------------------------------

    @contextmanager
    def read_graph(self, snapshot: int, query: LineageQuery) -> Iterator[_SageMakerGraph]:
        """Open a walk of SageMaker's graph. QueryLineage tells no creation times, so the
        snapshot bound is not applied: a later page sees associations added meanwhile."""
        with _translated("query lineage"):
            yield _SageMakerGraph(self, query)

    # -- sharing through AWS RAM ------------------------------------------------------------

    @property
    def ram(self) -> Any:
        """Return the AWS RAM client, made through the amazon provider on first use."""
        if self._ram_client is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            hook = AwsBaseHook(
                aws_conn_id=self.aws_conn_id, client_type="ram", region_name=self.region
            )
            self._ram_client = hook.conn
        return self._ram_client

    def _ram(self, method: str, **params: Any) -> dict[str, Any]:
        return self._retrying(self.ram, method, params)

    def _group_arn(self, group: str, account: str | None = None) -> str:
        return str(Arn(self.region, account or self.account, "lineage-group", group))

    def _owned_shares(self, group: str) -> list[dict[str, Any]]:
        """Return this account's active RAM shares of the group."""
        found = []
        token: str | None = None
        while True:
            page = self._ram(
                "get_resource_shares",
                resourceOwner="SELF",
                name=_share_name(group),
                resourceShareStatus="ACTIVE",
                **({"nextToken": token} if token else {}),
            )
            found += page.get("resourceShares", [])
            token = page.get("nextToken")
            if not token:
                return found

    def share(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Share a lineage group with another account through an AWS RAM resource share
        (resource type ``sagemaker:LineageGroup``); the consumer must accept it."""
        Arn(self.region, consumer_account, "lineage-group", group)  # validates the account
        with _translated("share a lineage group"):
            owned = self._owned_shares(group)
            if owned:
                self._ram(
                    "associate_resource_share",
                    resourceShareArn=owned[0]["resourceShareArn"],
                    principals=[consumer_account],
                )
            else:
                self._ram(
                    "create_resource_share",
                    name=_share_name(group),
                    resourceArns=[self._group_arn(group)],
                    principals=[consumer_account],
                    allowExternalPrincipals=True,
                )
        return Share(self.account, consumer_account, group, self.region, ShareStatus.PENDING)

    def accept(self, owner_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Accept the owner's pending RAM invitation to its lineage group."""
        with _translated("accept a lineage group share"):
            for invitation in self._invitations():
                if (
                    invitation.get("senderAccountId") == owner_account
                    and invitation.get("resourceShareName") == _share_name(group)
                    and invitation.get("status") == "PENDING"
                ):
                    self._ram(
                        "accept_resource_share_invitation",
                        resourceShareInvitationArn=invitation["resourceShareInvitationArn"],
                    )
                    return Share(
                        owner_account, self.account, group, self.region, ShareStatus.ACCEPTED
                    )
        raise EntityNotFoundError(
            f"account {owner_account} has no pending invitation to its lineage group "
            f"{group} for account {self.account}"
        )

    def _invitations(self) -> list[dict[str, Any]]:
        found = []
        token: str | None = None
        while True:
            page = self._ram(
                "get_resource_share_invitations", **({"nextToken": token} if token else {})
            )
            found += page.get("resourceShareInvitations", [])
            token = page.get("nextToken")
            if not token:
                return found

    def revoke(self, consumer_account: str, *, group: str = DEFAULT_LINEAGE_GROUP) -> Share:
        """Stop sharing a lineage group with an account (RAM: disassociate the principal)."""
        with _translated("revoke a lineage group share"):
            owned = self._owned_shares(group)
            if not owned:
                raise EntityNotFoundError(
                    f"lineage group {group} is not shared with account {consumer_account}"
                )
            self._ram(
                "disassociate_resource_share",
                resourceShareArn=owned[0]["resourceShareArn"],
                principals=[consumer_account],
            )
        return Share(self.account, consumer_account, group, self.region, ShareStatus.REVOKED)

    def shares(self) -> list[Share]:
        """Return the invitations this account has received (RAM), as shares."""
        status = {
            "PENDING": ShareStatus.PENDING,
            "ACCEPTED": ShareStatus.ACCEPTED,
        }
        out = []
        with _translated("list lineage group shares"):
            for invitation in self._invitations():
                kind = status.get(str(invitation.get("status")))
                name = str(invitation.get("resourceShareName", ""))
                if kind is None or not name.startswith(_SHARE_PREFIX):
                    continue
                out.append(
                    Share(
                        str(invitation["senderAccountId"]),
                        self.account,
                        name.removeprefix(_SHARE_PREFIX),
                        self.region,
                        kind,
                    )
                )
        return out

    def get_lineage_group_policy(self, lineage_group: str) -> dict[str, str]:
        """Return the group's resource policy (SageMaker's GetLineageGroupPolicy)."""
        with _translated("read a lineage group policy"):
            response = self._call("get_lineage_group_policy", LineageGroupName=lineage_group)
        return {
            "LineageGroupArn": str(response.get("LineageGroupArn", "")),
            "ResourcePolicy": str(response.get("ResourcePolicy", "")),
        }

    # -- groups, export -------------------------------------------------------------------

    def lineage_groups(self) -> list[LineageGroup]:
        """Return the lineage groups the caller's account can see (its own and shared)."""
        groups: dict[str, LineageGroup] = {}
        with _translated("list lineage groups"):
            for s in self._pages("list_lineage_groups", "LineageGroupSummaries", MaxResults=100):
                arn = Arn.parse(s["LineageGroupArn"])
                groups[s["LineageGroupArn"]] = LineageGroup(
                    s.get("LineageGroupName") or arn.resource_id,
                    arn.account,
                    arn.region,
                    _aware(s.get("CreationTime")) or utcnow(),
                )
        return sorted(groups.values(), key=lambda g: (g.account, g.name))

    def export(self) -> Iterator[Entity | Association]:
        """Yield every entity (artifacts, actions, contexts; oldest first), then every
        association (oldest first)."""
        with _translated("export lineage"):
            for kind in (LineageType.ARTIFACT, LineageType.ACTION, LineageType.CONTEXT):
                ents = self._all_entities(kind)
                ents.sort(key=lambda e: (e.created, e.arn))
                yield from ents
            found: dict[tuple[str, str], Association] = {}
            for s in self._pages("list_associations", "AssociationSummaries", MaxResults=100):
                a = self._association(s)
                found.setdefault((a.source_arn, a.destination_arn), a)
            yield from sorted(
                found.values(), key=lambda a: (a.created, a.source_arn, a.destination_arn)
            )


class _SageMakerGraph:
    """The query walk's view of SageMaker: one QueryLineage hop per frontier vertex.

    Keys are SageMaker's ARNs. Each hop asks QueryLineage for ``MaxDepth=1`` with edges
    from one vertex, follows every NextToken and drops repeated vertices and edges, so
    the walk goes as deep as the query asks (past SageMaker's 10) and from any number of
    starts. Hops are cached for the run, so ``Both`` never asks twice for one vertex.
    """

    view = ""  # QueryLineage applies the caller's visibility itself, at every call

    def __init__(self, store: SageMakerStore, query: LineageQuery) -> None:
        self._store = store
        flt = query.filters
        self._details = bool(
            flt.properties
            or flt.created_after
            or flt.created_before
            or flt.modified_after
            or flt.modified_before
        )
        self._info: dict[str, tuple[str, str]] = {}  # svc ARN -> (type, lineage type)
        self._hops: dict[tuple[str, str], list[tuple[str, str, str | None]]] = {}
        self._rows: dict[str, AttributeRow] = {}

    def _hop(self, vertex: str, direction: str) -> list[tuple[str, str, str | None]]:
        """Return the associations leaving ``vertex`` in ``direction`` (one hop)."""
        key = (vertex, direction)
        cached = self._hops.get(key)
        if cached is not None:
            return cached
        edges: dict[tuple[str, str], str | None] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "StartArns": [vertex],
                "Direction": direction,
                "IncludeEdges": True,
                "MaxDepth": 1,
                "MaxResults": _QUERY_PAGE,
            }
            if token:
                params["NextToken"] = token
            response = self._store._call("query_lineage", **params)
            for v in response.get("Vertices", []):
                self._info.setdefault(v["Arn"], (v.get("Type", ""), v["LineageType"]))
            for e in response.get("Edges", []):
                src, dst = e["SourceArn"], e["DestinationArn"]
                leaves = (
                    src == vertex
                    if direction == Direction.DESCENDANTS.value
                    else dst == vertex
                    if direction == Direction.ASCENDANTS.value
                    else vertex in (src, dst)
                )
                if leaves and src != dst:
                    edges.setdefault((src, dst), e.get("AssociationType"))
            token = response.get("NextToken")
            if not token:
                break
        hop = [(s, d, t) for (s, d), t in edges.items()]
        self._hops[key] = hop
        return hop

    def _row(self, svc: str) -> AttributeRow:
        row = self._rows.get(svc)
        if row is not None:
            return row
        model = self._store._model_arn(svc)
        kind, lineage = self._info.get(svc, ("", ""))
        created = modified = 0
        props: str | None = None
        if self._details or not lineage:
            entity = self._store._describe(model)
            if entity is not None:
                assert entity.modified is not None
                kind, lineage = entity.type, entity.lineage_type.value
                created, modified = to_micros(entity.created), to_micros(entity.modified)
                props = json.dumps(dict(entity.properties)) if entity.properties else None
            elif not lineage:
                parsed = Arn.parse(svc).lineage_type
                lineage = parsed.value if parsed else LineageType.ARTIFACT.value
        row = (svc, model, kind, lineage, created, modified, props)
        self._rows[svc] = row
        return row

    def resolve(self, arns: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for arn in arns:
            entity = self._store._describe(arn)
            svc = self._store._svc_arn(arn) if entity is not None else None
            if entity is None or svc is None:
                is_tc = Arn.parse(arn).lineage_type is LineageType.TRIAL_COMPONENT
                if is_tc and self._store._exists(arn):
                    found[arn] = arn
                continue
            self._info[svc] = (entity.type, entity.lineage_type.value)
            found[arn] = svc
        return found

    def next_level(
        self, frontier: Sequence[str], direction: str, *, properties: bool
    ) -> Iterable[AttributeRow]:
        rows: list[AttributeRow] = []
        for v in frontier:
            for src, dst, _ in self._hop(v, str(direction)):
                other = dst if src == v else src
                rows.append(self._row(other))
        return rows

    def neighbors(
        self, frontier: Sequence[str], direction: str
    ) -> Iterable[tuple[str, str, str | None]]:
        out: dict[tuple[str, str], str | None] = {}
        for v in frontier:
            for src, dst, kind in self._hop(v, str(direction)):
                out.setdefault((src, dst), kind)
        return [(s, d, t) for (s, d), t in out.items()]

    def attributes(self, keys: Sequence[str], *, properties: bool) -> Iterable[AttributeRow]:
        return [self._row(k) for k in keys]

    def hidden(self, keys: Sequence[str], direction: str) -> bool:
        # QueryLineage returns only what the caller may see and says nothing of the rest:
        # lineage another account did not share cannot be detected here.
        return False


_SHARE_PREFIX = "airflow-lineage-"


def _share_name(group: str) -> str:
    """Return the name of the RAM resource share of a lineage group."""
    return f"{_SHARE_PREFIX}{group}"
