"""PostgreSQL enforces cross-account lineage itself: row-level security per account role.

Each account acts through its role ``lineage_acct_<account>`` (NOLOGIN), granted to a
login role of its own. Raw SQL as one account's role cannot read, change or delete
another account's unshared rows, nor grant itself a share.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_lineage import LineageQuery
from airflow_lineage.model import Direction
from airflow_lineage.store.sql import SqlStore

A = "111111111111"
B = "222222222222"


@pytest.fixture
def cluster(pg_schema_url: str) -> Iterator[dict[str, Any]]:
    """Migrate the schema as its owner; give A and B a role and a login of their own."""
    owner = SqlStore(pg_schema_url)
    logins = {acct: f"lineage_login_{uuid.uuid4().hex[:10]}" for acct in (A, B)}
    engine = sa.create_engine(owner.url)
    with engine.begin() as conn:
        for login in logins.values():
            conn.execute(sa.text(f"CREATE ROLE {login} LOGIN NOINHERIT"))
    for acct, login in logins.items():
        assert owner.provision_account_role(acct, grant_to=login) == f"lineage_acct_{acct}"
    urls = {
        acct: owner.url.replace("//postgres@", f"//{login}@", 1) for acct, login in logins.items()
    }
    try:
        yield {"owner": owner, "urls": urls, "logins": logins}
    finally:
        owner.close()
        with engine.begin() as conn:
            for acct, login in logins.items():
                conn.execute(sa.text(f"REVOKE lineage_acct_{acct} FROM {login}"))
                conn.execute(sa.text(f"DROP ROLE {login}"))
        engine.dispose()


def _raw(url: str, role: str | None) -> sa.Connection:
    engine = sa.create_engine(url)
    conn = engine.connect()
    if role:
        conn.execute(sa.text(f"SET ROLE {role}"))
    return conn


def _populate(cluster: dict[str, Any]) -> dict[str, str]:
    with SqlStore(cluster["urls"][A], account=A, role=True) as a:
        raw = a.create_artifact("s3://a/raw.csv", "DataSet", properties={"approved": "true"})
        prep = a.create_action("a-prep", "DataPreparation", "u")
        a.add_association(raw.arn, prep.arn, "ContributedTo")
    with SqlStore(cluster["urls"][B], account=B, role=True) as b:
        model = b.create_artifact("s3://b/model", "Model")
    return {"raw": raw.arn, "prep": prep.arn, "model": model.arn}


ATTACKS = [
    ("SELECT count(*) FROM lineage_entities WHERE account = :a", "count"),
    ("SELECT count(*) FROM lineage_associations", "count"),
    ("SELECT count(*) FROM lineage_groups WHERE account = :a", "count"),
    ("UPDATE lineage_entities SET properties = '{}' WHERE account = :a", "rowcount"),
    ("DELETE FROM lineage_associations", "rowcount"),
    ("DELETE FROM lineage_entities WHERE account = :a", "rowcount"),
]


def test_an_account_role_cannot_touch_another_accounts_unshared_rows(
    cluster: dict[str, Any],
) -> None:
    arns = _populate(cluster)
    conn = _raw(cluster["urls"][B], f"lineage_acct_{B}")
    try:
        for sql, kind in ATTACKS:
            result = conn.execute(sa.text(sql), {"a": A})
            seen = result.scalar() if kind == "count" else result.rowcount
            assert seen == 0, sql
        conn.commit()
        refused = [
            # creating an entity in A's account
            "INSERT INTO lineage_entities (arn, account, lineage_type, type, source_uri, "
            "properties, created_at, modified_at) VALUES ('arn:aws:sagemaker:local:"
            f"{A}:artifact/{'f' * 32}', '{A}', 'Artifact', 'DataSet', 's3://x', '{{}}', 1, 1)",
            # granting itself A's lineage: a share A never made, or accepting it itself
            "INSERT INTO lineage_shares VALUES "
            f"('{A}', 'sagemaker-default-lineage-group', '{B}', 'local', 'Accepted', 1, 1)",
            "INSERT INTO lineage_shares VALUES "
            f"('{A}', 'sagemaker-default-lineage-group', '{B}', 'local', 'Pending', 1, 1)",
            # an edge between A's entities, recorded as A's
            "INSERT INTO lineage_associations SELECT s.id, d.id, NULL, "
            f"'{A}', 1 FROM lineage_entities s, lineage_entities d",
            # becoming A
            f"SET ROLE lineage_acct_{A}",
        ]
        for sql in refused:
            with pytest.raises(sa.exc.DBAPIError, match=r"row-level security|permission denied"):
                conn.execute(sa.text(sql))
            conn.rollback()
            conn.execute(sa.text(f"SET ROLE lineage_acct_{B}"))
    finally:
        conn.close()
    # A's rows are intact; B's login without its role sees nothing at all.
    with SqlStore(cluster["urls"][A], account=A, role=True) as a:
        assert a.get(arns["raw"]).properties == {"approved": "true"}
        assert len(a.list_associations().items) == 1
    bare = _raw(cluster["urls"][B], None)
    try:
        # (no USAGE on the schema: the table does not even exist for it)
        with pytest.raises(sa.exc.DBAPIError, match=r"permission denied|does not exist"):
            bare.execute(sa.text("SELECT count(*) FROM lineage_entities"))
    finally:
        bare.close()


def test_sharing_opens_reads_only_and_revoking_closes_them(cluster: dict[str, Any]) -> None:
    arns = _populate(cluster)
    with (
        SqlStore(cluster["urls"][A], account=A, role=True) as a,
        SqlStore(cluster["urls"][B], account=B, role=True) as b,
    ):
        a.share(B)
        b.accept(A)
        b.add_association(arns["prep"], arns["model"], "Produced")
        found = b.query(LineageQuery(start_arns=[arns["model"]], direction=Direction.ASCENDANTS))
        assert {v.arn for v in found.vertices} == {arns["raw"], arns["prep"]}
        conn = _raw(cluster["urls"][B], f"lineage_acct_{B}")
        try:
            q = "SELECT count(*) FROM lineage_entities WHERE account = :a"
            assert conn.execute(sa.text(q), {"a": A}).scalar() == 2  # shared: readable
            for sql, _ in ATTACKS[3:]:
                if "associations" in sql:
                    continue
                assert conn.execute(sa.text(sql), {"a": A}).rowcount == 0, sql  # not writable
            conn.commit()
            a.revoke(B)
            assert conn.execute(sa.text(q), {"a": A}).scalar() == 0
            # B cannot undo the revocation itself.
            flip = conn.execute(
                sa.text("UPDATE lineage_shares SET status = 'Accepted' WHERE owner_account = :a"),
                {"a": A},
            )
            assert flip.rowcount == 0
            conn.commit()
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                conn.execute(sa.text("UPDATE lineage_shares SET owner_account = :a"), {"a": B})
            conn.rollback()
        finally:
            conn.close()
        # B's query stops at its border; B's edge to A's entity is invisible to both.
        found = b.query(LineageQuery(start_arns=[arns["model"]], direction=Direction.ASCENDANTS))
        assert found.vertices == ()
        assert a.list_associations().items[0].destination_arn == arns["prep"]
        assert len(a.list_associations().items) == 1


def test_the_library_filter_and_rls_agree_on_a_role_store(cluster: dict[str, Any]) -> None:
    arns = _populate(cluster)
    with SqlStore(cluster["urls"][B], account=B, role=True) as b:
        assert set(b.get_many(list(arns.values()))) == {arns["model"]}
        assert [g.account for g in b.lineage_groups()] == [B]
    with pytest.raises(ValueError, match="acts as account"):
        SqlStore(cluster["urls"][B], account=B, role=f"lineage_acct_{A}")
