"""PostgreSQL enforces accounts itself: an account is the role a session logs in as.

Each account has a login role ``lineage_acct_<account>`` (with a password); row-level
security is forced on every lineage table, so neither another account's login nor the
role that owns the tables can read or write past the policies. Only a superuser or a
BYPASSRLS login gets unrestricted access, through ``connect_admin``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from airflow_lineage import AccessDeniedError, Artifact, LineageQuery, StoreError, connect
from airflow_lineage.model import Direction
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.store import connect_admin, upgrade

A = "111111111111"
B = "222222222222"
TABLES = (
    "lineage_entities", "lineage_associations", "lineage_groups", "lineage_shares",
    "lineage_attestations",
)  # fmt: skip
PASSWORDS = {A: "a-secret-'quoted'", B: "b-secret"}
A_ROWS = {  # what selects A's rows in each table
    "lineage_entities": "account = %(a)s",
    "lineage_associations": "account = %(a)s",
    "lineage_groups": "account = %(a)s",
    "lineage_shares": "owner_account = %(a)s OR consumer_account = %(a)s",
    "lineage_attestations": "account = %(a)s",
}


def login_url(base: str, login: str, password: str | None = None) -> str:
    """Return ``base`` (a superuser URL) logging in as ``login`` instead."""
    return make_url(base).set(username=login, password=password).render_as_string(False)


def _schema(url: str) -> str:
    options = str(make_url(url).query["options"])
    return options.split("search_path=")[1].split()[0]


@pytest.fixture
def cluster(pg_schema_url: str) -> Iterator[dict[str, Any]]:
    """A store created by a non-superuser owner; A and B provisioned as login roles."""
    owner = f"lineage_owner_{uuid.uuid4().hex[:10]}"
    schema = _schema(pg_schema_url)
    engine = sa.create_engine(pg_schema_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {owner} LOGIN NOSUPERUSER NOBYPASSRLS"))
        conn.execute(sa.text(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {owner}"))
    owner_url = login_url(pg_schema_url, owner)
    try:
        assert upgrade(owner_url) == (None, "0007")
        with connect_admin(pg_schema_url) as admin:  # the superuser
            for acct in (A, B):
                role = admin.provision_account_role(acct, password=PASSWORDS[acct])  # type: ignore[attr-defined]
                assert role == f"lineage_acct_{acct}"
        urls = {
            acct: login_url(pg_schema_url, f"lineage_acct_{acct}", PASSWORDS[acct])
            for acct in (A, B)
        }
        yield {"admin": pg_schema_url, "owner": owner, "owner_url": owner_url, "urls": urls}
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {owner} CASCADE"))
            conn.execute(sa.text(f"DROP ROLE {owner}"))
        engine.dispose()


def _raw(url: str) -> psycopg.Connection[Any]:
    """Connect with psycopg itself, as the URL's login (no library in between)."""
    u = make_url(url)
    return psycopg.connect(
        host=u.host,
        port=u.port,
        dbname=u.database,
        user=u.username,
        password=u.password,
        options=str(u.query["options"]),
    )


def _populate(cluster: dict[str, Any]) -> dict[str, str]:
    with connect(cluster["urls"][A]) as a:
        raw = a.create_artifact("s3://a/raw.csv", "DataSet", properties={"approved": "true"})
        prep = a.create_action("a-prep", "DataPreparation", "u")
        a.add_association(raw.arn, prep.arn, "ContributedTo")
        a.write(attestations=[Attestation(prep.arn, '{"payload": ""}', prep.created)])
    with connect(cluster["urls"][B]) as b:
        model = b.create_artifact("s3://b/model", "Model")
    return {"raw": raw.arn, "prep": prep.arn, "model": model.arn}


def test_the_store_acts_as_the_account_of_its_login(cluster: dict[str, Any]) -> None:
    with connect(cluster["urls"][B]) as b:
        assert (b.account, b.login, b.role) == (B, f"lineage_acct_{B}", None)  # type: ignore[attr-defined]
    with connect(cluster["urls"][B], account=B) as b:  # repeating it is fine
        assert b.account == B
    # Claiming another account is refused before anything is read or written.
    claim = rf"role of account {B}; it cannot act as account {A}"
    with pytest.raises(AccessDeniedError, match=claim):
        connect(cluster["urls"][B], account=A)
    with pytest.raises(AccessDeniedError, match=r"connect_admin|BYPASSRLS"):
        connect_admin(cluster["urls"][B])


def test_forced_rls_on_every_table(cluster: dict[str, Any]) -> None:
    with _raw(cluster["admin"]) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "pg_get_userbyid(c.relowner) FROM pg_class c "
            "WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relkind = 'r' AND c.relname LIKE 'lineage_%' AND c.relname <> "
            "'lineage_alembic_version' ORDER BY 1"
        ).fetchall()
    assert rows == [(t, True, True, cluster["owner"]) for t in sorted(TABLES)]


def test_b_reads_none_of_as_rows_in_any_table_with_raw_sql(cluster: dict[str, Any]) -> None:
    arns = _populate(cluster)
    with connect(cluster["urls"][A]) as a:
        a.share("333333333333")  # A has a share row too
    with _raw(cluster["urls"][B]) as conn:
        me, owner_member = conn.execute(
            "SELECT current_user, pg_has_role(current_user, %s, 'MEMBER')", (cluster["owner"],)
        ).fetchone()  # type: ignore[misc]
        assert (me, owner_member) == (f"lineage_acct_{B}", False)  # not the owner, nor in it
        for table, of_a in A_ROWS.items():
            count = f"SELECT count(*) FROM {table} WHERE {of_a}"
            with _raw(cluster["admin"]) as admin:  # they are there...
                assert admin.execute(count, {"a": A}).fetchone() != (0,), table
            assert conn.execute(count, {"a": A}).fetchone() == (0,), table  # ...not for B
        assert conn.execute("SELECT count(*) FROM lineage_entities").fetchone() == (1,)  # B's
        for sql in (
            "UPDATE lineage_entities SET properties = '{}' WHERE account = %s",
            "DELETE FROM lineage_entities WHERE account = %s",
        ):
            assert conn.execute(sql, (A,)).rowcount == 0, sql
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
            # an envelope recorded as A's
            "INSERT INTO lineage_attestations VALUES "
            f"('arn:aws:sagemaker:local:{A}:action/x', '{A}', 1, '{{}}')",
            # an edge recorded as A's
            "INSERT INTO lineage_associations SELECT s.id, s.id, NULL, "
            f"'{A}', 1 FROM lineage_entities s",
            # becoming A, or the owner
            f"SET ROLE lineage_acct_{A}",
            f"SET ROLE {cluster['owner']}",
            # lifting the policies
            "ALTER TABLE lineage_entities NO FORCE ROW LEVEL SECURITY",
        ]
        for sql in refused:
            with pytest.raises(psycopg.Error, match=r"row-level security|permission denied|owner"):
                conn.execute(sql)
            conn.rollback()
    with connect(cluster["urls"][A]) as a:  # A's rows are intact
        assert a.get(arns["raw"]).properties == {"approved": "true"}
        assert len(a.list_associations().items) == 1


def test_what_an_account_sees_cannot_be_widened_by_a_table_of_its_own(
    cluster: dict[str, Any],
) -> None:
    # The read policies ask lineage_visible_accounts(); a temporary lineage_shares that
    # claims A shared with B must not be what it reads.
    _populate(cluster)
    with _raw(cluster["urls"][B]) as conn:
        assert conn.execute("SELECT lineage_visible_accounts()").fetchone() == ([B],)
        conn.execute("CREATE TEMP TABLE lineage_shares (LIKE lineage_shares)")
        conn.execute(
            "INSERT INTO pg_temp.lineage_shares VALUES "
            f"('{A}', 'sagemaker-default-lineage-group', '{B}', 'local', 'Accepted', 1, 1)"
        )
        schema = _schema(cluster["admin"])
        conn.execute("SET search_path = pg_temp, public")  # the temporary table first
        visible = f"SELECT {schema}.lineage_visible_accounts()"
        assert conn.execute(visible).fetchone() == ([B],)
        count = f"SELECT count(*) FROM {schema}.lineage_entities WHERE account = %s"
        assert conn.execute(count, (A,)).fetchone() == (0,)
    with connect(cluster["urls"][A]) as a, connect(cluster["urls"][B]) as b:
        a.share(B)
        b.accept(A)
    with _raw(cluster["urls"][B]) as conn:  # a real, accepted share is seen at once
        (visible,) = conn.execute("SELECT lineage_visible_accounts()").fetchone()  # type: ignore[misc]
        assert sorted(visible) == [A, B]
        assert conn.execute(count, (A,)).fetchone() == (2,)


def test_the_table_owner_is_subject_to_the_policies_too(cluster: dict[str, Any]) -> None:
    _populate(cluster)
    with _raw(cluster["owner_url"]) as conn:
        for table in TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        with pytest.raises(psycopg.Error, match="row-level security"):
            conn.execute(
                "INSERT INTO lineage_groups VALUES (%s, 'sagemaker-default-lineage-group', "
                "'local', 1)",
                (A,),
            )
    # The owner may migrate, but is no account and may not open the store unrestricted.
    with pytest.raises(AccessDeniedError, match=r"does not exist|does not hold"):
        connect(cluster["owner_url"], account="999999999999")
    with pytest.raises(AccessDeniedError, match="BYPASSRLS"):
        connect_admin(cluster["owner_url"])
    with connect_admin(cluster["admin"]) as admin:  # the superuser sees every account
        assert {e.account for e in admin.export() if isinstance(e, Artifact)} == {A, B}


def test_a_capture_with_bs_login_cannot_write_as_a(
    cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_lineage.hooks.lineage import LineageHook

    u = make_url(cluster["admin"])
    conn = {
        "conn_type": "lineage",
        "host": u.host,
        "port": u.port,
        "schema": u.database,
        "login": f"lineage_acct_{B}",
        "password": PASSWORDS[B],
        "extra": {"search_path": _schema(cluster["admin"])},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_B", json.dumps(conn))
    hook = LineageHook("lineage_b")
    assert hook.store_settings()["account"] == B
    with hook.get_conn(timeout=5) as store:
        assert store.account == B
        with pytest.raises(AccessDeniedError, match=f"belongs to account {A}"):
            store.write([Artifact.new("s3://a/forged", "DataSet", account=A)])
        # Even past the library, the database refuses (the store's own engine, as B).
        forged = Artifact.new("s3://a/forged", "DataSet", account=A)
        store.unrestricted = True  # type: ignore[attr-defined]  # simulate a bug above
        with pytest.raises(StoreError, match="row-level security"):
            store.write([forged])
    # A connection naming account A in its extra but logging in as B is refused.
    monkeypatch.setenv(
        "AIRFLOW_CONN_LINEAGE_B", json.dumps({**conn, "extra": {**conn["extra"], "account": A}})
    )
    with pytest.raises(ValueError, match="an account is its login"):
        LineageHook("lineage_b").get_conn()


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"login": None, "password": None}, ValueError, "has no login"),
        ({"extra": {"url": "postgresql://x:pw@h/db"}}, ValueError, "holds a password"),
        ({"login": "lineage_nobody_role"}, StoreError, "lineage_nobody_role"),
    ],
)
def test_connections_that_cannot_act_as_an_account(
    cluster: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    from airflow_lineage.hooks.lineage import LineageHook

    u = make_url(cluster["admin"])
    conn = {
        "conn_type": "lineage",
        "host": u.host,
        "port": u.port,
        "schema": u.database,
        "login": f"lineage_acct_{B}",
        "password": PASSWORDS[B],
        "extra": {"search_path": _schema(cluster["admin"])},
        **change,
    }
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_X", json.dumps(conn))
    with pytest.raises(error, match=match):
        LineageHook("lineage_x").get_conn(timeout=5)


def test_a_login_that_is_no_account_acts_only_through_roles_it_holds(
    cluster: dict[str, Any],
) -> None:
    _populate(cluster)
    plain = f"lineage_login_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(cluster["admin"])
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {plain} LOGIN NOINHERIT"))
    try:
        url = login_url(cluster["admin"], plain)
        with pytest.raises(AccessDeniedError, match=rf"cannot act as account {A}.*does not hold"):
            connect(url, account=A)
        with pytest.raises(AccessDeniedError, match="000000000000"):
            connect(url)  # no account: it would have to hold the default account's role
        with connect_admin(cluster["admin"]) as admin:
            admin.provision_account_role(A, grant_to=plain)  # type: ignore[attr-defined]
        with connect(url, account=A) as a:
            assert (a.account, a.role) == (A, f"lineage_acct_{A}")  # type: ignore[attr-defined]
            assert {e.account for e in a.export() if isinstance(e, Artifact)} == {A}
        with pytest.raises(AccessDeniedError):
            connect(url, account=B)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"REVOKE lineage_acct_{A} FROM {plain}"))
            conn.execute(sa.text(f"DROP ROLE {plain}"))
        engine.dispose()


def test_sharing_opens_reads_only_and_revoking_closes_them(cluster: dict[str, Any]) -> None:
    arns = _populate(cluster)
    with connect(cluster["urls"][A]) as a, connect(cluster["urls"][B]) as b:
        a.share(B)
        b.accept(A)
        b.add_association(arns["prep"], arns["model"], "Produced")
        found = b.query(LineageQuery(start_arns=[arns["model"]], direction=Direction.ASCENDANTS))
        assert {v.arn for v in found.vertices} == {arns["raw"], arns["prep"]}
        with _raw(cluster["urls"][B]) as conn:
            q = "SELECT count(*) FROM lineage_entities WHERE account = %s"
            assert conn.execute(q, (A,)).fetchone()[0] == 2  # shared: readable
            for sql in (
                "UPDATE lineage_entities SET properties = '{}' WHERE account = %s",
                "DELETE FROM lineage_entities WHERE account = %s",
            ):
                assert conn.execute(sql, (A,)).rowcount == 0, sql  # not writable
            conn.commit()
            a.revoke(B)
            assert conn.execute(q, (A,)).fetchone()[0] == 0
            # B cannot undo the revocation itself.
            flip = conn.execute(
                "UPDATE lineage_shares SET status = 'Accepted' WHERE owner_account = %s", (A,)
            )
            assert flip.rowcount == 0
            conn.commit()
            with pytest.raises(psycopg.Error, match="permission denied"):
                conn.execute("UPDATE lineage_shares SET owner_account = %s", (B,))
            conn.rollback()
        found = b.query(LineageQuery(start_arns=[arns["model"]], direction=Direction.ASCENDANTS))
        assert found.vertices == ()
        assert len(a.list_associations().items) == 1


def test_a_walk_into_hidden_lineage_is_flagged_under_forced_rls(cluster: dict[str, Any]) -> None:
    """B's own session cannot see edges to A's lineage; the database's probe still tells
    B's queries that their walk was cut off, and tells nobody anything more."""
    arns = _populate(cluster)
    up = LineageQuery(start_arns=[arns["model"]], direction=Direction.ASCENDANTS)
    with connect(cluster["urls"][A]) as a, connect(cluster["urls"][B]) as b:
        assert not b.query(up).visibility_cut_off  # nothing of A's touches B's model yet
        a.share(B)
        b.accept(A)
        b.add_association(arns["prep"], arns["model"], "Produced")
        seen = b.query(up)
        assert {v.arn for v in seen.vertices} == {arns["raw"], arns["prep"]}
        assert not seen.visibility_cut_off
        a.revoke(B)
        cut = b.query(up)  # the edge B added now leads into lineage B cannot see
        assert cut.vertices == () and cut.visibility_cut_off and cut.cut_off
        # A sees its side whole; the walk from A's raw data reaches nothing of B's.
        down = LineageQuery(start_arns=[arns["raw"]], direction=Direction.DESCENDANTS)
        assert a.query(down).visibility_cut_off  # B's model is past A's prep, hidden from A
    with _raw(cluster["urls"][B]) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM lineage_entities").fetchall()]
        assert conn.execute(
            "SELECT lineage_touches_hidden(%s::bigint[], 'Ascendants')", (ids,)
        ).fetchone()[0]
    with _raw(cluster["admin"]) as conn:  # every id, A's included
        every = [r[0] for r in conn.execute("SELECT id FROM lineage_entities").fetchall()]
        a_only = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM lineage_entities WHERE account = %s", (A,)
            ).fetchall()
        ]
    with _raw(cluster["urls"][B]) as conn:
        # A's ids are ignored: B cannot probe lineage it cannot see.
        probe = "SELECT lineage_touches_hidden(%s::bigint[], %s)"
        for walk in ("Ascendants", "Descendants", "Both"):
            assert conn.execute(probe, (a_only, walk)).fetchone()[0] is False
        with pytest.raises(psycopg.Error, match="unknown walk"):
            conn.execute(probe, (every, "Sideways"))
    with _raw(cluster["owner_url"]) as conn:
        # The owner's own sessions still see nothing, and get no answer from the probe.
        for table in TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        with pytest.raises(psycopg.Error, match="acts as no account"):
            conn.execute("SELECT lineage_touches_hidden(%s::bigint[], 'Both')", (every,))


@pytest.mark.slow
def test_a_wrong_password_is_refused_by_a_server_that_checks_passwords(
    scram_postgres: str,
) -> None:
    upgrade(scram_postgres)
    with connect_admin(scram_postgres) as admin:
        admin.provision_account_role(A, password="right")  # type: ignore[attr-defined]
    with connect(login_url(scram_postgres, f"lineage_acct_{A}", "right")) as a:
        assert a.account == A
    with pytest.raises(StoreError, match="password authentication failed"):
        connect(login_url(scram_postgres, f"lineage_acct_{A}", "wrong"), timeout=5)


def test_a_deployment_migrates_as_the_owner_and_captures_as_the_account(
    cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_lineage import config
    from airflow_lineage.store import current

    u = make_url(cluster["admin"])
    fields = {"conn_type": "lineage", "host": u.host, "port": u.port, "schema": u.database}
    extra = {"extra": {"search_path": _schema(cluster["admin"])}}
    account_b = {**fields, "login": f"lineage_acct_{B}", "password": PASSWORDS[B], **extra}
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(account_b))
    for fn in vars(config).values():
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()
    # B's login reads the revision (db check) but cannot migrate: not the tables' owner.
    assert current() == "0007"
    with pytest.raises(AccessDeniedError, match="BYPASSRLS"):
        connect_admin()
    # The admin connection (the superuser here) is what migrations and --admin use.
    admin = {**fields, "login": u.username, **extra}
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_ADMIN", json.dumps(admin))
    assert upgrade() == ("0007", "0007")
    _populate(cluster)
    with connect() as b, connect_admin() as everyone:
        assert b.account == B
        assert {e.account for e in b.export() if isinstance(e, Artifact)} == {B}
        assert {e.account for e in everyone.export() if isinstance(e, Artifact)} == {A, B}
