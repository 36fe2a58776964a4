"""The SageMaker store's client and calls: the boto3 client, paging, error codes and
the mapping between our artifact ARNs and SageMaker's, and entities read from API
shapes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from airflow_lineage.exceptions import (
    EntityNotFoundError,
    StoreError,
)
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Arn,
    Artifact,
    Context,
    Entity,
    LineageType,
    SourceType,
    artifact_id,
    from_micros,
    to_micros,
    utcnow,
)
from airflow_lineage.store.base import LineageStore

__all__ = ["CREATED_TAG", "MODIFIED_TAG", "SageMakerCore"]

log = logging.getLogger(__name__)

CREATED_TAG = "airflow-lineage:created"
MODIFIED_TAG = "airflow-lineage:modified"
_RESERVED_TAGS = frozenset({CREATED_TAG, MODIFIED_TAG})
_NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
_LIST_PAGE = 100
_MISSING_FOR = 10.0
"""Seconds an artifact ARN that a scan did not find is taken as missing."""
_SLACK = timedelta(minutes=5)
"""How far back an incremental scan of artifacts reaches, for clock differences."""
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


def _is_validation(error: BaseException) -> bool:
    return _is_client_error(error) and _error_code(error) == "ValidationException"


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


class SageMakerCore(LineageStore):
    """A SageMaker store's connection: client, calls, account, ARN mapping."""

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
        timeout: float = 60.0,
    ) -> None:
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self._client = client
        self._ram_client = ram_client
        self.aws_conn_id = aws_conn_id
        self._max_attempts = max_attempts
        self._timeout = float(timeout)
        resolved_region = region or (client.meta.region_name if client is not None else None)
        if resolved_region is None:
            resolved_region = self.client.meta.region_name
        self.region = str(resolved_region)
        self.account = account or self._caller_account()
        Arn(self.region, self.account, "lineage-group", "sagemaker-default-lineage-group")
        self._svc_of: dict[str, str] = {}  # model artifact ARN -> service artifact ARN
        self._model_of: dict[str, str] = {}  # service artifact ARN -> model artifact ARN
        self._cache_lock = threading.Lock()
        self._scanned_at: datetime | None = None  # when the last scan of artifacts began
        self._missing: dict[str, float] = {}  # model ARN -> when a scan did not find it

    # -- client and calls ---------------------------------------------------------------

    @property
    def client(self) -> Any:
        """Return the boto3 SageMaker client, made through ``SageMakerHook`` on first use."""
        if self._client is None:
            from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

            hook = SageMakerHook(  # type: ignore[no-untyped-call]
                aws_conn_id=self.aws_conn_id,
                # None until __init__ has settled the region: then the connection's.
                region_name=self.__dict__.get("region"),
                config=self.botocore_config(),
            )
            self._client = hook.conn
        return self._client

    def botocore_config(self) -> Any:
        """Return the botocore ``Config`` of this store's clients: botocore's standard
        retry mode (throttling and transient errors, with back-off) and connect and read
        timeouts of the store's ``timeout``. The store has no retry loop of its own."""
        from botocore.config import Config

        return Config(
            retries={"mode": "standard", "total_max_attempts": self._max_attempts},
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
        )

    def _caller_account(self) -> str:
        """Ask STS (through the same AWS connection) which account the caller is in."""
        from airflow.providers.amazon.aws.hooks.sts import StsHook

        with _translated("find the caller's account"):
            hook = StsHook(  # type: ignore[no-untyped-call]
                aws_conn_id=self.aws_conn_id, region_name=self.region
            )
            return str(hook.conn.get_caller_identity()["Account"])

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call one SageMaker API method (botocore retries what may be retried)."""
        response: dict[str, Any] = getattr(self.client, method)(**params)
        return response

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
            self._missing.pop(model_arn, None)

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
        """Return SageMaker's ARN for one of ours (None when SageMaker has no such entity).

        Our artifact ARN cannot be turned back into a SourceUri, so an artifact this
        store has not met is looked for among the artifacts created since the last
        look (all of them, once per store); one that is still missing is not looked for
        again for a few seconds (a negative cache).
        """
        parsed = Arn.parse(model_arn)
        if parsed.resource != "artifact":
            return model_arn
        found = self._svc_of.get(model_arn)
        if found is not None:
            return found
        missed = self._missing.get(model_arn)
        if missed is not None and time.monotonic() - missed < _MISSING_FOR:
            return None
        began = utcnow()
        since = {} if self._scanned_at is None else {"CreatedAfter": self._scanned_at - _SLACK}
        self._scan_artifacts(MaxResults=_LIST_PAGE, **since)
        self._scanned_at = began
        found = self._svc_of.get(model_arn)
        if found is None:
            with self._cache_lock:
                self._missing[model_arn] = time.monotonic()
        return found

    def _find_artifact(self, artifact: Artifact) -> str | None:
        """Return the service ARN of the artifact SageMaker holds for this one, if any."""
        found = self._svc_of.get(artifact.arn)
        if found is not None:
            return found
        self._scan_artifacts(SourceUri=artifact.source_uri, ArtifactType=artifact.type)
        return self._svc_of.get(artifact.arn)

    def _map_artifacts(self, svc_arns: Iterable[str]) -> None:
        """Learn our ARNs for many of SageMaker's artifacts at once.

        A ListArtifacts page (newest first, as queries mostly meet recent lineage) maps
        up to 100 artifacts, a Describe one: pages are read while they are fewer than
        the artifacts still unknown, and the rest is described one by one (at most
        twice the calls of describing them all, often a hundredth).
        """
        wanted = {
            s for s in svc_arns if Arn.parse(s).resource == "artifact" and s not in self._model_of
        }
        if len(wanted) < 2:
            return
        budget, token = len(wanted), None
        while wanted and budget > 0:
            page = self._call(
                "list_artifacts", MaxResults=_LIST_PAGE, **({"NextToken": token} if token else {})
            )
            budget -= 1
            for summary in page.get("ArtifactSummaries", []):
                svc = summary["ArtifactArn"]
                self._remember(self._model_artifact_arn(svc, summary), svc)
                wanted.discard(svc)
            token = page.get("NextToken")
            if not token:
                return

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
