"""docker/: what can be checked without a Docker engine.

The compose file parses and has the services a team needs; every Airflow service's
environment matches the deployment the tests run for real (tests/deployment/cluster.py):
our ``[ml_lineage]`` options, the ``lineage`` connection logging in as the account's role,
the ``lineage_admin`` connection in airflow-init only, which migrates before any other
service starts. The image is Airflow 3.3.2, the version installed here. On the real
server: the PostgreSQL init script, the store created as its owner through the admin
connection, init_store.py's account roles, each seeing only its own account's lineage.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_lineage import connect
from tests.conftest import require_postgres

from .cluster import (
    ADMIN_CONN,
    BIN,
    LINEAGE_SECTION,
    SERVICES,
    _pg_admin,
    connection_to,
    database_url,
    lineage_connection,
)

pytestmark = pytest.mark.deployment

DOCKER = Path(__file__).resolve().parents[2] / "docker"
AIRFLOW_SERVICES = {f"airflow-{s}" for s in (*SERVICES, "triggerer")}
"""The long-running Airflow services: the deployment's, plus the triggerer."""


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Substitute ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` as compose does."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in env and (env[name] or op != ":-"):
            return env[name]
        if op == ":-":
            return arg or ""
        raise KeyError(f"{name} is required: {arg}")

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", sub, value)


def _init_store() -> Any:
    """Return docker/init_store.py as a module (it is a script, not in a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("docker_init_store", DOCKER / "init_store.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_init_store_refuses_a_malformed_account_list() -> None:
    parse = _init_store().parse_accounts
    assert parse("111111111111=a-b,222222222222=c") == {"111111111111": "a-b", "222222222222": "c"}
    for bad in ("", "111111111111", "111111111111=", "11111=pw", "111111111111=pw,,"):
        with pytest.raises(ValueError, match="LINEAGE_ACCOUNTS"):
            parse(bad)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


def _env_example() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_compose_has_the_team_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "airflow-init", *AIRFLOW_SERVICES}
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        assert service["command"] == name.removeprefix("airflow-")
        # No service (so no task) runs before the migrations have succeeded.
        assert service["depends_on"]["airflow-init"] == {
            "condition": "service_completed_successfully"
        }
        assert service["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:")


def test_airflow_init_migrates_then_provisions_the_accounts(compose: dict[str, Any]) -> None:
    init = compose["services"]["airflow-init"]
    script = [line.strip() for line in init["command"][-1].splitlines() if line.strip()]
    assert script == ["set -e", "airflow db migrate", "python /opt/airflow-lineage/init_store.py"]
    assert "./init_store.py:/opt/airflow-lineage/init_store.py:ro" in init["volumes"]
    assert init["restart"] == "no"


def test_every_airflow_service_has_the_harness_environment(compose: dict[str, Any]) -> None:
    from airflow_lineage.config import OPTIONS

    values = _env_example()
    # The harness's connection: the standard fields, and nothing else (no URL, no extra).
    shape = json.loads(lineage_connection("h", 5432, "d", "lineage_acct_000000000000", "p"))
    for name in {*AIRFLOW_SERVICES, "airflow-init"}:
        raw = compose["services"][name]["environment"]
        env = {k: _interpolate(str(v), values) for k, v in raw.items()}
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        meta = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert meta.startswith("postgresql+psycopg://"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == meta, name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
            f"http://airflow-api-server:{env['AIRFLOW__API__PORT']}/execution/"
        ), name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"]
        # Our options, in the section the harness uses; none left in another section.
        ours = {k for k in env if k.startswith("AIRFLOW__") and k.split("__")[2].lower() in OPTIONS}
        assert ours and all(k.split("__")[1] == LINEAGE_SECTION for k in ours), ours
        assert LINEAGE_SECTION == "ML_LINEAGE"
        # The lineage connection has the harness's shape and logs in as this team's account.
        conn = json.loads(env["AIRFLOW_CONN_LINEAGE_DEFAULT"])
        assert set(conn) == set(shape) and conn["conn_type"] == shape["conn_type"], conn
        assert conn["login"] == f"lineage_acct_{values['LINEAGE_ACCOUNT']}"
        assert conn["password"] == values["LINEAGE_ACCOUNT_PASSWORD"]
        assert (conn["host"], conn["port"], conn["schema"]) == ("postgres", 5432, "lineage")
        # The admin connection (the tables' owner) is airflow-init's alone.
        assert (ADMIN_CONN in env) == (name == "airflow-init"), name
    admin = json.loads(
        _interpolate(compose["services"]["airflow-init"]["environment"][ADMIN_CONN], values)
    )
    assert set(admin) == set(shape) and admin["conn_type"] == shape["conn_type"]
    assert (admin["login"], admin["password"]) == (
        "lineage_owner",
        values["LINEAGE_OWNER_PASSWORD"],
    )
    assert (admin["host"], admin["port"], admin["schema"]) == ("postgres", 5432, "lineage")
    # The account this deployment records as is one that airflow-init provisions.
    accounts = _init_store().parse_accounts(values["LINEAGE_ACCOUNTS"])
    assert accounts[values["LINEAGE_ACCOUNT"]] == values["LINEAGE_ACCOUNT_PASSWORD"]
    # The DAGs folder is the repository's dags/, mounted where Airflow looks.
    mounts = compose["services"]["airflow-scheduler"]["volumes"]
    assert f"../dags:{env['AIRFLOW__CORE__DAGS_FOLDER']}:ro" in mounts
    assert (DOCKER / "../dags/ml_pipeline_local.py").exists()


def test_image_is_the_airflow_version_installed_here() -> None:
    import airflow

    froms = [
        line.split()[1]
        for line in (DOCKER / "Dockerfile").read_text().splitlines()
        if line.startswith("FROM ")
    ]
    assert froms == [f"apache/airflow:{airflow.__version__}"]
    assert airflow.__version__ == "3.3.2"


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client here")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True)
    if version.returncode != 0:
        pytest.skip(f"the docker client has no compose plugin: {version.stderr.strip()}")
    out = subprocess.run(
        [
            docker,
            "compose",
            "-f",
            str(DOCKER / "compose.yaml"),
            "--env-file",
            str(DOCKER / ".env.example"),
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr


@pytest.fixture
def initialised(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Run docker/postgres/init.sql on the real server with names of this test's own."""
    require_postgres()
    if shutil.which("psql") is None:
        pytest.fail("psql (the PostgreSQL client) is needed to run the init script")
    tag = uuid.uuid4().hex[:8]
    accounts = {f"{uuid.uuid4().int % 10**12:012d}": f"pw-{uuid.uuid4().hex[:8]}" for _ in range(2)}
    names = {
        "airflow_db": f"dk_airflow_{tag}",
        "airflow_user": f"dk_airflow_{tag}",
        "airflow_password": "pw-airflow",
        "lineage_db": f"dk_lineage_{tag}",
        "lineage_owner": f"dk_lineage_owner_{tag}",
        "lineage_owner_password": "pw-owner",
    }
    from sqlalchemy.engine import make_url

    from .cluster import PG_URL

    server = make_url(PG_URL)
    cmd = [
        "psql",
        "-X",
        "-q",
        "-h",
        server.host or "127.0.0.1",
        "-p",
        str(server.port or 5432),
        "-U",
        server.username or "postgres",
        "-d",
        "postgres",
    ]
    cmd += [arg for k, v in names.items() for arg in ("-v", f"{k}={v}")]
    try:
        out = subprocess.run(
            [*cmd, "-f", str(DOCKER / "postgres" / "init.sql")],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        yield {"out": out, "names": names, "accounts": accounts, "home": tmp_path}
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{names["airflow_db"]}" WITH (FORCE)')
        _pg_admin(f'DROP DATABASE IF EXISTS "{names["lineage_db"]}" WITH (FORCE)')
        for role in (
            *(f"lineage_acct_{a}" for a in accounts),
            names["airflow_user"],
            names["lineage_owner"],
        ):
            _pg_admin(f'DROP ROLE IF EXISTS "{role}"')


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)


def _airflow_init_env(initialised: dict[str, Any]) -> dict[str, str]:
    """Return airflow-init's lineage environment for the names of ``initialised``."""
    names = initialised["names"]
    owner_url = database_url(
        names["lineage_db"], names["lineage_owner"], names["lineage_owner_password"]
    )
    return {
        "PATH": os.environ.get("PATH", ""),
        "AIRFLOW_HOME": str(initialised["home"]),
        ADMIN_CONN: connection_to(owner_url),
        "LINEAGE_ACCOUNTS": ",".join(f"{a}={pw}" for a, pw in initialised["accounts"].items()),
    }


def _airflow_init(env: dict[str, str]) -> tuple[str, str]:
    """Run what airflow-init runs for the lineage store; return the two commands' output.

    ``airflow-lineage db upgrade`` finds the store as ``airflow db migrate``'s DB manager
    does (``locate(admin=True)``: the admin connection first); the deployment tests run
    ``airflow db migrate`` itself.
    """
    upgraded = _run([str(BIN / "airflow-lineage"), "db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    provisioned = _run([str(BIN / "python"), str(DOCKER / "init_store.py")], env)
    assert provisioned.returncode == 0, provisioned.stderr
    return upgraded.stderr, provisioned.stdout


def _server_version() -> int:
    import psycopg

    from .cluster import PG_URL

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0])


def test_init_sql_then_airflow_init_make_a_store_with_a_role_per_account(
    initialised: dict[str, Any],
) -> None:
    out, names, accounts = initialised["out"], initialised["names"], initialised["accounts"]
    assert out.returncode == 0 and "ERROR" not in out.stderr, out.stderr
    (a, b) = accounts
    lineage = names["lineage_db"]
    # What airflow-init does, with its environment: the store created through the admin
    # connection, then each account's role provisioned by init_store.py.
    env = _airflow_init_env(initialised)
    upgraded, provisioned = _airflow_init(env)
    assert "(the admin connection 'lineage_admin')" in upgraded
    assert f"{names['lineage_owner']}:***@" in upgraded
    assert provisioned.count("account role lineage_acct_") == 2, provisioned
    # Without the admin connection it refuses rather than provision through another login.
    no_admin = _run(
        [str(BIN / "python"), str(DOCKER / "init_store.py")],
        {k: v for k, v in env.items() if k != ADMIN_CONN},
    )
    assert no_admin.returncode == 2 and "no admin connection 'lineage_admin'" in no_admin.stderr
    # Each account logs in as its own role and sees its own lineage only.
    urls = {
        acct: database_url(lineage, f"lineage_acct_{acct}", pw) for acct, pw in accounts.items()
    }
    for account, url in urls.items():
        with connect(url) as store:
            assert store.account == account
            store.create_artifact(f"s3://bucket-{account}/data.csv", "DataSet")
    for account, other in ((a, b), (b, a)):
        with connect(urls[account]) as store:
            uris = {e.source_uri for e in store.list_entities("Artifact").items}
        assert uris == {f"s3://bucket-{account}/data.csv"}, (account, uris)
        assert f"s3://bucket-{other}/data.csv" not in uris
    # Airflow's login cannot even connect to the lineage database.
    import psycopg

    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        psycopg.connect(
            host="127.0.0.1",
            user=names["airflow_user"],
            password=names["airflow_password"],
            dbname=lineage,
            connect_timeout=10,
        ).close()


def test_airflow_init_runs_again_on_the_next_compose_up(initialised: dict[str, Any]) -> None:
    assert initialised["out"].returncode == 0, initialised["out"].stderr
    env = _airflow_init_env(initialised)
    _airflow_init(env)
    upgraded, provisioned = _airflow_init(env)  # the next `docker compose up`
    assert "is current" in upgraded
    assert provisioned.count("account role lineage_acct_") == 2, provisioned
