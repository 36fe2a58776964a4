"""The SageMaker store's sharing: lineage groups shared through AWS RAM."""

from __future__ import annotations

from typing import Any

from airflow_lineage.exceptions import (
    EntityNotFoundError,
)
from airflow_lineage.model import (
    DEFAULT_LINEAGE_GROUP,
    Arn,
)
from airflow_lineage.sharing import Share, ShareStatus
from airflow_lineage.store.interface import Sharing
from airflow_lineage.store.sagemaker_client import (
    SageMakerCore,
    _translated,
)

__all__ = ["SageMakerSharing"]


class SageMakerSharing(SageMakerCore, Sharing):
    """Sharing lineage groups through AWS RAM resource shares."""

    @property
    def ram(self) -> Any:
        """Return the AWS RAM client, made through the amazon provider on first use."""
        if self._ram_client is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            hook = AwsBaseHook(
                aws_conn_id=self.aws_conn_id,
                client_type="ram",
                region_name=self.region,
                config=self.botocore_config(),
            )
            self._ram_client = hook.conn
        return self._ram_client

    def _ram(self, method: str, **params: Any) -> dict[str, Any]:
        response: dict[str, Any] = getattr(self.ram, method)(**params)
        return response

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
        """Return the shares this account is a party to: those it owns (its RAM resource
        shares' principals), then the invitations it received."""
        owned = {"ASSOCIATING": ShareStatus.PENDING, "ASSOCIATED": ShareStatus.ACCEPTED}
        received = {"PENDING": ShareStatus.PENDING, "ACCEPTED": ShareStatus.ACCEPTED}
        mine: list[Share] = []
        others: list[Share] = []
        with _translated("list lineage group shares"):
            for share in self._owned_shares(DEFAULT_LINEAGE_GROUP):
                group = str(share.get("name", "")).removeprefix(_SHARE_PREFIX)
                for principal in self._principals(share["resourceShareArn"]):
                    kind = owned.get(str(principal.get("status")))
                    if kind is not None:
                        entity = str(principal["associatedEntity"])
                        mine.append(Share(self.account, entity, group, self.region, kind))
            for invitation in self._invitations():
                kind = received.get(str(invitation.get("status")))
                name = str(invitation.get("resourceShareName", ""))
                if kind is None or not name.startswith(_SHARE_PREFIX):
                    continue
                owner = str(invitation["senderAccountId"])
                group = name.removeprefix(_SHARE_PREFIX)
                others.append(Share(owner, self.account, group, self.region, kind))
        mine.sort(key=lambda s: (s.group, s.consumer))
        others.sort(key=lambda s: (s.owner, s.group))
        return mine + others

    def _principals(self, share_arn: str) -> list[dict[str, Any]]:
        """Return the principal associations of one of this account's resource shares."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._ram(
                "get_resource_share_associations",
                associationType="PRINCIPAL",
                resourceShareArns=[share_arn],
                **({"nextToken": token} if token else {}),
            )
            found += page.get("resourceShareAssociations", [])
            token = page.get("nextToken")
            if not token:
                return found

    def get_lineage_group_policy(self, lineage_group: str) -> dict[str, str]:
        """Return the group's resource policy (SageMaker's GetLineageGroupPolicy)."""
        with _translated("read a lineage group policy"):
            response = self._call("get_lineage_group_policy", LineageGroupName=lineage_group)
        return {
            "LineageGroupArn": str(response.get("LineageGroupArn", "")),
            "ResourcePolicy": str(response.get("ResourcePolicy", "")),
        }


_SHARE_PREFIX = "airflow-lineage-"


def _share_name(group: str) -> str:
    """Return the name of the RAM resource share of a lineage group."""
    return f"{_SHARE_PREFIX}{group}"
