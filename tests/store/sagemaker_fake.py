"""A small in-memory SageMaker lineage service behind botocore's ``Stubber``.

Every request a real botocore client makes is validated against SageMaker's API model
(here, before the response is computed, and again by the client), and every response is
computed from an in-memory graph just in time and queued on the Stubber, which checks it
against the model's output shape. So the store under test talks to a real client through
real request and response shapes; only the network is gone.

The service behaves as SageMaker does where it matters to the store: it picks artifact
ARNs itself, sets its own CreationTime, answers QueryLineage for one start ARN with
``MaxDepth`` ≤ 10 and ``MaxResults`` ≤ 50 in pages that repeat vertices and edges across
pages, throttles every n-th call, says "already exists" for duplicates, and can hide
entities from reads for a while (eventual consistency).
"""

from __future__ import annotations

import hashlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore import xform_name
from botocore.stub import Stubber
from botocore.validate import validate_parameters

RESOURCE_LINEAGE = {"artifact": "Artifact", "action": "Action", "context": "Context"}


class ServiceError(Exception):
    """An error the fake service answers with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Record:
    lineage: str
    arn: str
    name: str | None
    type: str
    source: dict[str, Any]
    properties: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    status: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Edge:
    source: str
    destination: str
    kind: str | None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    added_by: str | None = None  # the account that called AddAssociation


class FakeSageMaker:
    """Answer SageMaker lineage calls made through ``client`` from an in-memory graph.

    :param page_size: items per page of every listing and QueryLineage (smaller than
        what the client asks for, so every listing has several pages).
    :param duplicate_pages: repeat the last vertex and edge of a QueryLineage page at the
        start of the next one, as SageMaker has been seen to do.
    :param throttle_every: answer every n-th call with ThrottlingException (0: never).
    """

    def __init__(
        self,
        client: Any,
        *,
        account: str,
        region: str,
        page_size: int = 2,
        duplicate_pages: bool = True,
        throttle_every: int = 0,
    ) -> None:
        self.client = client
        self.stubber = Stubber(client)
        self.account = account
        self.region = region
        self.page_size = page_size
        self.duplicate_pages = duplicate_pages
        self.throttle_every = throttle_every
        self.entities: dict[str, Record] = {}
        self.edges: dict[tuple[str, str], Edge] = {}
        self.hidden: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.throttled = 0
        self.already_exists = 0
        self.duplicates_served = 0
        self.query_pages = 0
        self.max_depth_seen = 0
        self.requests: deque[tuple[str, dict[str, Any]]] = deque(maxlen=50)
        self._count = 0
        self._ids = 0
        # Registered before the Stubber activates, so it queues the response before the
        # Stubber's own "first" handler checks its queue.
        client.meta.events.register_first(
            "before-parameter-build.*.*", self._on_call, unique_id="fake-sagemaker"
        )
        self.stubber.activate()

    # -- plumbing ---------------------------------------------------------------------

    def _on_call(self, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        validate_parameters(dict(params), model.input_shape)
        name = model.name
        method = xform_name(name)
        self._count += 1
        self.calls[name] += 1
        self.requests.append((name, dict(params)))
        if self.throttle_every and self._count % self.throttle_every == 0:
            self.throttled += 1
            self.stubber.add_client_error(method, "ThrottlingException", "Rate exceeded", 400)
            return
        handler: Callable[[Mapping[str, Any]], dict[str, Any]] | None = getattr(
            self, f"_{method}", None
        )
        try:
            if handler is None:
                raise ServiceError("ValidationException", f"the fake does not serve {name}")
            response = handler(params)
        except ServiceError as e:
            if "already exists" in e.message:
                self.already_exists += 1
            status = 404 if e.code == "ResourceNotFound" else 400
            self.stubber.add_client_error(method, e.code, e.message, status)
            return
        self.stubber.add_response(method, response)

    def _arn(self, resource: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}/{name}"

    def _visible(self, arn: str) -> Record | None:
        if arn in self.hidden:
            return None
        return self.entities.get(arn)

    def _lookup(self, resource: str, name_or_arn: str) -> Record:
        arn = name_or_arn if name_or_arn.startswith("arn:") else self._arn(resource, name_or_arn)
        found = self._visible(arn)
        if found is None or found.lineage != RESOURCE_LINEAGE[resource]:
            raise ServiceError("ResourceNotFound", f"{resource} {name_or_arn} does not exist")
        return found

    def _page(
        self, items: list[Any], params: Mapping[str, Any], limit: int = 100
    ) -> tuple[list[Any], str | None]:
        size = min(params.get("MaxResults") or 10, limit, self.page_size)
        start = int(params.get("NextToken") or 0)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else None)

    @staticmethod
    def _since(
        params: Mapping[str, Any], items: list[Any], when: Callable[[Any], datetime]
    ) -> list[Any]:
        after, before = params.get("CreatedAfter"), params.get("CreatedBefore")
        return [
            i
            for i in items
            if (after is None or when(i) >= after) and (before is None or when(i) <= before)
        ]

    def _sorted(
        self, params: Mapping[str, Any], items: list[Any], when: Callable[[Any], datetime]
    ) -> list[Any]:
        return sorted(
            items, key=when, reverse=params.get("SortOrder", "Descending") == "Descending"
        )

    # -- seeding (what SageMaker creates on its own, or another writer) ----------------

    def seed_action(self, name: str, action_type: str, *, hidden: bool = False) -> str:
        arn = self._arn("action", name)
        self.entities[arn] = Record(
            "Action", arn, name, action_type, {"SourceUri": "u"}, status="Unknown"
        )
        if hidden:
            self.hidden.add(arn)
        return arn

    # -- creates ----------------------------------------------------------------------

    def _create(self, record: Record, tags: list[dict[str, str]] | None) -> None:
        record.tags = {t["Key"]: t["Value"] for t in tags or []}
        self.entities[record.arn] = record

    def _create_artifact(self, p: Mapping[str, Any]) -> dict[str, Any]:
        source = dict(p["Source"])
        key = (source["SourceUri"], p["ArtifactType"], str(source.get("SourceTypes", [])))
        for r in self.entities.values():
            if (
                r.lineage == "Artifact"
                and (r.source["SourceUri"], r.type, str(r.source.get("SourceTypes", []))) == key
            ):
                self.hidden.discard(r.arn)
                raise ServiceError("ValidationException", "Artifact already exists")
        self._ids += 1
        ident = hashlib.md5(f"svc-artifact-{self._ids}".encode()).hexdigest()
        arn = self._arn("artifact", ident)
        self._create(
            Record(
                "Artifact",
                arn,
                p.get("ArtifactName"),
                p["ArtifactType"],
                source,
                dict(p.get("Properties", {})),
                dict(p.get("MetadataProperties", {})),
            ),
            p.get("Tags"),
        )
        return {"ArtifactArn": arn}

    def _create_named(self, resource: str, p: Mapping[str, Any], **extra: Any) -> str:
        kind = RESOURCE_LINEAGE[resource]
        name = p[f"{kind}Name"]
        arn = self._arn(resource, name)
        if arn in self.entities:
            self.hidden.discard(arn)
            raise ServiceError("ValidationException", f"{kind} {arn} already exists")
        self._create(
            Record(
                kind,
                arn,
                name,
                p[f"{kind}Type"],
                dict(p["Source"]),
                dict(p.get("Properties", {})),
                dict(p.get("MetadataProperties", {})),
                p.get("Description"),
                **extra,
            ),
            p.get("Tags"),
        )
        return arn

    def _create_action(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionArn": self._create_named("action", p, status=p.get("Status", "Unknown"))}

    def _create_context(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {"ContextArn": self._create_named("context", p)}

    # -- describe / update / delete ------------------------------------------------------

    def _describe(self, r: Record) -> dict[str, Any]:
        kind = r.lineage
        out: dict[str, Any] = {
            f"{kind}Arn": r.arn,
            "Source": r.source,
            f"{kind}Type": r.type,
            "Properties": r.properties,
            "CreationTime": r.created,
            "LastModifiedTime": r.modified,
            "CreatedBy": {},
            "LineageGroupArn": self._arn("lineage-group", "sagemaker-default-lineage-group"),
        }
        if r.name:
            out[f"{kind}Name"] = r.name
        if r.metadata and kind != "Context":
            out["MetadataProperties"] = r.metadata
        if r.description is not None:
            out["Description"] = r.description
        if r.status is not None:
            out["Status"] = r.status
        return out

    def _describe_artifact(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self._describe(self._lookup("artifact", p["ArtifactArn"]))

    def _describe_action(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self._describe(self._lookup("action", p["ActionName"]))

    def _describe_context(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self._describe(self._lookup("context", p["ContextName"]))

    def _update(self, r: Record, p: Mapping[str, Any]) -> None:
        r.properties.update(p.get("Properties", {}))
        for key in p.get("PropertiesToRemove", []):
            r.properties.pop(key, None)
        if "Description" in p:
            r.description = p["Description"]
        if "Status" in p:
            r.status = p["Status"]
        if "ArtifactName" in p:
            r.name = p["ArtifactName"]
        r.modified = datetime.now(UTC)

    def _update_artifact(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self._lookup("artifact", p["ArtifactArn"])
        self._update(r, p)
        return {"ArtifactArn": r.arn}

    def _update_action(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self._lookup("action", p["ActionName"])
        self._update(r, p)
        return {"ActionArn": r.arn}

    def _update_context(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self._lookup("context", p["ContextName"])
        self._update(r, p)
        return {"ContextArn": r.arn}

    def _delete(self, r: Record) -> None:
        if any(r.arn in pair for pair in self.edges):
            raise ServiceError("ValidationException", f"{r.arn} still has associations")
        del self.entities[r.arn]

    def _delete_artifact(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self._lookup("artifact", p["ArtifactArn"])
        self._delete(r)
        return {"ArtifactArn": r.arn}

    def _delete_action(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self._lookup("action", p["ActionName"])
        self._delete(r)
        return {"ActionArn": r.arn}

    def _delete_context(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self._lookup("context", p["ContextName"])
        self._delete(r)
        return {"ContextArn": r.arn}

    def _describe_trial_component(self, p: Mapping[str, Any]) -> dict[str, Any]:
        raise ServiceError("ResourceNotFound", f"{p['TrialComponentName']} does not exist")

    # -- listings -----------------------------------------------------------------------

    def _list(self, kind: str, p: Mapping[str, Any]) -> dict[str, Any]:
        items = [
            r
            for arn, r in self.entities.items()
            if r.lineage == kind
            and arn not in self.hidden
            and ("SourceUri" not in p or r.source["SourceUri"] == p["SourceUri"])
            and (f"{kind}Type" not in p or r.type == p[f"{kind}Type"])
        ]
        items = self._sorted(p, self._since(p, items, lambda r: r.created), lambda r: r.created)
        page, token = self._page(items, p)
        summaries = []
        for r in page:
            s: dict[str, Any] = {
                f"{kind}Arn": r.arn,
                "Source": r.source,
                f"{kind}Type": r.type,
                "CreationTime": r.created,
                "LastModifiedTime": r.modified,
            }
            if r.name:
                s[f"{kind}Name"] = r.name
            if kind == "Action":
                s["Status"] = r.status
            summaries.append(s)
        out: dict[str, Any] = {f"{kind}Summaries": summaries}
        if token:
            out["NextToken"] = token
        return out

    def _list_artifacts(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self._list("Artifact", p)

    def _list_actions(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self._list("Action", p)

    def _list_contexts(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return self._list("Context", p)

    def _list_tags(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self.entities.get(p["ResourceArn"])
        if r is None:
            raise ServiceError("ResourceNotFound", f"{p['ResourceArn']} does not exist")
        tags = [{"Key": k, "Value": v} for k, v in r.tags.items()]
        page, token = self._page(tags, p)
        return {"Tags": page, **({"NextToken": token} if token else {})}

    def _add_tags(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self.entities.get(p["ResourceArn"])
        if r is None:
            raise ServiceError("ResourceNotFound", f"{p['ResourceArn']} does not exist")
        r.tags.update({t["Key"]: t["Value"] for t in p["Tags"]})
        return {"Tags": p["Tags"]}

    def _delete_tags(self, p: Mapping[str, Any]) -> dict[str, Any]:
        r = self.entities.get(p["ResourceArn"])
        if r is None:
            raise ServiceError("ResourceNotFound", f"{p['ResourceArn']} does not exist")
        for key in p["TagKeys"]:
            r.tags.pop(key, None)
        return {}

    def _list_lineage_groups(self, p: Mapping[str, Any]) -> dict[str, Any]:
        if not self.entities:
            return {"LineageGroupSummaries": []}
        first = min(r.created for r in self.entities.values())
        return {
            "LineageGroupSummaries": [
                {
                    "LineageGroupArn": self._arn(
                        "lineage-group", "sagemaker-default-lineage-group"
                    ),
                    "LineageGroupName": "sagemaker-default-lineage-group",
                    "CreationTime": first,
                    "LastModifiedTime": first,
                }
            ]
        }

    # -- associations -------------------------------------------------------------------

    def _add_association(self, p: Mapping[str, Any]) -> dict[str, Any]:
        src, dst = p["SourceArn"], p["DestinationArn"]
        for arn in (src, dst):
            if arn not in self.entities:
                raise ServiceError("ResourceNotFound", f"{arn} does not exist")
        if (src, dst) in self.edges:
            raise ServiceError(
                "ValidationException", "This association already exists between the entities"
            )
        self.edges[(src, dst)] = Edge(src, dst, p.get("AssociationType"), added_by=self.account)
        return {"SourceArn": src, "DestinationArn": dst}

    def _delete_association(self, p: Mapping[str, Any]) -> dict[str, Any]:
        pair = (p["SourceArn"], p["DestinationArn"])
        if pair not in self.edges:
            raise ServiceError("ResourceNotFound", "association does not exist")
        del self.edges[pair]
        return {"SourceArn": pair[0], "DestinationArn": pair[1]}

    def _list_associations(self, p: Mapping[str, Any]) -> dict[str, Any]:
        items = [
            e
            for e in self.edges.values()
            if ("SourceArn" not in p or e.source == p["SourceArn"])
            and ("DestinationArn" not in p or e.destination == p["DestinationArn"])
            and ("AssociationType" not in p or e.kind == p["AssociationType"])
        ]
        items = self._sorted(p, self._since(p, items, lambda e: e.created), lambda e: e.created)
        page, token = self._page(items, p)
        summaries = []
        for e in page:
            s: dict[str, Any] = {
                "SourceArn": e.source,
                "DestinationArn": e.destination,
                "SourceType": self.entities[e.source].type,
                "DestinationType": self.entities[e.destination].type,
                "CreationTime": e.created,
                "CreatedBy": (
                    {"IamIdentity": {"Arn": f"arn:aws:sts::{e.added_by}:assumed-role/ml/s"}}
                    if e.added_by
                    else {}
                ),
            }
            if e.kind:
                s["AssociationType"] = e.kind
            summaries.append(s)
        return {"AssociationSummaries": summaries, **({"NextToken": token} if token else {})}

    # -- QueryLineage ---------------------------------------------------------------------

    def _vertex(self, arn: str) -> dict[str, Any]:
        r = self.entities[arn]
        return {"Arn": arn, "Type": r.type, "LineageType": r.lineage}

    def _query_lineage(self, p: Mapping[str, Any]) -> dict[str, Any]:
        depth = p.get("MaxDepth", 10)
        if depth > 10 or p.get("MaxResults", 50) > 50:
            raise ServiceError("ValidationException", "MaxDepth <= 10 and MaxResults <= 50")
        if p.get("Filters"):
            raise ServiceError("ValidationException", "the fake does not filter")
        self.max_depth_seen = max(self.max_depth_seen, depth)
        (start,) = p["StartArns"]
        if start not in self.entities:
            raise ServiceError("ResourceNotFound", f"{start} does not exist")
        direction = p.get("Direction", "Both")
        seen = {start: 0}
        order = [start]
        walked: dict[tuple[str, str], Edge] = {}
        frontier = [start]
        for level in range(depth):
            nxt = []
            for v in frontier:
                for pair, e in self.edges.items():
                    if direction in ("Descendants", "Both") and e.source == v:
                        other = e.destination
                    elif direction in ("Ascendants", "Both") and e.destination == v:
                        other = e.source
                    else:
                        continue
                    walked[pair] = e
                    if other not in seen:
                        seen[other] = level + 1
                        order.append(other)
                        nxt.append(other)
            frontier = nxt
        vertices = [self._vertex(a) for a in order]
        edges = (
            [
                {"SourceArn": e.source, "DestinationArn": e.destination, "AssociationType": e.kind}
                if e.kind
                else {"SourceArn": e.source, "DestinationArn": e.destination}
                for e in walked.values()
            ]
            if p.get("IncludeEdges")
            else []
        )
        size = min(p.get("MaxResults", 50), self.page_size)
        start_at = int(p.get("NextToken") or 0)
        end = start_at + size
        page_vertices = vertices[start_at:end]
        pages = max(1, -(-len(vertices) // size))
        index = start_at // size
        per = -(-len(edges) // pages) if edges else 0
        page_edges = edges[index * per : (index + 1) * per]
        if self.duplicate_pages and index > 0:
            page_vertices = [vertices[start_at - 1], *page_vertices]
            self.duplicates_served += 1
            if index * per - 1 >= 0 and edges:
                page_edges = [edges[min(index * per - 1, len(edges) - 1)], *page_edges]
        self.query_pages += 1
        out: dict[str, Any] = {"Vertices": page_vertices, "Edges": page_edges}
        if end < len(vertices):
            out["NextToken"] = str(end)
        return out
