"""docker/: what can be checked without a Docker engine.

The compose file parses and has the services a team needs; every Airflow service's
environment matches the deployment the tests run for real (tests/deployment/cluster.py);
the image is Airflow 3.3.2, the version installed here; the PostgreSQL init script runs
on the real server, and the roles it makes see only their own account's lineage.
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
    LINEAGE_SECTION,
    SERVICES,
    _pg_admin,
    database_url,
    lineage_connection,
    prepare_lineage_store,
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
        assert {"postgres", "airflow-init"} <= set(service["depends_on"])
    assert compose["services"]["postgres"]["image"].startswith("postgres:")


def test_every_airflow_service_has_the_harness_environment(compose: dict[str, Any]) -> None:
    from airflow_lineage.config import OPTIONS

    values = _env_example()
    expected_conn = json.loads(lineage_connection("postgresql+psycopg://u:p@h:5432/d"))
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
        # The lineage connection has the harness's shape, and names this team's account.
        conn = json.loads(env["AIRFLOW_CONN_LINEAGE_DEFAULT"])
        assert conn["conn_type"] == expected_conn["conn_type"]
        assert set(expected_conn) <= set(conn)
        assert set(expected_conn.get("extra", {})) <= set(conn.get("extra", {}))
        account = values["LINEAGE_ACCOUNT"]
        assert f"lineage_acct_{account}:" in json.dumps(conn)
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
def initialised() -> Iterator[dict[str, Any]]:
    """Run docker/postgres/init.sql on the real server with names of this test's own."""
    require_postgres()
    if shutil.which("psql") is None:
        pytest.fail("psql (the PostgreSQL client) is needed to run the init script")
    tag = uuid.uuid4().hex[:8]
    accounts = [f"{uuid.uuid4().int % 10**12:012d}" for _ in range(2)]
    names = {
        "airflow_db": f"dk_airflow_{tag}",
        "airflow_user": f"dk_airflow_{tag}",
        "airflow_password": "pw-airflow",
        "lineage_db": f"dk_lineage_{tag}",
        "lineage_owner": f"dk_lineage_owner_{tag}",
        "lineage_owner_password": "pw-owner",
        "accounts": ",".join(f"{a}=pw-{a}" for a in accounts),
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
        yield {"out": out, "names": names, "accounts": accounts}
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{names["airflow_db"]}" WITH (FORCE)')
        _pg_admin(f'DROP DATABASE IF EXISTS "{names["lineage_db"]}" WITH (FORCE)')
        for role in (
            *(f"lineage_acct_{a}" for a in accounts),
            names["airflow_user"],
            names["lineage_owner"],
        ):
            _pg_admin(f'DROP ROLE IF EXISTS "{role}"')


def test_init_sql_makes_the_databases_and_a_role_per_account(
    initialised: dict[str, Any],
) -> None:
    from airflow_lineage.store.sql import SqlStore

    out, names, (a, b) = initialised["out"], initialised["names"], initialised["accounts"]
    assert out.returncode == 0 and "ERROR" not in out.stderr, out.stderr
    # What compose's airflow-init does: migrate as the owner, then grant each account role.
    lineage = database_url(names["lineage_db"])
    owner_url = lineage.replace("//postgres@", f"//{names['lineage_owner']}@", 1)
    prepare_lineage_store(owner_url, {"PATH": os.environ.get("PATH", "")})
    owner = SqlStore(owner_url)
    try:
        for account in (a, b):
            assert owner.provision_account_role(account) == f"lineage_acct_{account}"
    finally:
        owner.close()
    # Each account logs in as its own role and sees its own lineage only.
    for account in (a, b):
        url = lineage.replace("//postgres@", f"//lineage_acct_{account}@", 1)
        with connect(url, account=account) as store:
            store.create_artifact(f"s3://bucket-{account}/data.csv", "DataSet")
    for account, other in ((a, b), (b, a)):
        url = lineage.replace("//postgres@", f"//lineage_acct_{account}@", 1)
        with connect(url, account=account) as store:
            uris = {e.source_uri for e in store.list_entities("Artifact").items}
        assert uris == {f"s3://bucket-{account}/data.csv"}, (account, uris)
        assert f"s3://bucket-{other}/data.csv" not in uris
