"""Shared fixtures: a real lineage store on every backend (SQLite, PostgreSQL).

PostgreSQL tests use ``AIRFLOW_LINEAGE_TEST_PG_URL`` (default: the local server's
``test`` database, as a superuser) in a schema of their own. Where no server answers
they are skipped with the reason, unless ``AIRFLOW_LINEAGE_REQUIRE_POSTGRES=1`` (set by
CI) turns the skip into a failure.

Opening a store never creates one: the fixtures create theirs with
:func:`airflow_lineage.store.upgrade`, as ``airflow-lineage db upgrade`` does. On
PostgreSQL they also provision the login role of every account the tests act as
(:data:`TEST_ACCOUNTS`): the superuser of the URL then acts as an account by taking its
role (``SET ROLE``), so row-level security applies to every store the tests open.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

# Airflow reads these at import time; set them before any test imports airflow. Every
# test session gets its own AIRFLOW_HOME, so the embedded store starts empty.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="airflow-lineage-tests-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = os.path.join(_AIRFLOW_HOME, "dags")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.makedirs(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], exist_ok=True)

PG_URL = os.environ.get(
    "AIRFLOW_LINEAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgres"]
TEST_ACCOUNTS = (
    "000000000000",
    "111111111111",
    "111122223333",
    "123456789012",
    "222222222222",
    "333333333333",
)
"""Accounts with a role in every PostgreSQL test store (roles are cluster-wide)."""


@cache
def postgres_unavailable() -> str | None:
    """Return why PostgreSQL cannot be used, or None when it answers."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as e:  # any failure to reach it is a reason to skip
        return f"PostgreSQL at {PG_URL} does not answer: {type(e).__name__}: {e}"
    return None


def require_postgres() -> None:
    """Skip (or, in CI, fail) the calling test when PostgreSQL is unavailable."""
    reason = postgres_unavailable()
    if reason is None:
        return
    if os.environ.get("AIRFLOW_LINEAGE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here: {reason}")
    pytest.skip(reason)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """Yield a PostgreSQL URL whose search_path is a new, empty schema."""
    require_postgres()
    import sqlalchemy as sa

    schema = f"lineage_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def create_store(url: str, accounts: tuple[str, ...] = TEST_ACCOUNTS) -> str:
    """Create an empty store at ``url``; on PostgreSQL give ``accounts`` their roles."""
    from airflow_lineage.store import connect_admin, upgrade

    upgrade(url)
    if not url.startswith("sqlite"):
        with connect_admin(url) as admin:
            for account in accounts:
                admin.provision_account_role(account)  # type: ignore[attr-defined]
    return url


@pytest.fixture
def pg_store_url(pg_schema_url: str) -> str:
    """Return the (superuser) URL of a new, empty PostgreSQL store with account roles."""
    return create_store(pg_schema_url)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of a new, empty store on each backend."""
    if request.param == "sqlite":
        return create_store(f"sqlite:///{tmp_path / 'lineage.db'}")
    return str(request.getfixturevalue("pg_store_url"))


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: Any) -> Any:
    """Create the embedded store that ``lineage_home`` (capture) or ``api_client`` (the
    UI) points at.

    Capture and the UI never create a store (task processes run no DDL); a deployment
    runs ``airflow db migrate``. Those fixtures set the configuration to a fresh store
    per test (module); it is created here once they have. (Those conftest files may
    call ``create_store`` themselves instead.)
    """
    result = yield
    if fixturedef.argname in ("lineage_home", "api_client"):
        from airflow_lineage import config

        for fn in vars(config).values():
            if hasattr(fn, "cache_clear"):
                fn.cache_clear()
        create_store(config.default_store_url())
    return result


@pytest.fixture
def store(store_url: str) -> Iterator[object]:
    """Yield a new, empty lineage store on each backend."""
    from airflow_lineage import connect

    s = connect(store_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def scram_postgres() -> Iterator[str]:
    """Yield the superuser URL of a private PostgreSQL server that checks passwords.

    The shared server trusts every local login, so a wrong password cannot fail there;
    this one (initdb into a temporary folder, a free port, scram-sha-256) can. Skipped
    when PostgreSQL's server binaries are not installed.
    """
    import glob
    import pwd
    import shutil
    import socket
    import subprocess

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not found or not found[-1]:
        pytest.skip("PostgreSQL's server binaries (initdb) are not installed")
    bindir = Path(str(found[-1])).parent
    # Not under pytest's temporary folder: the server's user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="lineage-scram-pg-"))
    data = folder / "data"
    secret = folder / "pw"
    secret.write_text("admin-pw\n")
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run a server as")
        shutil.chown(folder, "postgres")
        shutil.chown(secret, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-U", "admin",
         "--auth=scram-sha-256", f"--pwfile={secret}"],
        check=True, capture_output=True,
    )  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = [*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log")]
    opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder}"
    subprocess.run([*ctl, "-o", opts, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://admin:admin-pw@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], check=False, capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
