"""Sharing lineage groups on the SageMaker backend goes through AWS RAM.

A small in-memory RAM answers the calls of two accounts' RAM clients; botocore's
Stubber sits in the path, so every request and response is validated against RAM's real
service model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.sharing import ShareStatus
from airflow_lineage.store.sagemaker import SageMakerStore

from .test_sagemaker_contract import make_fake

A, B, REGION = "111111111111", "222222222222", "us-east-1"


class FakeRam:
    """RAM's resource shares and invitations, for several callers."""

    def __init__(self) -> None:
        self.shares: dict[str, dict[str, Any]] = {}
        self.invitations: dict[str, dict[str, Any]] = {}

    def client(self, account: str) -> Any:
        client = boto3.client(
            "ram", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )
        stubber = Stubber(client)

        def answer(model: Any, params: Mapping[str, Any], **_: Any) -> None:
            validate_parameters(dict(params), model.input_shape)
            response = getattr(self, model.name)(account, dict(params))
            stubber.add_response(_snake(model.name)[1:], response)

        client.meta.events.register_first("before-parameter-build.*.*", answer)
        stubber.activate()
        return client

    def _invite(self, owner: str, share_arn: str, name: str, principal: str) -> None:
        arn = f"{share_arn}/invitation/{principal}"
        self.invitations[arn] = {
            "resourceShareInvitationArn": arn,
            "resourceShareName": name,
            "resourceShareArn": share_arn,
            "senderAccountId": owner,
            "receiverAccountId": principal,
            "status": "PENDING",
        }

    def CreateResourceShare(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        arn = f"arn:aws:ram:{REGION}:{account}:resource-share/{len(self.shares)}"
        self.shares[arn] = {
            "resourceShareArn": arn,
            "name": p["name"],
            "owningAccountId": account,
            "status": "ACTIVE",
            "allowExternalPrincipals": True,
        }
        for principal in p["principals"]:
            self._invite(account, arn, p["name"], principal)
        return {"resourceShare": self.shares[arn]}

    def GetResourceShares(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        found = [
            s
            for s in self.shares.values()
            if s["owningAccountId"] == account and s["name"] == p.get("name", s["name"])
        ]
        return {"resourceShares": found}

    def AssociateResourceShare(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        share = self.shares[p["resourceShareArn"]]
        for principal in p["principals"]:
            self._invite(account, share["resourceShareArn"], share["name"], principal)
        return {"resourceShareAssociations": []}

    def DisassociateResourceShare(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        for principal in p["principals"]:
            self.invitations.pop(f"{p['resourceShareArn']}/invitation/{principal}", None)
        return {"resourceShareAssociations": []}

    def GetResourceShareAssociations(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        (share_arn,) = p["resourceShareArns"]
        status = {"PENDING": "ASSOCIATING", "ACCEPTED": "ASSOCIATED"}
        found = [
            {
                "resourceShareArn": share_arn,
                "associatedEntity": i["receiverAccountId"],
                "associationType": "PRINCIPAL",
                "status": status[i["status"]],
            }
            for i in self.invitations.values()
            if i["resourceShareArn"] == share_arn
            and self.shares[share_arn]["owningAccountId"] == account
        ]
        return {"resourceShareAssociations": found}

    def GetResourceShareInvitations(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        mine = [i for i in self.invitations.values() if i["receiverAccountId"] == account]
        return {"resourceShareInvitations": mine}

    def AcceptResourceShareInvitation(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        invitation = self.invitations[p["resourceShareInvitationArn"]]
        invitation["status"] = "ACCEPTED"
        return {"resourceShareInvitation": invitation}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def store(account: str, ram: FakeRam) -> SageMakerStore:
    fake = make_fake(account=account, region=REGION)
    return SageMakerStore(
        client=fake.client,
        ram_client=ram.client(account),
        account=account,
        region=REGION,
    )


def test_share_accept_revoke_through_ram() -> None:
    ram = FakeRam()
    a, b = store(A, ram), store(B, ram)
    shared = a.share(B)
    assert shared.status is ShareStatus.PENDING
    assert shared.lineage_group_arn.endswith(f":{A}:lineage-group/sagemaker-default-lineage-group")
    (resource_share,) = ram.shares.values()
    assert resource_share["name"] == "airflow-lineage-sagemaker-default-lineage-group"
    assert [s.status for s in b.shares()] == [ShareStatus.PENDING]
    # The owner is a party too: shares() lists both sides, as on the SQL store.
    assert [(s.owner, s.consumer, s.status) for s in a.shares()] == [(A, B, ShareStatus.PENDING)]
    assert b.accept(A).status is ShareStatus.ACCEPTED
    assert [(s.owner, s.status) for s in b.shares()] == [(A, ShareStatus.ACCEPTED)]
    assert [(s.consumer, s.status) for s in a.shares()] == [(B, ShareStatus.ACCEPTED)]
    assert a.revoke(B).status is ShareStatus.REVOKED
    assert b.shares() == [] and a.shares() == []
    with pytest.raises(EntityNotFoundError, match="no pending invitation"):
        b.accept(A)
