"""The SageMaker store's entities and associations: API shapes, writes, reads, lists."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_lineage.exceptions import (
    AssociationsExistError,
    EntityNotFoundError,
    InvalidPageTokenError,
)
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Arn,
    Artifact,
    Association,
    AssociationType,
    Context,
    Entity,
    LineageGroup,
    LineageType,
    to_micros,
    utcnow,
)
from airflow_lineage.pagetoken import PageToken, scope_of
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.store.base import Page, updated_entity
from airflow_lineage.store.editing import supersedes
from airflow_lineage.store.sagemaker_client import (
    _LIST_PAGE,
    SageMakerCore,
    _aware,
    _is_not_found,
    _is_validation,
    _translated,
)

__all__ = ["SageMakerEntities"]

log = logging.getLogger(__name__)


class SageMakerEntities(SageMakerCore):
    """Entities and associations in SageMaker (the store's Entities protocol)."""

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
            # SageMaker answers a duplicate with a ValidationException, a code it uses
            # for bad input too: the entity being there now is what tells them apart.
            if not _is_validation(e) or not self._there(entity):
                raise
            log.debug("%s already exists in SageMaker; reusing it", entity.arn)

    def _there(self, entity: Entity) -> bool:
        """Return True when SageMaker holds ``entity`` (a targeted look-up)."""
        if isinstance(entity, Artifact):
            self._forget(entity.arn)
            return self._find_artifact(entity) is not None
        return self._exists(entity.arn)

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
        attestations: Iterable[Attestation] = (),
    ) -> None:
        """Record entities and associations; every association end is checked first.
        SageMaker has no place for signed provenance: ``attestations`` are not kept.

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
        if supersedes(entity, current):
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
            pair = {"SourceArn": src, "DestinationArn": dst, "MaxResults": 1}
            if not _is_validation(e) or not self._call("list_associations", **pair).get(
                "AssociationSummaries"
            ):
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
            _added_by(summary.get("CreatedBy") or {}),
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


def _added_by(user: Mapping[str, Any]) -> str | None:
    """Return the account that added an association, from its ``CreatedBy`` (the IAM
    identity's ARN, else the Studio user profile's); None when SageMaker does not say,
    which a gate that trusts accounts rejects as unverifiable."""
    for arn in ((user.get("IamIdentity") or {}).get("Arn"), user.get("UserProfileArn")):
        parts = str(arn or "").split(":")
        if len(parts) > 4 and len(parts[4]) == 12 and parts[4].isdigit():
            return parts[4]
    return None
