"""Cross-account lineage on the SQL store: shares, visibility, what a consumer may change."""

from __future__ import annotations

import json

import pytest

from airflow_lineage import EntityNotFoundError, LineageQuery
from airflow_lineage.exceptions import AccessDeniedError
from airflow_lineage.model import Association, Direction
from airflow_lineage.sharing import LINEAGE_GROUP_ACTIONS, ShareStatus
from airflow_lineage.store.sql import SqlStore

A = "111111111111"  # data engineering: prepares the features
B = "222222222222"  # data science: trains on them
C = "333333333333"  # a third team nobody shares with


def arns(result: object) -> set[str]:
    return {v.arn for v in result.vertices}  # type: ignore[attr-defined]


def test_end_to_end_training_in_b_on_features_shared_by_a(store_url: str) -> None:
    with SqlStore(store_url, account=A) as a, SqlStore(store_url, account=B) as b:
        # Data prep in A: raw data -> prep -> features.
        raw = a.create_artifact("s3://a-lake/raw/churn.csv", "DataSet")
        prep = a.create_action("prep-run-1", "DataPreparation", "airflow://prep/run-1")
        features = a.create_artifact("s3://a-lake/features/churn", "Features")
        a.add_association(raw.arn, prep.arn, "ContributedTo")
        a.add_association(prep.arn, features.arn, "Produced")

        # B cannot see, nor link to, A's features before A shares them.
        train = b.create_action("train-run-1", "Training", "airflow://train/run-1")
        with pytest.raises(EntityNotFoundError) as unknown:
            b.add_association(features.arn, train.arn, "ContributedTo")
        assert (
            str(unknown.value) == f"cannot associate: no lineage entity has the ARN {features.arn}"
        )

        # A shares its lineage group, B accepts (an invitation, as with AWS RAM).
        invitation = a.share(B)
        assert (invitation.owner, invitation.consumer, invitation.status) == (
            A,
            B,
            ShareStatus.PENDING,
        )
        assert b.get_many([features.arn]) == {}  # pending is not shared yet
        assert b.accept(A).status is ShareStatus.ACCEPTED

        # Training in B uses A's shared features; B adds the cross-account edge.
        model = b.create_artifact("s3://b-models/churn/model.tar.gz", "Model")
        b.add_association(features.arn, train.arn, "ContributedTo")
        b.add_association(train.arn, model.arn, "Produced")
        (edge,) = b.list_associations(source_arn=features.arn).items
        assert edge.account == B

        # B's one query from its model returns the whole chain, A's raw data included.
        chain = b.query(
            LineageQuery(start_arns=[model.arn], direction=Direction.ASCENDANTS, include_edges=True)
        )
        assert arns(chain) == {model.arn, train.arn, features.arn, prep.arn, raw.arn}
        assert len(chain.edges) == 4

        # A revokes: B's query stops at B's border; A's lineage is gone from every read.
        assert a.revoke(B).status is ShareStatus.REVOKED
        after = b.query(
            LineageQuery(start_arns=[model.arn], direction=Direction.ASCENDANTS, include_edges=True)
        )
        assert arns(after) == {model.arn, train.arn}
        assert [(e.source_arn, e.destination_arn) for e in after.edges] == [(train.arn, model.arn)]
        assert b.get_many([raw.arn, features.arn]) == {}
        assert b.list_associations(destination_arn=train.arn).items == ()
        with pytest.raises(EntityNotFoundError) as hidden:
            b.query(LineageQuery(start_arns=[features.arn]))
        with pytest.raises(EntityNotFoundError) as missing:
            b.query(LineageQuery(start_arns=[features.arn.replace(A, C)]))
        assert str(hidden.value) == str(missing.value).replace(C, A)  # the same message

        # A still sees its own lineage, and not B's (B never shared with A).
        own = a.query(
            LineageQuery(start_arns=[raw.arn], direction=Direction.DESCENDANTS, include_edges=True)
        )
        assert arns(own) == {raw.arn, prep.arn, features.arn}


def test_a_consumer_never_changes_the_owners_entities(store_url: str) -> None:
    with SqlStore(store_url, account=A) as a, SqlStore(store_url, account=B) as b:
        data = a.create_artifact("s3://a/data", "DataSet", properties={"approved": "true"})
        a.share(B)
        b.accept(A)
        mine = b.create_action("use", "Training", "u")
        forged = data.__class__(**{**_fields(data), "properties": {"approved": "false"}})
        with pytest.raises(AccessDeniedError, match=f"belongs to account {A}"):
            b.write([forged], upsert=True)
        with pytest.raises(AccessDeniedError, match="may not create, change or delete"):
            b.update(data.arn, properties={"approved": "false"})
        with pytest.raises(AccessDeniedError):
            b.delete(data.arn, disassociate=True)
        with pytest.raises(AccessDeniedError, match=f"added by account {A}"):
            b.write(associations=[Association(data.arn, mine.arn, account=A)])
        assert a.get(data.arn).properties == {"approved": "true"}
        # ... but it may describe them and associate them with its own, and undo that.
        assert b.get(data.arn).properties == {"approved": "true"}
        b.add_association(data.arn, mine.arn, "ContributedTo")
        b.delete_association(data.arn, mine.arn)
        assert b.list_associations(source_arn=data.arn).items == ()


def _fields(entity: object) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(entity, f.name) for f in dataclasses.fields(entity)}  # type: ignore[arg-type]


def test_same_as_links_copies_of_one_object_in_two_accounts(store_url: str) -> None:
    with SqlStore(store_url, account=A) as a, SqlStore(store_url, account=B) as b:
        theirs = a.create_artifact("s3://shared/churn.csv", "DataSet")
        ours = b.create_artifact("s3://shared/churn.csv", "DataSet")
        assert theirs.arn.split("/")[-1] == ours.arn.split("/")[-1]  # account-independent id
        a.share(B)
        b.accept(A)
        b.add_association(ours.arn, theirs.arn, "SameAs")
        found = b.query(LineageQuery(start_arns=[ours.arn], direction=Direction.BOTH))
        assert arns(found) == {theirs.arn}


def test_groups_shares_and_policy(store_url: str) -> None:
    with SqlStore(store_url, account=A) as a, SqlStore(store_url, account=B) as b:
        a.create_artifact("s3://a/x", "DataSet")
        b.create_artifact("s3://b/x", "DataSet")
        with SqlStore(store_url, account=C) as c:
            c.create_artifact("s3://c/x", "DataSet")
            c.share(B)  # never accepted
        with pytest.raises(EntityNotFoundError, match="no pending invitation"):
            b.accept(A)
        a.share(B)
        assert [g.account for g in b.lineage_groups()] == [B]
        b.accept(A)
        assert [g.account for g in b.lineage_groups()] == [B, A]
        assert [(s.owner, s.consumer, s.status.value) for s in b.shares()] == [
            (A, B, "Accepted"),
            (C, B, "Pending"),
        ]
        assert [(s.owner, s.consumer) for s in a.shares()] == [(A, B)]
        policy = a.get_lineage_group_policy("sagemaker-default-lineage-group")
        group_arn = f"arn:aws:sagemaker:local:{A}:lineage-group/sagemaker-default-lineage-group"
        assert policy["LineageGroupArn"] == group_arn
        (statement,) = json.loads(policy["ResourcePolicy"])["Statement"]
        assert statement["Action"] == list(LINEAGE_GROUP_ACTIONS)
        assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{B}:root"]}
        assert statement["Resource"] == group_arn
        assert b.get_lineage_group_policy(group_arn)["LineageGroupArn"] == group_arn
        c_group = group_arn.replace(A, C)
        with pytest.raises(EntityNotFoundError):
            b.get_lineage_group_policy(c_group)  # invited, not accepted
        # Re-sharing what was revoked is a new invitation.
        a.revoke(B)
        assert [g.account for g in b.lineage_groups()] == [B]
        assert a.share(B).status is ShareStatus.PENDING
        with pytest.raises(ValueError, match="own account"):
            a.share(A)
        with pytest.raises(EntityNotFoundError):
            a.revoke(C)


def test_listings_counts_and_export_hide_unshared_lineage(store_url: str) -> None:
    with SqlStore(store_url, account=A) as a, SqlStore(store_url, account=B) as b:
        secret = a.create_artifact("s3://a/secret", "DataSet")
        step = a.create_action("a-step", "Processing", "u")
        a.add_association(secret.arn, step.arn, "ContributedTo")
        mine = b.create_artifact("s3://b/data", "DataSet")
        assert [e.arn for e in b.list_entities("Artifact").items] == [mine.arn]
        assert b.list_entities("Action").items == ()
        assert b.list_associations().items == ()
        assert b.associations_among([secret.arn, step.arn]) == []
        assert [getattr(x, "arn", None) for x in b.export()] == [mine.arn]
        page = b.list_entities("Artifact", max_results=1)
        assert page.next_token is None  # A's artifact is not a hidden next page
        with pytest.raises(AccessDeniedError):
            b.delete(secret.arn)
        with pytest.raises(EntityNotFoundError):
            b.delete_association(secret.arn, step.arn)
        # The owner's delete reports only what it can see of edges others added.
        a.share(B)
        b.accept(A)
        b.add_association(secret.arn, mine.arn, "SameAs")
        with pytest.raises(Exception, match=r"1 association.*cannot see"):
            a.delete(secret.arn)


def test_a_page_token_does_not_outlive_a_revocation(store_url: str) -> None:
    from airflow_lineage import InvalidPageTokenError

    with SqlStore(store_url, account=A) as a, SqlStore(store_url, account=B) as b:
        hub = b.create_action("hub", "Training", "u")
        for i in range(4):
            art = a.create_artifact(f"s3://a/{i}", "DataSet")
            if i == 0:
                a.share(B)
                b.accept(A)
            b.add_association(art.arn, hub.arn, "ContributedTo")
        first = b.query(
            LineageQuery(start_arns=[hub.arn], direction=Direction.ASCENDANTS, max_results=2)
        )
        assert len(first.vertices) == 2 and first.next_token
        a.revoke(B)
        with pytest.raises(InvalidPageTokenError, match="changed"):
            b.query(
                LineageQuery(
                    start_arns=[hub.arn],
                    direction=Direction.ASCENDANTS,
                    max_results=2,
                    next_token=first.next_token,
                )
            )


def test_the_boto3_facade_shows_shared_groups_and_their_policy(store_url: str) -> None:
    import json

    from airflow_lineage import connect

    with connect(store_url, account=A) as a, connect(store_url, account=B) as b:
        a.create_artifact("s3://a/data.csv", "DataSet")
        a.share(B)
        b.accept(A)
        policy = a.as_boto3_client().get_lineage_group_policy(
            LineageGroupName="sagemaker-default-lineage-group"
        )
        statement = json.loads(policy["ResourcePolicy"])["Statement"][0]
        assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{B}:root"]}
        assert "sagemaker:QueryLineage" in statement["Action"]
        groups = b.as_boto3_client().list_lineage_groups()["LineageGroupSummaries"]
        assert [g["LineageGroupArn"].split(":")[4] for g in groups] == [A]
